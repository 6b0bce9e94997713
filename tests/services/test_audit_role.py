"""The audit log's INSERT-only role on a real PostgreSQL server.

The DBA's statements come from ``clouddocs.audit_log.postgresql_role_ddl``. The app's role
appends and reads events, works on its other tables as before, and cannot UPDATE, DELETE,
TRUNCATE the log or drop, disable or bypass its triggers: a compromised app can add events,
never remove them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from authcourse import FrozenClock
from clouddocs.audit_log import AuditEventType, postgresql_role_ddl, record_event, verify_chain
from clouddocs.db import Database, Tenant

from .roles import Setup, scratch

pytestmark = pytest.mark.anyio
SCHEMA = "clouddocs"


@pytest.fixture
async def app_db() -> AsyncIterator[tuple[Setup, Database]]:
    async with scratch(SCHEMA, create_schema=False) as setup:
        # In the order postgresql_role_ddl's docstring gives: the schema (its first
        # statement), the tables created by the owner, then the grants and revokes.
        ddl = postgresql_role_ddl(owner=setup.owner, app=setup.app, schema=SCHEMA)
        await setup.admin(ddl[0])
        await setup.as_owner(create_tables=True)
        await setup.admin(*ddl[1:])
        database = Database(setup.app_url())
        try:
            async with database.sessions() as db:
                for n in range(3):
                    await record_event(
                        db,
                        AuditEventType.LOGIN_FAILED,
                        clock=FrozenClock(),
                        client_ip=f"10.0.0.{n}",
                    )
            yield setup, database
        finally:
            await database.dispose()


async def test_the_app_role_is_neither_superuser_nor_owner(app_db: tuple[Setup, Database]) -> None:
    setup, database = app_db
    async with database.engine.connect() as connection:
        me = (
            await connection.execute(
                text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
            )
        ).one()
        owner = await connection.scalar(
            text("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_events'")
        )
    assert tuple(me) == (setup.app, False) and owner == setup.owner


async def test_the_app_role_appends_and_reads(app_db: tuple[Setup, Database]) -> None:
    _, database = app_db
    async with database.sessions() as db:
        await record_event(db, AuditEventType.LOGOUT, clock=FrozenClock(), user_id=None)
        report = await verify_chain(db)
        # Its other tables are still read-write (the schema-wide grants).
        db.add(Tenant(name="Acme"))
        await db.commit()
        await db.execute(text("UPDATE tenants SET name = 'Acme Ltd'"))
        await db.commit()
    assert report.ok and report.checked == 4


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("UPDATE audit_events SET client_ip = '192.0.2.1' WHERE id = 2", "permission denied"),
        ("DELETE FROM audit_events WHERE id = 3", "permission denied"),
        ("TRUNCATE audit_events", "permission denied"),
        ("DROP TRIGGER audit_events_append_only ON audit_events", "must be owner"),
        ("DROP TRIGGER audit_events_no_truncate ON audit_events", "must be owner"),
        ("ALTER TABLE audit_events DISABLE TRIGGER USER", "must be owner"),
        ("DROP TABLE audit_events", "must be owner"),
        ("ALTER TABLE audit_events RENAME TO old_events", "must be owner"),
        ("SET session_replication_role = replica", "permission denied"),  # skips triggers
        ("CREATE TABLE audit_copy (id integer)", "permission denied"),
    ],
    ids=["update", "delete", "truncate", "drop-trigger", "drop-truncate-trigger",
         "disable-triggers", "drop-table", "rename-table", "replica-mode", "create"],
)  # fmt: skip
async def test_the_app_role_cannot_rewrite_or_remove_events(
    app_db: tuple[Setup, Database], statement: str, refusal: str
) -> None:
    _, database = app_db
    async with database.engine.connect() as connection:
        with pytest.raises(DBAPIError) as refused:
            await connection.execute(text(statement))
    assert refusal in str(refused.value.orig)
    async with database.sessions() as db:
        report = await verify_chain(db)
    assert report.ok and report.checked == 3  # every event still there, unchanged


async def test_the_owner_is_still_stopped_by_the_triggers(app_db: tuple[Setup, Database]) -> None:
    # Defence in depth: even the owner's UPDATE and TRUNCATE hit the triggers (only an owner
    # who first disables them gets through; the chain and a checkpoint catch that).
    setup, _ = app_db
    for statement in ("UPDATE audit_events SET client_ip = NULL", "TRUNCATE audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            await setup.as_owner(statement)
