"""Shared pytest fixtures for the course's own test suite."""

from __future__ import annotations

import os
from typing import Any

import pytest
from service_urls import DATABASE_ENV, REDIS_ENV


@pytest.fixture
def anyio_backend() -> str:
    # The course runs on asyncio (as Jupyter does); trio is not a target.
    return "asyncio"


# Fixture notebooks under tests/ are inputs to tests, not notebooks to validate with nbval.
collect_ignore_glob = ["*.ipynb"]


# `make test-services` (tests/services/servers.py) sets CLOUDDOCS_TEST_REDIS_URL: every
# limiter the tests build with the default `memory://` storage counts in Redis instead, in
# this xdist worker's own Redis database, emptied before each test. Unset (`make test`),
# nothing here runs.
if os.environ.get(REDIS_ENV):

    @pytest.fixture(autouse=True)
    def _rate_limits_in_redis(monkeypatch: pytest.MonkeyPatch, worker_id: str) -> str:
        import redis

        from clouddocs import apikeys, ratelimit

        number = 0 if worker_id == "master" else 1 + int(worker_id.removeprefix("gw"))
        url = f"{os.environ[REDIS_ENV]}/{number}"
        with redis.Redis.from_url(url) as client:
            client.flushdb()

        def on_redis(original: Any) -> Any:
            def init(self: Any, rate: str, storage_uri: str = "memory://", **kw: Any) -> None:
                original(self, rate, url if storage_uri == "memory://" else storage_uri, **kw)

            return init

        for limiter in (ratelimit.RateLimiter, apikeys.KeyLimiter):
            monkeypatch.setattr(limiter, "__init__", on_redis(limiter.__init__))
        return url


def pytest_report_header() -> list[str]:
    servers = [os.environ.get(name) for name in (DATABASE_ENV, REDIS_ENV)]
    if not any(servers):
        return []
    return [f"service tests: database {servers[0]}, rate limits {servers[1]}"]
