"""The chapter tests really ran on the servers: the fixtures' URL and the limiters' storage."""

from __future__ import annotations

import pytest
import redis
from service_urls import database_url
from sqlalchemy import text

from clouddocs.apikeys import KeyLimiter
from clouddocs.db import Database
from clouddocs.ratelimit import RateLimiter

pytestmark = pytest.mark.anyio


async def test_the_database_fixtures_get_a_fresh_postgresql_database() -> None:
    async with database_url("sqlite+aiosqlite:///:memory:") as first:
        async with database_url("sqlite+aiosqlite:///:memory:") as second:
            assert first.startswith("postgresql+asyncpg://") and first != second
            database = Database(first)
            try:
                async with database.engine.connect() as connection:
                    version = await connection.scalar(text("SHOW server_version"))
                    tables = await connection.scalar(
                        text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                    )
            finally:
                await database.dispose()
    assert str(version).startswith("15.") and tables == 0


async def test_the_limiters_count_in_redis(_rate_limits_in_redis: str) -> None:
    limiter, per_key = RateLimiter("2/minute", scope="probe"), KeyLimiter("2/minute")
    assert [limiter.hit("203.0.113.7").allowed for _ in range(3)] == [True, True, False]
    assert [(await per_key.hit("api-key:1")).allowed for _ in range(3)] == [True, True, False]
    assert not per_key.in_process  # awaited in a worker thread, as with any network storage
    with redis.Redis.from_url(_rate_limits_in_redis) as client:
        keys = sorted(key.decode() for key in client.keys("*"))
    assert any("probe" in key and "203.0.113.7" in key for key in keys), keys
    assert any("api-key:1" in key for key in keys), keys
