"""Tenant isolation with PostgreSQL row-level security (chapter 7's second wall).

One policy on ``documents`` keyed on ``current_setting('app.tenant_id')``; the app connects
as a role that is neither superuser nor the table's owner (both bypass policies), and each
request sets the tenant for its own transaction only (``set_config(..., true)``). A query
that forgets ``WHERE tenant_id = ...`` still sees its tenant's rows and no others.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from clouddocs.db import Database, Document, Tenant, User

from .roles import Setup, scratch

pytestmark = pytest.mark.anyio
SCHEMA = "tenancy"
TENANT = "current_setting('app.tenant_id')::integer"
POLICY = [
    "ALTER TABLE documents ENABLE ROW LEVEL SECURITY",
    f"CREATE POLICY tenant_isolation ON documents USING (tenant_id = {TENANT})"
    f" WITH CHECK (tenant_id = {TENANT})",
]


def grants(setup: Setup) -> list[str]:
    return [
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {setup.app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON documents TO {setup.app}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO {setup.app}",
    ]


@pytest.fixture
async def app_db() -> AsyncIterator[tuple[Setup, Database]]:
    async with scratch(SCHEMA) as setup:
        await setup.as_owner(*POLICY, *grants(setup), create_tables=True)
        seed = Database(setup.url)  # the superuser: policies do not apply to it
        try:
            async with seed.sessions() as db:
                await db.execute(text(f"SET search_path = {SCHEMA}"))
                db.add_all([Tenant(id=1, name="Acme"), Tenant(id=2, name="Globex")])
                db.add_all(
                    [
                        User(id=1, tenant_id=1, email="ada@acme.test", display_name="Ada"),
                        User(id=2, tenant_id=2, email="bob@globex.test", display_name="Bob"),
                    ]
                )
                await db.flush()
                db.add_all([Document(tenant_id=1, owner_id=1, title="acme plan"),
                            Document(tenant_id=1, owner_id=1, title="acme budget"),
                            Document(tenant_id=2, owner_id=2, title="globex secret")])  # fmt: skip
                await db.commit()
        finally:
            await seed.dispose()
        database = Database(setup.app_url())
        try:
            yield setup, database
        finally:
            await database.dispose()


async def as_tenant(db: AsyncSession, tenant_id: int) -> None:
    """What a request's dependency does first: this transaction belongs to one tenant."""
    await db.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})


async def test_the_app_role_is_neither_superuser_nor_owner(app_db: tuple[Setup, Database]) -> None:
    setup, database = app_db
    async with database.engine.connect() as connection:
        role = (
            await connection.execute(
                text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            )
        ).one()
        owner = await connection.scalar(
            text("SELECT tableowner FROM pg_tables WHERE tablename = 'documents'")
        )
    assert tuple(role) == (False, False) and owner == setup.owner != setup.app


async def test_a_query_without_the_tenant_filter_sees_only_its_tenant(
    app_db: tuple[Setup, Database],
) -> None:
    _, database = app_db
    seen: dict[int, list[str]] = {}
    for tenant in (1, 2):
        async with database.sessions() as db:
            await as_tenant(db, tenant)
            seen[tenant] = sorted((await db.scalars(select(Document.title))).all())  # no WHERE
            assert await db.scalar(select(func.count()).select_from(Document)) == len(seen[tenant])
    assert seen == {1: ["acme budget", "acme plan"], 2: ["globex secret"]}


async def test_another_tenants_rows_cannot_be_written(app_db: tuple[Setup, Database]) -> None:
    _, database = app_db
    async with database.sessions() as db:
        await as_tenant(db, 1)
        changed = await db.execute(update(Document).values(title="defaced"))  # no WHERE
        assert changed.rowcount == 2  # type: ignore[attr-defined]  # its own two, not Globex's
        deleted = await db.execute(text("DELETE FROM documents WHERE tenant_id = 2"))
        assert deleted.rowcount == 0  # type: ignore[attr-defined]
        await db.commit()
    async with database.sessions() as db:
        await as_tenant(db, 1)
        db.add(Document(tenant_id=2, owner_id=2, title="planted"))
        with pytest.raises(DBAPIError, match="row-level security"):
            await db.commit()
    async with database.sessions() as db:
        await as_tenant(db, 2)
        assert (await db.scalars(select(Document.title))).all() == ["globex secret"]


async def test_without_a_tenant_the_query_fails_closed(app_db: tuple[Setup, Database]) -> None:
    _, database = app_db
    async with database.sessions() as db:
        with pytest.raises(DBAPIError, match="app.tenant_id"):
            await db.scalars(select(Document.title))  # the setting was never made: an error
    async with database.sessions() as db:
        await as_tenant(db, 1)
        await db.commit()  # set_config(..., true) ended with that transaction
        with pytest.raises(DBAPIError):
            await db.scalars(select(Document.title))  # '' is no tenant id: still an error


async def test_the_owner_bypasses_the_policy(app_db: tuple[Setup, Database]) -> None:
    # Why the app must not connect as the owner: policies do not apply to a table's owner
    # (unless FORCE ROW LEVEL SECURITY) nor to superusers.
    setup, _ = app_db
    owner_view = Database(setup.url)
    try:
        async with owner_view.engine.connect() as connection:
            await connection.execute(text(f"SET ROLE {setup.owner}"))
            await connection.execute(text(f"SET search_path = {SCHEMA}"))
            await connection.execute(text("SELECT set_config('app.tenant_id', '1', false)"))
            count = await connection.scalar(text("SELECT count(*) FROM documents"))
    finally:
        await owner_view.dispose()
    assert count == 3
