"""Per-request budgets of chapter 2's session check (issue 16, DESIGN.md §12), deterministic.

The check every authenticated request makes must cost one SQL statement, write nothing
between its once-a-minute touches, never hop to the thread pool, and make a pinned number
of aiosqlite thread round trips (the pool's reset on return included). Timings belong to
``make bench``. The app runs on a file-backed SQLite database: each request gets its own
connection, as in production (the in-memory database shares one connection).
"""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hot_path import count_aiosqlite_calls, count_statements, count_threadpool_hops
from sqlalchemy import select

from authcourse import FrozenClock, asgi_client
from clouddocs.accounts import register_user
from clouddocs.db import Database, Document, Tenant
from clouddocs.passwords import TEST_ARGON2, PasswordHasher
from clouddocs.session_app import SessionAppSettings, create_session_app
from clouddocs.sessions import SESSION_COOKIE, SessionManager

ORIGIN = {"Origin": "https://clouddocs.test"}
ADA = {"email": "ada@example.com", "password": "correct horse battery staple"}

#: Measured after the change (the ORM AsyncSession version made 6): the SELECT's
#: cursor, execute, fetch and close, plus the pool's rollback on return. A second statement,
#: a transaction round trip or an ORM session would raise it.
AIOSQLITE_CALLS_PER_CHECK = 5


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Database, Any, FrozenClock]]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'budgets.db'}")
    await database.create_all()
    async with database.sessions() as db:
        db.add(Tenant(id=1, name="Acme"))
        await db.commit()
        await register_user(
            db, tenant_id=1, display_name="Ada", hasher=PasswordHasher(TEST_ARGON2), **ADA
        )
    clock = FrozenClock()
    app = create_session_app(
        SessionAppSettings(database=database, hasher=PasswordHasher(TEST_ARGON2), clock=clock)
    )
    yield database, app, clock
    await database.dispose()


async def _check(sessions: Any, session_id: str) -> None:
    current = await sessions.resolve(session_id)
    assert current is not None


@pytest.mark.anyio
async def test_the_session_check_is_one_statement_and_writes_nothing(
    world: tuple[Database, Any, FrozenClock],
) -> None:
    database, app, clock = world
    async with asgi_client(app, headers=ORIGIN) as browser:
        assert (await browser.post("/login", json=ADA)).status_code == 200
        session_id = browser.cookies[SESSION_COOKIE]
        clock.advance(seconds=10)  # inside the touch interval
        with count_statements(database.engine) as sql, count_aiosqlite_calls() as calls:
            await _check(SessionManager(database, clock=clock), session_id)
        assert len(sql.statements) == 1, sql.statements
        assert sql.writes == []
        assert calls.count == AIOSQLITE_CALLS_PER_CHECK


@pytest.mark.anyio
async def test_the_only_write_is_the_once_a_minute_touch(
    world: tuple[Database, Any, FrozenClock],
) -> None:
    database, app, clock = world
    async with asgi_client(app, headers=ORIGIN) as browser:
        await browser.post("/login", json=ADA)
        sessions = SessionManager(database, clock=clock)
        session_id = browser.cookies[SESSION_COOKIE]
        writes = []
        for _ in range(12):  # two minutes of a request every 10 seconds
            clock.advance(seconds=10)
            with count_statements(database.engine) as sql:
                await _check(sessions, session_id)
            writes.append(len(sql.writes))
    assert writes == [0] * 5 + [1] + [0] * 5 + [1]


@pytest.mark.anyio
async def test_a_protected_request_makes_no_threadpool_hop(
    world: tuple[Database, Any, FrozenClock],
) -> None:
    database, app, clock = world
    async with asgi_client(app, headers=ORIGIN) as browser:
        await browser.post("/login", json=ADA)
        clock.advance(seconds=5)
        with count_threadpool_hops() as hops, count_statements(database.engine) as sql:
            response = await browser.get("/session")
    assert response.status_code == 200
    assert hops.count == 0
    assert len(sql.statements) == 1  # /session itself reads nothing more than the check


@pytest.mark.anyio
async def test_a_session_check_cannot_roll_back_another_requests_work(
    world: tuple[Database, Any, FrozenClock],
) -> None:
    # On a file (or PostgreSQL) each checkout is its own connection, so the check's
    # connection going back to the pool (a rollback) touches nothing else in flight.
    database, app, clock = world
    async with asgi_client(app, headers=ORIGIN) as browser:
        await browser.post("/login", json=ADA)
        session_id = browser.cookies[SESSION_COOKIE]
    async with database.sessions() as other_request:
        other_request.add(Document(tenant_id=1, owner_id=1, title="in flight"))
        await other_request.flush()  # written, not yet committed
        await _check(SessionManager(database, clock=clock), session_id)
        await other_request.commit()
    async with database.sessions() as db:
        titles = (await db.scalars(select(Document.title))).all()
    assert titles == ["in flight"]
