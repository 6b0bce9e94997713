"""clouddocs.patterns.api_platform_app: API keys and OAuth tokens on one API, per-caller
limits, signed webhooks. Each refusal separately, with its exact status, body and headers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx2
import pytest

from authcourse import asgi_client
from authcourse.audit.targets.patterns import AuditedPattern, build_api_platform
from clouddocs.apikeys import issue_api_key
from clouddocs.db import Database
from clouddocs.patterns import api_platform_app
from clouddocs.webhooks import SIGNATURE_HEADER, WebhookVerifier, create_webhook_receiver

pytestmark = pytest.mark.anyio
REALM = 'Bearer realm="clouddocs"'
INVALID = 'Bearer realm="clouddocs", error="invalid_token", error_description="The access token is not valid."'


@dataclass
class Platform:
    built: AuditedPattern
    http: httpx2.AsyncClient

    async def key(self, *scopes: str, tenant_id: int = 1) -> str:
        async with self.built.world["db"].sessions() as session:
            issued = await issue_api_key(session, tenant_id=tenant_id, name="test", scopes=list(scopes),
                                         clock=self.built.clock)
        return str(issued.plaintext)

    async def token(self, client_id: str = "partner-acme", scope: str = "docs:read docs:write") -> str:
        return str(await self.built.world["oauth_token"](client_id, scope))

    async def get(self, credential: str | None, path: str = "/documents") -> httpx2.Response:
        headers = {"Authorization": f"Bearer {credential}"} if credential is not None else {}
        return await self.http.get(path, headers=headers)


async def _platform(**rates: str) -> AsyncIterator[Platform]:
    built = build_api_platform(**rates)
    async with asgi_client(built.app, base_url="https://api.clouddocs.test") as http:
        yield Platform(built, http)


@pytest.fixture
async def platform() -> AsyncIterator[Platform]:
    async for value in _platform():
        yield value


async def test_a_key_and_an_oauth_token_both_read_documents_of_their_tenant(platform: Platform) -> None:
    by_key = await platform.get(await platform.key("docs:read", tenant_id=2))
    assert by_key.status_code == 200
    assert by_key.json() == {"tenant_id": 2, "method": "api_key", "documents": ["Q1 plan", "Onboarding guide"]}
    by_token = await platform.get(await platform.token())
    assert by_token.status_code == 200
    assert by_token.json()["tenant_id"] == 1 and by_token.json()["method"] == "oauth"
    assert by_token.headers["X-RateLimit-Limit"] == "600"  # the token's own limit


async def test_no_credential_is_a_401_with_a_bare_challenge(platform: Platform) -> None:
    response = await platform.get(None)
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["WWW-Authenticate"] == REALM
    assert response.headers["Cache-Control"] == "no-store"


async def test_an_unknown_key_is_a_401_and_never_tried_as_an_oauth_token(platform: Platform) -> None:
    seen: list[str] = []
    settings = platform.built.world["settings"]

    async def counting(token: str) -> Any:
        seen.append(token)
        return await settings.oauth(token)

    app = api_platform_app(replace(settings, oauth=counting))  # same database, counting verifier
    async with asgi_client(app, base_url="https://api.clouddocs.test") as http:
        response = await http.get("/documents", headers={"Authorization": "Bearer cdk_live_" + "A" * 28})
        assert response.status_code == 401
        assert response.json() == {"detail": "Not authenticated"}
        assert response.headers["WWW-Authenticate"] == INVALID
        assert seen == []  # a key-shaped credential goes to the key check only
        token = await platform.token()
        assert (await http.get("/documents", headers={"Authorization": f"Bearer {token}"})).status_code == 200
        assert seen == [token]  # the counting verifier is the one in use


async def test_a_forged_jwt_is_a_401(platform: Platform) -> None:
    token = await platform.token()
    head, body, signature = token.split(".")
    forged = f"{head}.{body}.{signature[:-4]}AAAA"
    response = await platform.get(forged)
    assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, INVALID)
    assert response.json() == {"detail": "Not authenticated"}


async def test_an_expired_token_is_a_401(platform: Platform) -> None:
    token = await platform.token()
    platform.built.clock.advance(minutes=11)  # the provider's tokens live 10 minutes
    response = await platform.get(token)
    assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, INVALID)


async def test_a_token_without_the_scope_is_a_403_insufficient_scope(platform: Platform) -> None:
    response = await platform.http.post(
        "/documents", json={"title": "Plan"},
        headers={"Authorization": f"Bearer {await platform.token(scope='docs:read')}"})
    assert response.status_code == 403
    assert response.json() == {"detail": "insufficient scope"}
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="clouddocs", error="insufficient_scope", '
        'error_description="The token lacks a scope this request needs.", scope="docs:write"')


async def test_a_key_without_the_scope_is_a_403_insufficient_scope(platform: Platform) -> None:
    key = await platform.key("docs:read")
    response = await platform.http.post("/documents", json={"title": "Plan"}, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403
    assert response.json() == {"detail": "insufficient scope"}
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert 'scope="docs:write"' in response.headers["WWW-Authenticate"]


async def test_a_token_whose_subject_is_not_linked_is_a_403(platform: Platform) -> None:
    response = await platform.get(await platform.token("partner-unlinked"))
    assert response.status_code == 403
    assert response.json() == {"detail": "this token's subject has no CloudDocs account"}


async def test_a_credential_in_the_url_is_a_400(platform: Platform) -> None:
    token = await platform.token()
    response = await platform.http.get("/documents", params={"access_token": token})
    assert response.status_code == 400
    assert "never in the URL" in response.json()["detail"]
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="clouddocs", error="invalid_request"'


async def test_each_token_has_its_own_limit() -> None:
    async for platform in _platform(oauth_rate="3/minute"):
        token = await platform.token()
        answers = [(await platform.get(token)).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        refused = await platform.get(token)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        other = await platform.get(await platform.token("partner-globex"))
        assert other.status_code == 200  # another caller is not starved


async def test_each_key_has_its_own_limit() -> None:
    async for platform in _platform(key_rate="3/minute"):
        key = await platform.key("docs:read")
        answers = [(await platform.get(key)).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        assert (await platform.get(await platform.key("docs:read"))).status_code == 200


async def _register(platform: Platform, url: str, credential: str) -> httpx2.Response:
    return await platform.http.post("/webhooks", json={"url": url}, headers={"Authorization": f"Bearer {credential}"})


async def test_registered_webhooks_receive_signed_events_the_receiver_verifies(platform: Platform) -> None:
    admin = await platform.key("keys:manage", "docs:read", "docs:write")
    registered = await _register(platform, "https://hooks.acme.test/hooks/clouddocs", admin)
    assert registered.status_code == 201 and registered.headers["Cache-Control"] == "no-store"
    secret = registered.json()["secret"]
    received: list[dict[str, Any]] = []

    async def handle(delivery_id: str, event: dict[str, Any]) -> None:
        received.append(event)

    receiver_db = Database()
    await receiver_db.create_all()
    verifier = WebhookVerifier([secret], receiver_db, clock=platform.built.clock)
    platform.built.world["receivers"]["hooks.acme.test"] = create_webhook_receiver(verifier, handle)
    created = await platform.http.post("/documents", json={"title": "Q3 plan"},
                                       headers={"Authorization": f"Bearer {await platform.token()}"})
    assert created.status_code == 201
    assert created.json()["webhooks"] == {"delivered": 1, "failed": 0}
    assert received == [{"type": "document.created", "title": "Q3 plan"}]
    delivery = platform.built.world["deliveries"][-1]
    assert delivery.headers[SIGNATURE_HEADER].count("v1=") == 1
    await receiver_db.dispose()


async def test_a_receiver_with_another_secret_refuses_and_the_delivery_counts_as_failed(platform: Platform) -> None:
    admin = await platform.key("keys:manage")
    assert (await _register(platform, "https://hooks.acme.test/hooks/clouddocs", admin)).status_code == 201
    receiver_db = Database()
    await receiver_db.create_all()
    verifier = WebhookVerifier(["whsec_someone-else"], receiver_db, clock=platform.built.clock)

    async def handle(delivery_id: str, event: dict[str, Any]) -> None:
        raise AssertionError("a forged delivery was handled")

    platform.built.world["receivers"]["hooks.acme.test"] = create_webhook_receiver(verifier, handle)
    created = await platform.http.post("/documents", json={"title": "x"},
                                       headers={"Authorization": f"Bearer {await platform.token()}"})
    assert created.json()["webhooks"] == {"delivered": 0, "failed": 1}
    await receiver_db.dispose()


async def test_events_go_only_to_the_callers_tenant(platform: Platform) -> None:
    acme_admin = await platform.key("keys:manage")
    assert (await _register(platform, "https://hooks.acme.test/x", acme_admin)).status_code == 201
    created = await platform.http.post("/documents", json={"title": "x"},
                                       headers={"Authorization": f"Bearer {await platform.token('partner-globex')}"})
    assert created.json()["webhooks"] == {"delivered": 0, "failed": 0}
    assert platform.built.world["deliveries"] == []


@pytest.mark.parametrize(("url", "reason"), [
    ("http://hooks.acme.test/x", "webhook URLs must be https://host/…"),
    ("https://internal.acme.test/x", "internal.acme.test resolves to 10.0.0.7, a private address"),
    ("https://169.254.169.254/latest", "169.254.169.254 resolves to 169.254.169.254, a cloud metadata address"),
    ("https://user:pw@hooks.acme.test/x", "webhook URLs must not carry credentials"),
])
async def test_unsafe_webhook_urls_are_a_422_naming_why(platform: Platform, url: str, reason: str) -> None:
    response = await _register(platform, url, await platform.key("keys:manage"))
    assert response.status_code == 422
    assert response.json() == {"detail": f"webhook URL refused: {reason}"}


async def test_registering_a_webhook_needs_keys_manage(platform: Platform) -> None:
    response = await _register(platform, "https://hooks.acme.test/x", await platform.key("docs:read"))
    assert response.status_code == 403
    assert 'scope="keys:manage"' in response.headers["WWW-Authenticate"]
    assert json.loads(response.text) == {"detail": "insufficient scope"}
