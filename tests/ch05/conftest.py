"""Chapter 5's world for the reference-code tests: a provider, the API, the clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from authcourse.client import asgi_client
from authcourse.clock import FrozenClock
from authcourse.idp import IdentityProvider
from clouddocs.bff import BffSettings, create_bff_app, create_tables
from clouddocs.resource_server import JwtAccessTokens, create_docs_api, fetch_jwks

IDP = "https://idp.test"
API = "https://api.clouddocs.test"
WEB = "https://clouddocs.test"
CALLBACK = WEB + "/auth/callback"
PASSWORD = "correct horse battery staple"
WEB_SECRET = "web-secret-0123456789"
SYNC_SECRET = "sync-secret-0123456789"
API_SECRET = "docs-api-secret-0123456789"
LEGACY_SECRET = "legacy-secret-0123456789"


@dataclass
class World:
    clock: FrozenClock
    idp: IdentityProvider
    alice_subject: str


def make_world() -> World:
    # Authlib checks ID tokens against the wall clock: start the frozen clock "now".
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    idp = IdentityProvider(issuer=IDP, clock=clock)
    alice = idp.add_user("alice", PASSWORD, email="alice@example.com", email_verified=True)
    idp.add_user("mallory", "mallory's own long password")
    idp.add_resource_server(API, client_id="docs-api", secret=API_SECRET)
    idp.add_client("clouddocs-web", secret=WEB_SECRET, redirect_uris=[CALLBACK],
                   scope="openid docs:read docs:write", resources=[API], default_resource=API)
    idp.add_client("sync-service", secret=SYNC_SECRET, grant_types=["client_credentials"],
                   scope="docs:read", default_resource=API)
    idp.add_client("sync-opaque", secret=SYNC_SECRET, grant_types=["client_credentials"],
                   scope="docs:read", default_resource=API, opaque_access_tokens=True)
    idp.add_client("legacy-web", secret=LEGACY_SECRET, redirect_uris=[CALLBACK],
                   scope="openid docs:read", default_resource=API, pkce_required=False,
                   insecure_demo=True)
    return World(clock, idp, alice.subject)


@pytest.fixture
def world() -> World:
    return make_world()


async def jwt_verifier(world: World) -> JwtAccessTokens:
    async with asgi_client(world.idp.app, base_url=IDP) as provider:
        keys = await fetch_jwks(provider, IDP + "/jwks")
    return JwtAccessTokens(issuer=IDP, audience=API, jwks=keys, clock=world.clock)


async def client_credentials_token(world: World, client_id: str = "sync-service") -> str:
    async with asgi_client(world.idp.app, base_url=IDP) as provider:
        answer = await provider.post("/token", data={"grant_type": "client_credentials"},
                                     auth=(client_id, SYNC_SECRET))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


class CountingTransport(httpx2.AsyncBaseTransport):
    """Forwards to an app in-process and counts requests by path."""

    def __init__(self, app: object) -> None:
        self._inner = httpx2.ASGITransport(app=app)  # type: ignore[arg-type]
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.paths.append(request.url.path)
        return await self._inner.handle_async_request(request)


@dataclass
class Bff:
    app: object
    engine: AsyncEngine
    idp_transport: CountingTransport


@pytest.fixture
async def bff(world: World, tmp_path: Path) -> AsyncIterator[Bff]:
    """The BFF over a file-backed SQLite database, talking to the JWT API."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/bff.db")
    await create_tables(engine)
    api = create_docs_api((await jwt_verifier(world)).verify)
    transport = CountingTransport(world.idp.app)
    app = create_bff_app(BffSettings(
        issuer=IDP, client_id="clouddocs-web", client_secret=WEB_SECRET, redirect_uri=CALLBACK,
        api_base_url=API, state_secret="s" * 40, engine=engine, idp_transport=transport,
        api_transport=httpx2.ASGITransport(app=api), clock=world.clock,
    ))
    try:
        yield Bff(app, engine, transport)
    finally:
        await engine.dispose()
