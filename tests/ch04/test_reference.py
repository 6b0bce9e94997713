"""Regression tests for the chapter 4 reference code (``clouddocs.apikeys``, ``clouddocs.webhooks``).

One test per finding of the chapter review, each exercising the real app in-process, plus
the behaviours the review pinned down (tolerance window in both directions).
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from service_urls import database_url
from sqlalchemy import func, select

from authcourse import FrozenClock, asgi_client
from clouddocs.apikeys import (
    ApiKey,
    ApiKeyGuard,
    IssuedKey,
    KeyLimiter,
    KeyPrincipal,
    api_keys_router,
    issue_api_key,
)
from clouddocs.db import Database, Tenant


@dataclass
class World:
    db: Database
    clock: FrozenClock
    app: FastAPI
    manager: IssuedKey  # keys:manage + docs:read only
    powerful: IssuedKey  # docs:read + docs:write + docs:share, same tenant

    def bearer(self, issued: IssuedKey) -> dict[str, str]:
        return {"Authorization": f"Bearer {issued.plaintext}"}

    async def key_count(self) -> int:
        async with self.db.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(ApiKey)) or 0)


@asynccontextmanager
async def _world(limiter: KeyLimiter | None = None) -> AsyncIterator[World]:
    async with database_url("sqlite+aiosqlite:///:memory:") as url:
        clock, db = FrozenClock(), Database(url)
        await db.create_all()
        async with db.sessions() as session:
            tenant = Tenant(name="Acme")
            session.add(tenant)
            await session.commit()
            manager = await issue_api_key(
                session, tenant_id=tenant.id, name="m", scopes=["keys:manage", "docs:read"], clock=clock
            )
            powerful = await issue_api_key(
                session,
                tenant_id=tenant.id,
                name="p",
                scopes=["docs:read", "docs:write", "docs:share"],
                clock=clock,
            )
        guard = ApiKeyGuard(db, clock, limiter=limiter)
        app = FastAPI()
        app.include_router(api_keys_router(guard))

        @app.get("/documents")
        async def documents(
            key: Annotated[KeyPrincipal, Depends(guard.require("docs:read"))],
        ) -> dict[str, int]:
            return {"key_id": key.key_id}

        try:
            yield World(db, clock, app, manager, powerful)
        finally:
            await db.dispose()


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


# Finding: a manager could rotate a more powerful key and receive its successor's plaintext.
def test_a_manager_cannot_rotate_a_key_with_scopes_it_lacks() -> None:
    async def scenario() -> None:
        async with _world() as world, asgi_client(world.app) as client:
            before = await world.key_count()
            response = await client.post(
                f"/api-keys/{world.powerful.record.id}/rotate", headers=world.bearer(world.manager)
            )
            assert response.status_code == 403, response.text
            assert "docs:share docs:write" in response.json()["detail"]
            assert "api_key" not in response.json()
            assert await world.key_count() == before  # no successor was issued
            own = await client.post(
                f"/api-keys/{world.manager.record.id}/rotate", headers=world.bearer(world.manager)
            )
            assert own.status_code == 201  # rotating a key within the caller's scopes still works

    _run(scenario)


# Finding: an id beyond 64 bits reached SQLite and crashed with OverflowError (a 500); one
# beyond 32 bits would reach PostgreSQL's INTEGER column the same way.
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api-keys/{}/rotate"), ("DELETE", "/api-keys/{}")],
)
def test_an_out_of_range_key_id_is_a_4xx_not_a_crash(method: str, path: str) -> None:
    async def scenario() -> None:
        async with _world() as world, asgi_client(world.app) as client:
            for key_id in ("99999999999999999999999", str(2**63), str(2**31), "0", "-1"):
                response = await client.request(
                    method, path.format(key_id), headers=world.bearer(world.manager)
                )
                assert response.status_code == 422, (key_id, response.status_code)

    _run(scenario)


# Finding: a key sent as a bare query parameter name (``?cdk_live_…``) was accepted.
def test_a_key_as_a_query_parameter_name_is_refused() -> None:
    async def scenario() -> None:
        async with _world() as world, asgi_client(world.app) as client:
            key = world.powerful.plaintext
            response = await client.get(f"/documents?{key}", headers=world.bearer(world.powerful))
            assert response.status_code == 400
            assert 'error="invalid_request"' in response.headers["www-authenticate"]

    _run(scenario)


# Finding: a key name with control characters was stored (NUL is a 500 on PostgreSQL, a
# newline forges log lines), and a scope of any length reached the scope check.
@pytest.mark.parametrize(
    "body",
    [
        {"name": "x\x00y", "scopes": ["docs:read"]},
        {"name": "line\nforged: admin", "scopes": ["docs:read"]},
        {"name": "x", "scopes": ["A" * 100_000]},
    ],
    ids=["nul", "newline", "huge-scope"],
)
def test_malformed_key_requests_are_refused_and_store_nothing(body: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with _world() as world, asgi_client(world.app) as client:
            before = await world.key_count()
            response = await client.post(
                "/api-keys", json=body, headers=world.bearer(world.manager)
            )
            assert response.status_code == 422
            assert await world.key_count() == before

    _run(scenario)
