"""Deterministic per-request budgets of the JWT check (DESIGN.md §12, issue 16).

``require_access_token`` verifies the signature and claims (pure CPU, ``async def``: no
threadpool hop) and then answers "denied? stale version? family revoked?" with ONE
SQLAlchemy Core statement on an ``AsyncConnection``: no ORM session, no writes. The
aiosqlite count is pinned at what that costs today (cursor, execute, fetch, close, and the
rollback that resets the connection for the pool): a second statement, or an ORM session
with its extra round trips, breaks the pin.
"""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from hot_path import count_aiosqlite_calls, count_statements, count_threadpool_hops

from authcourse import FrozenClock, asgi_client
from clouddocs.db import Database, Tenant, User
from clouddocs.jwt_tokens import KeyRing, TokenService, TokenSettings, new_hs256_key
from clouddocs.refresh_tokens import RefreshTokens
from clouddocs.token_app import require_access_token
from clouddocs.token_revocation import FAMILY_CLAIM, VERSION_CLAIM, deny

#: aiosqlite worker-thread calls for one revocation check, measured with SQLAlchemy 2.1 and
#: aiosqlite: cursor(), execute(), fetchall(), close() for the SELECT, then rollback() when
#: the connection goes back to the pool.
AIOSQLITE_CALLS_PER_CHECK = 5


@pytest.fixture(params=["memory", "file"])
async def guarded(request: Any, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    url = None if request.param == "memory" else f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    db = Database(url) if url else Database()
    await db.create_all()
    async with db.sessions() as session:
        session.add(Tenant(id=1, name="Acme"))
        session.add(User(id=1, tenant_id=1, email="ada@acme.test", display_name="Ada"))
        await session.commit()
        tokens = TokenService(
            KeyRing(new_hs256_key("k")),
            TokenSettings("https://clouddocs.test", "https://api.clouddocs.test"),
            FrozenClock(),
        )
        issued = await RefreshTokens(tokens).start(session, 1)
    app = FastAPI()

    @app.get("/guarded", dependencies=[Depends(require_access_token(tokens, db))])
    async def guarded_route() -> dict[str, bool]:
        return {"ok": True}

    def token() -> str:
        return tokens.issue("1", claims={VERSION_CLAIM: 0, FAMILY_CLAIM: issued.family_id})

    yield {"app": app, "db": db, "tokens": tokens, "token": token}
    await db.dispose()


async def _measure(guarded: dict[str, Any], token: str) -> tuple[int, Any, int, int]:
    async with asgi_client(guarded["app"]) as client:
        await client.get("/guarded", headers={"Authorization": f"Bearer {token}"})  # warm up
        with (
            count_statements(guarded["db"].engine) as sql,
            count_threadpool_hops() as hops,
            count_aiosqlite_calls() as calls,
        ):
            response = await client.get("/guarded", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, sql, hops.count, calls.count


@pytest.mark.anyio
async def test_a_valid_token_costs_one_statement_and_no_write(guarded: dict[str, Any]) -> None:
    status, sql, hops, calls = await _measure(guarded, guarded["token"]())
    assert status == 200
    assert len(sql.statements) == 1, sql.statements
    assert sql.writes == []
    assert hops == 0  # HTTPBearer and the claims check are async def: no threadpool hop
    assert calls == AIOSQLITE_CALLS_PER_CHECK


@pytest.mark.anyio
async def test_a_revoked_token_is_refused_by_the_same_single_statement(
    guarded: dict[str, Any],
) -> None:
    token = guarded["token"]()
    async with guarded["db"].sessions() as session:
        await deny(session, guarded["tokens"].verify(token))
    status, sql, hops, calls = await _measure(guarded, token)
    assert status == 401
    assert len(sql.statements) == 1 and sql.writes == []
    for table in ("denied_tokens", "token_versions", "refresh_families"):
        assert table in sql.statements[0]  # all three questions, one statement
    assert hops == 0 and calls == AIOSQLITE_CALLS_PER_CHECK


@pytest.mark.anyio
@pytest.mark.parametrize("bad", ["not.a.jwt", "no-family"])
async def test_a_token_refused_on_its_own_costs_no_statement(
    guarded: dict[str, Any], bad: str
) -> None:
    token = bad
    if bad == "no-family":
        token = guarded["tokens"].issue("1", claims={VERSION_CLAIM: 0})  # no sid to check
    status, sql, hops, calls = await _measure(guarded, token)
    assert status == 401
    assert sql.statements == [] and hops == 0 and calls == 0


@pytest.mark.anyio
async def test_get_me_on_the_chapter_app_writes_nothing_and_never_hops(tmp_path: Path) -> None:
    from clouddocs.accounts import register_user
    from clouddocs.passwords import TEST_ARGON2, PasswordHasher
    from clouddocs.token_app import TokenAppSettings, create_token_app

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    await db.create_all()
    hasher = PasswordHasher(TEST_ARGON2)
    ada = {"email": "ada@acme.test", "password": "correct horse battery staple"}
    async with db.sessions() as session:
        session.add(Tenant(id=1, name="Acme"))
        await session.commit()
        await register_user(session, tenant_id=1, display_name="Ada", hasher=hasher, **ada)
    tokens = TokenService(
        KeyRing(new_hs256_key("k")),
        TokenSettings("https://clouddocs.test", "https://api.clouddocs.test"),
        FrozenClock(),
    )
    settings = TokenAppSettings(db=db, tokens=tokens, refresh=RefreshTokens(tokens), hasher=hasher)
    try:
        async with asgi_client(create_token_app(settings)) as client:
            access = (await client.post("/auth/login", json=ada)).json()["access_token"]
            bearer = {"Authorization": f"Bearer {access}"}
            await client.get("/me", headers=bearer)
            with count_statements(db.engine) as sql, count_threadpool_hops() as hops:
                response = await client.get("/me", headers=bearer)
        assert response.status_code == 200
        # The revocation check, then the route's own read of the user: no write, no hop.
        assert len(sql.statements) == 2 and sql.writes == [] and hops.count == 0
    finally:
        await db.dispose()
