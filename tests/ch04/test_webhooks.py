"""Regression tests for ``clouddocs.webhooks`` (issue 15): replay memory in the database,
unique delivery ids, SSRF-safe delivery (OWASP API7:2023), 400 for signed non-JSON bodies.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI, Response
from service_urls import database_url
from sqlalchemy import func, select

from authcourse import FrozenClock, asgi_client
from clouddocs.db import Database
from clouddocs.webhooks import (
    SIGNATURE_HEADER,
    ReceivedDelivery,
    UnsafeWebhookURL,
    WebhookSignatureError,
    WebhookVerifier,
    compute_signature,
    create_webhook_receiver,
    deliver_webhook,
    new_delivery_id,
    pinned_target,
    signature_header,
)

pytestmark = pytest.mark.anyio

SECRET = "whsec_test-secret-for-the-webhook-tests"
URL = "https://hooks.example.test/hooks/clouddocs"
PUBLIC = "93.184.215.14"


@asynccontextmanager
async def database(tmp_path: Path, name: str = "receiver.db") -> AsyncIterator[Database]:
    async with database_url(f"sqlite+aiosqlite:///{tmp_path}/{name}") as url:
        db = Database(url)
        await db.create_all()
        try:
            yield db
        finally:
            await db.dispose()


def header(body: bytes, clock: FrozenClock, delivery_id: str | None = None) -> str:
    return signature_header(SECRET, body, clock, delivery_id or new_delivery_id())


async def public_dns(host: str, port: int) -> list[str]:
    return [PUBLIC]


# Finding: replay memory was per process: a restart accepted a replay inside the window.
async def test_a_replay_is_refused_by_a_new_verifier_on_the_same_database(tmp_path: Path) -> None:
    clock = FrozenClock()
    async with database(tmp_path) as db:
        body = b'{"type":"credit.granted"}'
        signed = header(body, clock)
        await WebhookVerifier([SECRET], db, clock=clock).verify(signed, body)
        restarted = WebhookVerifier([SECRET], db, clock=clock)
        with pytest.raises(WebhookSignatureError, match="replay"):
            await restarted.verify(signed, body)


# Finding: two genuine identical events in one second collided.
async def test_two_identical_events_in_one_second_are_two_deliveries(tmp_path: Path) -> None:
    clock = FrozenClock()
    async with database(tmp_path) as db:
        verifier = WebhookVerifier([SECRET], db, clock=clock)
        body = b'{"type":"document.shared","document_id":42}'
        first = await verifier.verify(header(body, clock), body)
        second = await verifier.verify(header(body, clock), body)
        assert first != second


async def test_concurrent_copies_of_one_delivery_are_accepted_once(tmp_path: Path) -> None:
    clock = FrozenClock()
    async with database(tmp_path) as db:
        body = b'{"type":"credit.granted"}'
        signed = header(body, clock)
        verifiers = [WebhookVerifier([SECRET], db, clock=clock) for _ in range(4)]
        outcomes = await asyncio.gather(
            *(verifier.verify(signed, body) for verifier in verifiers), return_exceptions=True
        )
        accepted = [outcome for outcome in outcomes if isinstance(outcome, str)]
        refused = [outcome for outcome in outcomes if isinstance(outcome, WebhookSignatureError)]
        assert len(accepted) == 1 and len(refused) == 3


async def test_the_delivery_id_is_signed(tmp_path: Path) -> None:
    clock = FrozenClock()
    async with database(tmp_path) as db:
        verifier = WebhookVerifier([SECRET], db, clock=clock)
        body = b"{}"
        signed = header(body, clock)
        swapped = signed.replace(signed.split(",")[1], f"id={new_delivery_id()}")
        with pytest.raises(WebhookSignatureError, match="no valid signature"):
            await verifier.verify(swapped, body)


async def test_the_replay_table_keeps_only_the_window(tmp_path: Path) -> None:
    clock = FrozenClock()
    async with database(tmp_path) as db:
        verifier = WebhookVerifier([SECRET], db, clock=clock)
        for number in range(40):
            body = f'{{"n":{number}}}'.encode()
            await verifier.verify(header(body, clock), body)
            clock.advance(seconds=30)
        async with db.sessions() as session:
            kept = await session.scalar(select(func.count()).select_from(ReceivedDelivery))
        assert kept is not None and kept <= 11  # 300 s window / 30 s apart, plus the newest


async def test_a_replay_stripped_to_another_secrets_signature_is_refused(tmp_path: Path) -> None:
    clock = FrozenClock()
    old, new = "whsec_old-secret-for-the-test", "whsec_new-secret-for-the-test"
    async with database(tmp_path) as db:
        verifier = WebhookVerifier([old, new], db, clock=clock)
        body = b'{"type":"credit.granted","credits":500}'
        t, delivery = int(clock.time()), new_delivery_id()
        sig_old = compute_signature(old, t, delivery, body)
        sig_new = compute_signature(new, t, delivery, body)
        await verifier.verify(f"t={t},id={delivery},v1={sig_old},v1={sig_new}", body)
        with pytest.raises(WebhookSignatureError, match="replay"):
            await verifier.verify(f"t={t},id={delivery},v1={sig_new}", body)


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-300, True), (-301, False), (300, True), (301, False)]
)
async def test_the_tolerance_window_applies_both_ways(
    tmp_path: Path, offset: int, accepted: bool
) -> None:
    clock = FrozenClock()
    async with database(tmp_path) as db:
        verifier = WebhookVerifier([SECRET], db, clock=clock)
        t, delivery = int(clock.time()) + offset, new_delivery_id()
        signed = f"t={t},id={delivery},v1={compute_signature(SECRET, t, delivery, b'{}')}"
        if accepted:
            await verifier.verify(signed, b"{}")
        else:
            with pytest.raises(WebhookSignatureError, match="window"):
                await verifier.verify(signed, b"{}")


# Fuzz finding: the receiver answered 500 to a correctly signed body that was empty or not JSON.
@pytest.mark.parametrize("body", [b"", b"not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"null"])
async def test_a_signed_body_that_is_not_a_json_object_is_a_400(
    tmp_path: Path, body: bytes
) -> None:
    clock = FrozenClock()
    received: list[dict[str, Any]] = []

    async def handle(delivery_id: str, event: dict[str, Any]) -> None:
        received.append(event)

    async with database(tmp_path) as db:
        app = create_webhook_receiver(WebhookVerifier([SECRET], db, clock=clock), handle)
        async with asgi_client(app) as client:
            response = await client.post(
                "/hooks/clouddocs", content=body, headers={SIGNATURE_HEADER: header(body, clock)}
            )
            good = b'{"type":"ok"}'
            accepted = await client.post(
                "/hooks/clouddocs", content=good, headers={SIGNATURE_HEADER: header(good, clock)}
            )
    assert response.status_code == 400
    assert accepted.status_code == 200 and received == [{"type": "ok"}]


# Finding: deliver_webhook posted to any URL (OWASP API7:2023, SSRF).
@pytest.mark.parametrize(
    ("url", "addresses", "reason"),
    [
        ("http://hooks.example.test/x", [PUBLIC], "https"),
        ("https://user:pw@hooks.example.test/x", [PUBLIC], "credentials"),
        ("https://hooks.example.test/x", ["127.0.0.1"], "loopback"),
        ("https://hooks.example.test/x", ["::1"], "loopback"),
        ("https://hooks.example.test/x", ["10.1.2.3"], "private"),
        ("https://hooks.example.test/x", ["192.168.0.10"], "private"),
        ("https://hooks.example.test/x", ["169.254.10.10"], "link-local"),
        ("https://hooks.example.test/x", ["169.254.169.254"], "metadata"),
        ("https://hooks.example.test/x", ["fd00:ec2::254"], "metadata"),
        ("https://hooks.example.test/x", ["100.100.100.200"], "metadata"),
        ("https://hooks.example.test/x", ["::ffff:10.0.0.1"], "private"),
        ("https://hooks.example.test/x", [PUBLIC, "127.0.0.1"], "loopback"),
        ("https://hooks.example.test/x", [], "does not resolve"),
        ("https://127.0.0.1/x", [], "loopback"),
        ("https://[::ffff:169.254.169.254]/x", [], "metadata"),
        ("https://0.0.0.0/x", [], "address"),
    ],
)
async def test_unsafe_webhook_urls_are_refused_before_anything_is_sent(
    url: str, addresses: list[str], reason: str
) -> None:
    sent: list[httpx2.Request] = []

    def record(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(200)

    async def resolve(host: str, port: int) -> list[str]:
        return addresses

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(record)) as client:
        with pytest.raises(UnsafeWebhookURL, match=reason):
            await deliver_webhook(
                client, url, secret=SECRET, event={}, clock=FrozenClock(), resolve=resolve
            )
    assert sent == []


async def test_the_host_is_resolved_once_and_the_checked_address_is_called() -> None:
    sent: list[httpx2.Request] = []
    lookups: list[tuple[str, int]] = []

    def record(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(200)

    async def resolve(host: str, port: int) -> list[str]:
        lookups.append((host, port))
        return [PUBLIC]  # a rebinding DNS server would answer 127.0.0.1 the second time

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(record)) as client:
        await deliver_webhook(
            client, URL, secret=SECRET, event={"a": 1}, clock=FrozenClock(), resolve=resolve
        )
    assert lookups == [("hooks.example.test", 443)]
    (request,) = sent
    assert request.url.host == PUBLIC and request.url.scheme == "https"
    assert request.headers["host"] == "hooks.example.test"
    assert request.extensions["sni_hostname"] == "hooks.example.test"
    assert json.loads(request.content) == {"a": 1}


async def test_a_redirect_is_never_followed() -> None:
    redirecting = FastAPI()

    @redirecting.post("/hooks/clouddocs")
    async def bounce() -> Response:
        return Response(status_code=302, headers={"Location": "https://169.254.169.254/"})

    async with asgi_client(redirecting) as client:
        response = await deliver_webhook(
            client, URL, secret=SECRET, event={}, clock=FrozenClock(), resolve=public_dns
        )
    assert response.status_code == 302
    assert response.history == [] and response.request.url.host == PUBLIC


async def test_a_public_address_is_accepted() -> None:
    target, host = await pinned_target("https://hooks.example.test:8443/x?y=1", public_dns)
    assert str(target) == f"https://{PUBLIC}:8443/x?y=1" and host == "hooks.example.test:8443"
