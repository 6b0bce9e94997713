# Generated from notebooks/04_api_keys.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Signed outbound webhooks: CloudDocs signs each delivery, the receiver verifies it.

Header: ``CloudDocs-Signature: t=<unix seconds>,id=<delivery id>,v1=<hex HMAC-SHA256>`` over
``"<t>.<id>.<body>"``. The timestamp and the id are inside the MAC; the receiver refuses
timestamps outside a tolerance window and records accepted ids in its database, so a captured
delivery cannot be played again, even after a restart or on another worker.
"""

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from clouddocs.clock import Clock

SIGNATURE_HEADER = "CloudDocs-Signature"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE = timedelta(minutes=5)
MAX_HEADER_LENGTH = 1024
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")
DELIVERY_ID = re.compile(r"dlv_[A-Za-z0-9_-]{22}")


def generate_webhook_secret() -> str:
    """A per-endpoint signing secret: 256 bits from ``secrets``."""
    return "whsec_" + secrets.token_urlsafe(32)


def new_delivery_id() -> str:
    """A unique id per delivery: 128 bits from ``secrets``, so two deliveries never share one."""
    return "dlv_" + secrets.token_urlsafe(16)


def compute_signature(secret: str, timestamp: int, delivery_id: str, body: bytes) -> str:
    """HMAC-SHA256 over ``"<timestamp>.<delivery id>.<body>"``, hex."""
    message = f"{timestamp}.{delivery_id}.".encode("ascii") + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, clock: Clock, delivery_id: str) -> str:
    """The ``CloudDocs-Signature`` value for ``body`` sent now as ``delivery_id``."""
    timestamp = int(clock.time())
    signature = compute_signature(secret, timestamp, delivery_id, body)
    return f"t={timestamp},id={delivery_id},{SIGNATURE_SCHEME}={signature}"


import asyncio
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, Mapping

import httpx2

#: ``(host, port) -> addresses``; the default asks the operating system's resolver.
Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Cloud metadata services: never a webhook target (AWS/GCP/Azure, AWS IPv6, ECS, Alibaba).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200")
)


class UnsafeWebhookURL(ValueError):
    """A webhook URL CloudDocs refuses to call; the message says why."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def shown(address: IPAddress) -> str:
    """The address as text, an IPv4-mapped one as ::ffff:a.b.c.d (Python 3.13 alone would
    print ::ffff:7f00:1), so a refusal reads the same on every supported Python."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be called, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal_reason(address.ipv4_mapped)  # ::ffff:127.0.0.1 is 127.0.0.1
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for reason, flagged in (
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a private address", address.is_private),
        ("a multicast address", address.is_multicast),
        ("a reserved or unspecified address", address.is_reserved or address.is_unspecified),
    ):
        if flagged:
            return reason
    return None if address.is_global else "not a public address"


async def pinned_target(url: str, resolve: Resolver) -> tuple[httpx2.URL, str]:
    """Check ``url`` and resolve its host once: (URL aimed at the checked address, Host value)."""
    try:
        parsed = httpx2.URL(url)
    except httpx2.InvalidURL:
        raise UnsafeWebhookURL("not a URL") from None
    if parsed.scheme != "https" or not parsed.host:
        raise UnsafeWebhookURL("webhook URLs must be https://host/…")
    if parsed.userinfo:
        raise UnsafeWebhookURL("webhook URLs must not carry credentials")
    host, port = parsed.host, parsed.port or 443
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = await resolve(host, port)
    if not addresses:
        raise UnsafeWebhookURL(f"{host} does not resolve")
    for address in addresses:  # every one: the client may use any of them
        reason = refusal_reason(ipaddress.ip_address(address))
        if reason is not None:
            raise UnsafeWebhookURL(f"{host} resolves to {shown(ipaddress.ip_address(address))}, {reason}")
    host_header = host if parsed.port is None else f"{host}:{parsed.port}"
    return parsed.copy_with(host=addresses[0]), host_header


async def deliver_webhook(
    client: httpx2.AsyncClient,
    url: str,
    *,
    secret: str,
    event: Mapping[str, object],
    clock: Clock,
    resolve: Resolver = system_resolver,
    delivery_id: str | None = None,
) -> httpx2.Response:
    """POST ``event`` as JSON to ``url``, signed, to the address checked; redirects not followed.

    Raises UnsafeWebhookURL before sending anything when the URL or its addresses are refused.
    """
    target, host = await pinned_target(url, resolve)
    body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode("utf-8")
    headers = {
        "Host": host,
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header(secret, body, clock, delivery_id or new_delivery_id()),
    }
    # sni_hostname: TLS names (and verifies the certificate of) the host, not the address.
    return await client.post(
        target,
        content=body,
        headers=headers,
        follow_redirects=False,
        extensions={"sni_hostname": host.partition(":")[0]},
    )


from collections.abc import Sequence

from sqlalchemy import BigInteger, String, delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.clock import SystemClock
from clouddocs.db import Base, Database


class WebhookSignatureError(ValueError):
    """A delivery that must not be processed; the message says why (safe to log)."""


class ReceivedDelivery(Base):
    """A delivery id the receiver accepted, kept until the window refuses its timestamp anyway."""

    __tablename__ = "webhook_deliveries"

    delivery_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    forget_after: Mapped[int] = mapped_column(BigInteger, index=True)  # unix seconds


def parse_signature_header(header: str | None) -> tuple[int, str, list[str]]:
    """``(timestamp, delivery id, [v1 signatures])``, or WebhookSignatureError if malformed."""
    if not header or len(header) > MAX_HEADER_LENGTH:
        raise WebhookSignatureError("missing or oversized signature header")
    timestamp: int | None = None
    delivery_id: str | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and _TIMESTAMP.fullmatch(value):
            timestamp = int(value)
        elif name == "id" and DELIVERY_ID.fullmatch(value):
            delivery_id = value
        elif name == SIGNATURE_SCHEME and _HEX_SIGNATURE.fullmatch(value):
            signatures.append(value)
    if timestamp is None or delivery_id is None or not signatures:
        raise WebhookSignatureError("malformed signature header")
    return timestamp, delivery_id, signatures


class WebhookVerifier:
    """The receiving side: accepts a delivery once, if signed recently with a known secret.

    Several secrets may be valid at once, so a receiver can rotate its signing secret
    without dropping deliveries. Accepted delivery ids live in ``db`` (table
    ``webhook_deliveries``), shared by every process that uses the same database.
    """

    def __init__(
        self,
        signing_secrets: Sequence[str],
        db: Database,
        *,
        clock: Clock | None = None,
        tolerance: timedelta = DEFAULT_TOLERANCE,
    ) -> None:
        if not signing_secrets:
            raise ValueError("a verifier needs at least one signing secret")
        self.secrets = list(signing_secrets)
        self.db = db
        self.clock: Clock = clock or SystemClock()
        self.tolerance = tolerance

    async def verify(self, header: str | None, body: bytes) -> str:
        """The delivery id of a genuine, fresh, first-time delivery; raise otherwise."""
        timestamp, delivery_id, candidates = parse_signature_header(header)
        now = self.clock.time()
        window = self.tolerance.total_seconds()
        # Both ways: a timestamp from the future is as suspect as one from the past.
        if abs(now - timestamp) > window:
            raise WebhookSignatureError("timestamp outside the tolerance window")
        if not self._signed_by_a_known_secret(timestamp, delivery_id, body, candidates):
            raise WebhookSignatureError("no valid signature")
        # Kept until the window refuses this timestamp anyway: the last moment it is accepted.
        await self._record_first_time(delivery_id, forget_after=timestamp + int(window), now=now)
        return delivery_id

    async def _record_first_time(self, delivery_id: str, *, forget_after: int, now: float) -> None:
        try:
            async with self.db.engine.begin() as connection:
                await connection.execute(
                    # int(): the column is an integer (PostgreSQL drivers refuse a float).
                    delete(ReceivedDelivery).where(ReceivedDelivery.forget_after < int(now))
                )
                await connection.execute(
                    insert(ReceivedDelivery).values(
                        delivery_id=delivery_id, forget_after=forget_after
                    )
                )
        except IntegrityError:  # the primary key: this id was accepted before
            raise WebhookSignatureError("this delivery was already received (replay)") from None

    def _signed_by_a_known_secret(
        self, timestamp: int, delivery_id: str, body: bytes, candidates: list[str]
    ) -> bool:
        for secret in self.secrets:
            expected = compute_signature(secret, timestamp, delivery_id, body)
            for candidate in candidates:
                # Constant-time: how long this takes must not reveal how much of it matched.
                if hmac.compare_digest(expected, candidate):
                    return True
        return False


from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status

from clouddocs.security import harden

#: What the receiving app does with each verified event (store it, queue it, …).
EventHandler = Callable[[str, dict[str, Any]], Awaitable[None]]
_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {"description": "Unsigned, forged, stale, replayed or malformed delivery"}
}


def create_webhook_receiver(verifier: WebhookVerifier, handle: EventHandler) -> FastAPI:
    """An integrator's receiver: ``POST /hooks/clouddocs`` accepts verified JSON objects."""
    receiver = harden(FastAPI(title="Integrator's webhook receiver"))

    async def verified_body(request: Request) -> tuple[str, bytes]:
        body = await request.body()  # the exact bytes that were signed
        try:
            delivery_id = await verifier.verify(request.headers.get(SIGNATURE_HEADER), body)
        except WebhookSignatureError as error:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"webhook refused: {error}") from None
        return delivery_id, body

    @receiver.post("/hooks/clouddocs", responses=_REFUSED)
    async def clouddocs_event(
        delivery: Annotated[tuple[str, bytes], Depends(verified_body)],
    ) -> dict[str, str]:
        delivery_id, body = delivery
        try:
            event = json.loads(body)
        except ValueError:  # empty, not UTF-8 or not JSON: signed, but still not an event
            event = None
        if not isinstance(event, dict):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "the event must be a JSON object")
        await handle(delivery_id, event)
        return {"status": "accepted"}

    return receiver
