"""A scratch database on a PostgreSQL server, for the bench's PostgreSQL rows.

``make bench`` starts a throwaway cluster (``tests/services/servers.py``) and passes its
superuser URL as ``--postgres``; the bench creates a database of its own there, measures,
and drops it, so pointing ``--postgres`` at a server you keep leaves nothing behind.
Needs the ``[services]`` extra (asyncpg).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

from sqlalchemy import make_url


@contextlib.asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[str]:
    """Create an empty database on the server at ``server_url``, yield its SQLAlchemy URL
    (``postgresql+asyncpg://``), drop it afterwards."""
    import asyncpg  # the [services] extra: imported only when PostgreSQL rows are asked for

    url = make_url(server_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"--postgres needs a postgresql:// URL, not {url.drivername}://")
    # The name is ours alone (random suffix) and made of safe characters, so quoting it
    # in CREATE/DROP DATABASE (which take no bind parameters) cannot inject anything.
    name = f"authcourse_bench_{secrets.token_hex(4)}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
