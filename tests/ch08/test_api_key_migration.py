"""clouddocs.migrations.api_key_or_oauth: keys (chapter 4) and OAuth tokens (chapter 5) side by
side; the credential's shape picks the check, and a bad credential never gets a second one."""


from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import httpx2
import jwt
import pytest
from fastapi import Depends, FastAPI

from authcourse import FrozenClock, asgi_client
from authcourse.idp import IdentityProvider
from clouddocs.apikeys import ApiKeyGuard, issue_api_key
from clouddocs.db import Database, Tenant
from clouddocs.migrations import ApiCaller, api_key_or_oauth, require_api_scope
from clouddocs.resource_server import JwtAccessTokens
from clouddocs.security import Principal, harden

pytestmark = pytest.mark.anyio
IDP, API, SECRET = "https://idp.test", "https://api.clouddocs.test", "partner-secret-0123456789"
INVALID = 'Bearer realm="clouddocs", error="invalid_token", error_description="The access token is not valid."'


@dataclass
class World:
    http: httpx2.AsyncClient
    key: str
    read_key: str
    token: str
    read_token: str
    clock: FrozenClock
    verified: list[str]


async def _token(idp: IdentityProvider, scope: str) -> str:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=idp.app), base_url=IDP) as provider:
        answer = await provider.post("/token", data={"grant_type": "client_credentials", "scope": scope},
                                     auth=("partner", SECRET))
    return str(answer.json()["access_token"])


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock, db = FrozenClock(), Database()
    await db.create_all()
    idp = IdentityProvider(IDP, clock=clock)
    idp.add_resource_server(API, client_id="docs-api", secret="docs-api-secret-0123456789")
    idp.add_client("partner", secret=SECRET, grant_types=["client_credentials"], scope="docs:read docs:write",
                   default_resource=API)
    async with db.sessions() as session:
        session.add(Tenant(id=1, name="Acme"))
        await session.commit()
        key = (await issue_api_key(session, tenant_id=1, name="k", scopes=["docs:write"], clock=clock)).plaintext
        read_key = (await issue_api_key(session, tenant_id=1, name="r", scopes=["docs:read"], clock=clock)).plaintext
    verifier = JwtAccessTokens(issuer=IDP, audience=API, jwks=jwt.PyJWKSet.from_dict(idp.jwks), clock=clock)
    verified: list[str] = []

    async def verify(token: str) -> Principal | None:
        verified.append(token)
        return await verifier.verify(token)

    caller = api_key_or_oauth(ApiKeyGuard(db, clock), verify)
    app = FastAPI()

    @app.get("/documents")
    async def read(who: Annotated[ApiCaller, Depends(caller)]) -> dict[str, object]:
        return {"subject": who.subject, "method": who.method, "tenant": who.key.tenant_id if who.key else None}

    @app.post("/documents")
    async def write(who: Annotated[ApiCaller, Depends(require_api_scope("docs:write", caller))]) -> dict[str, str]:
        return {"by": who.subject}

    async with asgi_client(harden(app)) as http:
        yield World(http, key, read_key, await _token(idp, "docs:read docs:write"), await _token(idp, "docs:read"),
                    clock, verified)
    await db.dispose()


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def test_a_key_and_a_token_both_get_in_and_say_which_method(world: World) -> None:
    by_key = await world.http.get("/documents", headers=bearer(world.key))
    assert by_key.status_code == 200 and by_key.json()["method"] == "api_key" and by_key.json()["tenant"] == 1
    assert by_key.json()["subject"].startswith("key:")
    by_token = await world.http.get("/documents", headers=bearer(world.token))
    assert by_token.json() == {"subject": "partner", "method": "oauth", "tenant": None}


async def test_neither_is_a_401_with_one_bearer_challenge(world: World) -> None:
    response = await world.http.get("/documents")
    assert (response.status_code, response.json()) == (401, {"detail": "Not authenticated"})
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="clouddocs"'


async def test_a_bad_key_is_refused_by_the_key_check_only(world: World) -> None:
    response = await world.http.get("/documents", headers=bearer(world.key[:-1] + ("A" if world.key[-1] != "A" else "B")))
    assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, INVALID)
    assert world.verified == []  # never handed to the OAuth verifier


async def test_a_bad_token_is_a_401(world: World) -> None:
    for bad in ["not.a.jwt", world.token[:-3] + "abc", "x" * 5000]:
        response = await world.http.get("/documents", headers=bearer(bad))
        assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, INVALID)
    assert "x" * 5000 not in world.verified  # too long: refused before any parsing


async def test_an_expired_token_is_a_401(world: World) -> None:
    world.clock.advance(minutes=11)
    response = await world.http.get("/documents", headers=bearer(world.token))
    assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, INVALID)


async def test_missing_scope_is_a_403_for_either_credential(world: World) -> None:
    for credential in (world.read_key, world.read_token):
        response = await world.http.post("/documents", headers=bearer(credential))
        assert (response.status_code, response.json()) == (403, {"detail": "insufficient scope"})
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
        assert 'scope="docs:write"' in response.headers["WWW-Authenticate"]
    assert (await world.http.post("/documents", headers=bearer(world.key))).status_code == 200
    assert (await world.http.post("/documents", headers=bearer(world.token))).status_code == 200


async def test_a_credential_in_the_url_is_a_400_for_either_kind(world: World) -> None:
    for name, value in [("api_key", world.key), ("access_token", world.token)]:
        response = await world.http.get("/documents", params={name: value})
        assert response.status_code == 400, name
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="clouddocs", error="invalid_request"'
