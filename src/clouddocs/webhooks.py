# Generated from notebooks/04_api_keys.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Signed outbound webhooks: CloudDocs signs each delivery, the receiver verifies it.

Header: ``CloudDocs-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.
The timestamp is inside the MAC, so it cannot be altered; the receiver refuses timestamps
outside a tolerance window and remembers the deliveries it accepted within that window,
so a captured delivery cannot be played again.
"""

import hashlib
import heapq
import hmac
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import timedelta

import httpx2

from clouddocs.clock import Clock, SystemClock

SIGNATURE_HEADER = "CloudDocs-Signature"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE = timedelta(minutes=5)
MAX_HEADER_LENGTH = 1024
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def generate_webhook_secret() -> str:
    """A per-endpoint signing secret: 256 bits from ``secrets``."""
    return "whsec_" + secrets.token_urlsafe(32)


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over ``"<timestamp>.<body>"``, hex."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, clock: Clock) -> str:
    """The ``CloudDocs-Signature`` value for ``body`` sent now."""
    timestamp = int(clock.time())
    return f"t={timestamp},{SIGNATURE_SCHEME}={compute_signature(secret, timestamp, body)}"


async def deliver_webhook(
    client: httpx2.AsyncClient,
    url: str,
    *,
    secret: str,
    event: Mapping[str, object],
    clock: Clock,
) -> httpx2.Response:
    """POST ``event`` as JSON to ``url``, signed. The exact bytes signed are the bytes sent."""
    body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header(secret, body, clock),
    }
    return await client.post(url, content=body, headers=headers)


class WebhookSignatureError(ValueError):
    """A delivery that must not be processed; the message says why (safe to log)."""


def parse_signature_header(header: str | None) -> tuple[int, list[str]]:
    """``(timestamp, [v1 signatures])`` from a header, or WebhookSignatureError if malformed."""
    if not header or len(header) > MAX_HEADER_LENGTH:
        raise WebhookSignatureError("missing or oversized signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and _TIMESTAMP.fullmatch(value):
            timestamp = int(value)
        elif name == SIGNATURE_SCHEME and _HEX_SIGNATURE.fullmatch(value):
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookSignatureError("malformed signature header")
    return timestamp, signatures


def delivery_fingerprint(timestamp: int, body: bytes) -> str:
    """What identifies a delivery for replay detection: SHA-256 of ``"<timestamp>.<body>"``.

    Not the signature: while a secret is being rotated a delivery carries one ``v1`` per
    secret, and a replay stripped down to the other ``v1`` would look like a new delivery.
    """
    return hashlib.sha256(str(timestamp).encode("ascii") + b"." + body).hexdigest()


class SeenDeliveries:
    """Deliveries already accepted, each kept only until its timestamp leaves the window.

    A replay outside the window is refused by the timestamp check, so memory stays bounded
    by the deliveries of one window (only genuine ones are added: forgeries never get here).
    One process only: several receivers share the same idea through a common store
    (e.g. Redis ``SET <fingerprint> 1 NX EX 600``).
    """

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}
        self._queue: list[tuple[float, str]] = []

    def add_if_new(self, fingerprint: str, *, forget_after: float, now: float) -> bool:
        """Remember ``fingerprint``; False if it was already there (a replay)."""
        while self._queue and self._queue[0][0] < now:
            _, old = heapq.heappop(self._queue)
            self._expiry.pop(old, None)
        if fingerprint in self._expiry:
            return False
        self._expiry[fingerprint] = forget_after
        heapq.heappush(self._queue, (forget_after, fingerprint))
        return True

    def __len__(self) -> int:
        return len(self._expiry)


class WebhookVerifier:
    """The receiving side: accepts a delivery once, if signed recently with a known secret.

    Several secrets may be valid at once, so a receiver can rotate its signing secret
    without dropping deliveries.
    """

    def __init__(
        self,
        signing_secrets: Sequence[str],
        *,
        clock: Clock | None = None,
        tolerance: timedelta = DEFAULT_TOLERANCE,
        seen: SeenDeliveries | None = None,
    ) -> None:
        if not signing_secrets:
            raise ValueError("a verifier needs at least one signing secret")
        self.secrets = list(signing_secrets)
        self.clock: Clock = clock or SystemClock()
        self.tolerance = tolerance
        self.seen = seen if seen is not None else SeenDeliveries()

    def verify(self, header: str | None, body: bytes) -> None:
        """Return quietly for a genuine, fresh, first-time delivery; raise otherwise."""
        timestamp, candidates = parse_signature_header(header)
        now = self.clock.time()
        window = self.tolerance.total_seconds()
        # Both ways: a timestamp from the future is as suspect as one from the past
        # (the window only allows for clock skew between sender and receiver).
        if abs(now - timestamp) > window:
            raise WebhookSignatureError("timestamp outside the tolerance window")
        if not self._signed_by_a_known_secret(timestamp, body, candidates):
            raise WebhookSignatureError("no valid signature")
        fingerprint = delivery_fingerprint(timestamp, body)
        # Remembered until the window refuses this timestamp anyway: now may be up to
        # `window` before or after it, so the last moment it is accepted is timestamp + window.
        if not self.seen.add_if_new(fingerprint, forget_after=timestamp + window, now=now):
            raise WebhookSignatureError("this delivery was already received (replay)")

    def _signed_by_a_known_secret(self, timestamp: int, body: bytes, candidates: list[str]) -> bool:
        for secret in self.secrets:
            expected = compute_signature(secret, timestamp, body)
            for candidate in candidates:
                # Constant-time: how long this takes must not reveal how much of it matched.
                if hmac.compare_digest(expected, candidate):
                    return True
        return False
