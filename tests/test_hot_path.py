"""The budget counters count what they claim to."""

import anyio.to_thread
import pytest
from hot_path import count_aiosqlite_calls, count_statements, count_threadpool_hops
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


@pytest.mark.anyio
async def test_statements_writes_and_aiosqlite_calls_are_counted() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with count_statements(engine) as sql, count_aiosqlite_calls() as calls:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (1)"))
                await conn.execute(text("SELECT x FROM t"))
        assert len(sql.statements) == 2
        assert sql.writes == ["INSERT INTO t VALUES (1)"]
        assert calls.count > 2  # cursor, execute, fetch, commit...: each a thread round trip
    finally:
        await engine.dispose()


@pytest.mark.anyio
async def test_threadpool_hops_are_counted() -> None:
    with count_threadpool_hops() as hops:
        await anyio.to_thread.run_sync(lambda: None)
    assert hops.count == 1


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
