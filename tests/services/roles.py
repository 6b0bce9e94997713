"""A database of its own plus login-less owner and login app roles, for the PostgreSQL role
tests; everything is dropped afterwards (roles are cluster-wide, so their names are random)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from service_urls import admin_execute, database_url
from sqlalchemy import make_url, text

import clouddocs.apikeys
import clouddocs.audit_log
import clouddocs.lockout
import clouddocs.refresh_tokens
import clouddocs.sessions
import clouddocs.signup
import clouddocs.token_revocation
import clouddocs.webhooks  # noqa: F401  (each import registers its tables on Base)
from clouddocs.db import Base, Database


@dataclass(frozen=True)
class Setup:
    url: str  # the superuser's URL on the scratch database
    owner: str
    app: str
    schema: str

    @property
    def name(self) -> str:
        return str(make_url(self.url).database)

    def app_url(self) -> str:
        """The URL the application uses: its own role, no password (trust on loopback)."""
        return make_url(self.url).set(username=self.app).render_as_string(hide_password=False)

    async def admin(self, *statements: str) -> None:
        await admin_execute(*statements, database=self.name)

    async def as_owner(self, *statements: str, create_tables: bool = False) -> None:
        """Run statements (and ``create_all``) as the schema's owner, via SET ROLE."""
        database = Database(self.url)
        try:
            async with database.engine.begin() as connection:
                await connection.execute(text(f"SET ROLE {self.owner}"))
                await connection.execute(text(f"SET search_path = {self.schema}"))
                if create_tables:
                    await connection.run_sync(Base.metadata.create_all)
                for statement in statements:
                    await connection.execute(text(statement))
        finally:
            await database.dispose()


@asynccontextmanager
async def scratch(schema: str, *, create_schema: bool = True) -> AsyncIterator[Setup]:
    """A new database with roles ``owner`` (NOLOGIN, owns ``schema``) and ``app`` (LOGIN,
    NOSUPERUSER, NOBYPASSRLS, ``search_path`` = ``schema``)."""
    suffix = secrets.token_hex(4)
    owner, app = f"cd_owner_{suffix}", f"cd_app_{suffix}"
    await admin_execute(
        f"CREATE ROLE {owner} NOLOGIN",
        f"CREATE ROLE {app} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS",
        f"ALTER ROLE {app} SET search_path = {schema}",
    )
    try:
        async with database_url("unused") as url:
            setup = Setup(url, owner, app, schema)
            if create_schema:
                await setup.admin(f"CREATE SCHEMA {schema} AUTHORIZATION {owner}")
            yield setup
    finally:
        await admin_execute(f"DROP ROLE IF EXISTS {app}", f"DROP ROLE IF EXISTS {owner}")
