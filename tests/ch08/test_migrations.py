"""clouddocs.migrations.session_or_jwt: both credentials accepted, a bad token never falls back."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI

from authcourse import FrozenClock, asgi_client
from authcourse.bench.apps import access_token_at_login
from clouddocs.db import Database, Tenant, User
from clouddocs.jwt_tokens import KeyRing, TokenService, TokenSettings, new_hs256_key
from clouddocs.migrations import Caller, session_or_jwt
from clouddocs.security import harden
from clouddocs.sessions import SessionManager
from clouddocs.token_revocation import deny


@dataclass
class World:
    app: FastAPI
    cookie: dict[str, str]
    token: str
    tokens: TokenService
    db: Database


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FrozenClock()
    db = Database()
    await db.create_all()
    async with db.sessions() as s:
        s.add(Tenant(id=1, name="Acme"))
        s.add(User(id=7, tenant_id=1, email="ada@acme.test", display_name="Ada"))
        await s.commit()
    sessions = SessionManager(db, clock=clock)
    tokens = TokenService(KeyRing(new_hs256_key("u1")), TokenSettings("https://clouddocs.test", "api"), clock=clock)
    async with db.sessions() as s:
        session_id = await sessions.start(s, 7)
    app = FastAPI()

    @app.get("/me")
    async def me(caller: Annotated[Caller, Depends(session_or_jwt(sessions, tokens, db))]) -> dict[str, str]:
        return {"user_id": caller.user_id, "via": caller.method}

    token = await access_token_at_login(tokens, db, user_id=7)
    yield World(harden(app), {"Cookie": f"{sessions.cookie_name}={session_id}"}, token, tokens, db)
    await db.dispose()


@pytest.mark.anyio
async def test_both_methods_and_the_refusals(world: World) -> None:
    bearer = {"Authorization": f"Bearer {world.token}"}
    async with asgi_client(world.app) as http:
        by_cookie = await http.get("/me", headers=world.cookie)
        by_token = await http.get("/me", headers=bearer)
        bad_token_good_cookie = await http.get("/me", headers={"Authorization": "Bearer x.y.z", **world.cookie})
        garbage_cookie = await http.get("/me", headers={"Cookie": "__Host-session=nope"})
        nothing = await http.get("/me")
    assert by_cookie.json() == {"user_id": "7", "via": "session"}
    assert by_token.json() == {"user_id": "7", "via": "jwt"}
    assert bad_token_good_cookie.status_code == 401  # no fallback past a bad token
    assert garbage_cookie.status_code == 401
    assert nothing.status_code == 401
    challenge = nothing.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'Cookie realm="clouddocs"' in challenge


@pytest.mark.anyio
async def test_a_revoked_token_is_refused_even_with_a_cookie(world: World) -> None:
    claims = world.tokens.verify(world.token)
    async with world.db.sessions() as s:
        await deny(s, claims)
        await s.commit()
    async with asgi_client(world.app) as http:
        response = await http.get("/me", headers={"Authorization": f"Bearer {world.token}", **world.cookie})
    assert response.status_code == 401


@pytest.mark.anyio
async def test_backfill_roles_is_idempotent_and_never_demotes() -> None:
    from sqlalchemy import insert, select

    from clouddocs.migrations import backfill_roles, legacy_flags, legacy_metadata
    from clouddocs.rbac import Membership

    db = Database()
    await db.create_all()
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(legacy_metadata.create_all)
            await connection.execute(insert(Tenant.__table__), [{"id": 1, "name": "A"}, {"id": 2, "name": "B"}])
            await connection.execute(insert(User.__table__), [
                {"id": n, "tenant_id": 1 + n % 2, "email": f"u{n}@x.test", "display_name": "u"} for n in range(1, 5)])
            await connection.execute(insert(legacy_flags), [
                {"user_id": n, "tenant_id": 1 + n % 2, "is_admin": n == 2} for n in range(1, 5)])
            await connection.execute(insert(Membership.__table__), [{"tenant_id": 1, "user_id": 4, "role": "viewer"}])
        async with db.engine.begin() as connection:
            assert await backfill_roles(connection) == 3
            assert await backfill_roles(connection) == 0
            rows = (await connection.execute(
                select(Membership.tenant_id, Membership.user_id, Membership.role).order_by(Membership.user_id))).all()
        assert rows == [(2, 1, "member"), (1, 2, "admin"), (2, 3, "member"), (1, 4, "viewer")]
    finally:
        await db.dispose()
