"""Which servers the database- and rate-limit-facing tests run on.

By default (``make test``) nothing changes: SQLite files or memory, and ``memory://`` rate
limits. ``make test-services`` sets ``CLOUDDOCS_TEST_DATABASE_URL`` (a PostgreSQL superuser
URL) and ``CLOUDDOCS_TEST_REDIS_URL``; then ``database_url`` hands each fixture a database of
its own on that server, and ``tests/conftest.py`` moves every limiter to Redis.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import make_url

DATABASE_ENV = "CLOUDDOCS_TEST_DATABASE_URL"
REDIS_ENV = "CLOUDDOCS_TEST_REDIS_URL"


def database_server() -> str | None:
    """The PostgreSQL URL the service tests run against, or None on SQLite."""
    return os.environ.get(DATABASE_ENV) or None


def redis_server() -> str | None:
    return os.environ.get(REDIS_ENV) or None


def asyncpg_dsn(url: str) -> str:
    """SQLAlchemy's ``postgresql+asyncpg://`` URL as the plain DSN asyncpg itself takes."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def admin_execute(*statements: str, database: str = "postgres") -> None:
    """Run statements as the server's superuser (CREATE/DROP DATABASE cannot run inside
    a transaction, so each one goes through asyncpg directly)."""
    import asyncpg  # the [services] extra; only imported when a server is configured

    server = database_server()
    assert server is not None, "no PostgreSQL server configured"
    connection = await asyncpg.connect(
        asyncpg_dsn(make_url(server).set(database=database).render_as_string(hide_password=False))
    )
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@asynccontextmanager
async def database_url(default: str) -> AsyncIterator[str]:
    """``default`` on SQLite; on PostgreSQL a new, empty database, dropped afterwards."""
    server = database_server()
    if server is None:
        yield default
        return
    name = f"clouddocs_{secrets.token_hex(6)}"
    await admin_execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
