"""Deterministic per-request budgets of the API-key check (DESIGN.md §12, issue 16).

What does not vary from run to run is pinned: one SQL statement per check, no write except
the once-a-minute ``last_used_at`` touch, no threadpool hop (every dependency on the path is
``async def`` and the per-key limiter's memory storage is called in place), and the number of
calls crossing into aiosqlite's worker thread (pool reset included), as measured after the
change. Timings belong to ``make bench``.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hot_path import count_aiosqlite_calls, count_statements, count_threadpool_hops

from authcourse import FrozenClock, asgi_client
from clouddocs.apikeys import ApiKeyGuard, create_api_key_app, issue_api_key
from clouddocs.db import Database, Tenant

pytestmark = pytest.mark.anyio

#: aiosqlite thread round trips for one check: execute, fetch, close cursor, and the
#: connection's reset (rollback) when it goes back to the pool. Measured, then pinned.
AIOSQLITE_CALLS_PER_CHECK = 5
#: The same with the once-a-minute touch: the UPDATE and its commit add four.
AIOSQLITE_CALLS_WITH_TOUCH = 9


@dataclass
class Bench:
    db: Database
    clock: FrozenClock
    headers: dict[str, str]


@asynccontextmanager
async def bench(url: str) -> AsyncIterator[Bench]:
    clock, db = FrozenClock(), Database(url)
    await db.create_all()
    async with db.sessions() as session:
        tenant = Tenant(name="Budget Co")
        session.add(tenant)
        await session.commit()
        issued = await issue_api_key(
            session, tenant_id=tenant.id, name="k", scopes=["docs:read"], clock=clock
        )
    try:
        yield Bench(db, clock, {"Authorization": f"Bearer {issued.plaintext}"})
    finally:
        await db.dispose()


@pytest.fixture(params=["file", "memory"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return f"sqlite+aiosqlite:///{tmp_path}/budget.db"
    return "sqlite+aiosqlite:///:memory:"


async def test_a_key_check_is_one_statement_no_write_no_hop(database_url: str) -> None:
    async with bench(database_url) as b:
        app = create_api_key_app(ApiKeyGuard(b.db, b.clock))
        async with asgi_client(app) as client:
            await client.get("/documents", headers=b.headers)  # first use: the touch
            for _ in range(3):  # within the minute: reads only
                with (
                    count_statements(b.db.engine) as sql,
                    count_threadpool_hops() as hops,
                    count_aiosqlite_calls() as calls,
                ):
                    response = await client.get("/documents", headers=b.headers)
                assert response.status_code == 200
                assert len(sql.statements) == 1, sql.statements
                assert sql.writes == []
                assert hops.count == 0
                assert calls.count == AIOSQLITE_CALLS_PER_CHECK


async def test_last_used_is_written_at_most_once_a_minute(database_url: str) -> None:
    async with bench(database_url) as b:
        app = create_api_key_app(ApiKeyGuard(b.db, b.clock))
        writes_per_request = []
        async with asgi_client(app) as client:
            for _ in range(6):
                with count_statements(b.db.engine) as sql, count_aiosqlite_calls() as calls:
                    await client.get("/documents", headers=b.headers)
                writes_per_request.append(len(sql.writes))
                if sql.writes:
                    assert len(sql.statements) == 2
                    assert calls.count == AIOSQLITE_CALLS_WITH_TOUCH
                b.clock.advance(seconds=30)
        # t = 0 s (first use), 30 s, 60 s (a minute since the touch), 90 s, 120 s, 150 s.
        assert writes_per_request == [1, 0, 1, 0, 1, 0]


async def test_a_refused_key_costs_at_most_one_statement_and_no_hop(database_url: str) -> None:
    async with bench(database_url) as b:
        app = create_api_key_app(ApiKeyGuard(b.db, b.clock))
        forged = "cdk_live_" + "A" * 28  # a wrong checksum: no statement at all
        async with asgi_client(app) as client:
            with count_statements(b.db.engine) as sql, count_threadpool_hops() as hops:
                junk = await client.get("/documents", headers={"Authorization": f"Bearer {forged}"})
                in_url = await client.get("/documents", params={"api_key": forged})
        assert (junk.status_code, in_url.status_code) == (401, 400)
        assert sql.statements == [] and hops.count == 0
