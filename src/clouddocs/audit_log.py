# Generated from notebooks/02_passwords_sessions.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""A tamper-evident audit log of authentication events, with no secrets in it.

Each row carries its position in the log (``id``, 1, 2, 3…), the hash of the row before it
and its own hash over both: a hash chain. ``verify_chain`` recomputes it and names any row
that was rewritten, deleted or moved. Rows carry ids, never passwords, session ids, tokens
or the raw login name a user typed (people do type their password into the email field).
Triggers make the database refuse UPDATE and DELETE; on PostgreSQL the app should also
write through an INSERT-only role (``postgresql_role_ddl``).
"""

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, DateTime, ForeignKey, String, Table, event
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.db import Base

GENESIS = "0" * 64  # the "previous hash" of row 1


class AuditEventType(StrEnum):
    REGISTERED = "registered"
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    ACCOUNT_LOCKED = "account.locked"
    LOGIN_RATE_LIMITED = "login.rate_limited"
    LOGOUT = "logout"
    LOGOUT_EVERYWHERE = "logout.everywhere"
    # Token events, recorded from chapter 3 on.
    TOKEN_REFRESHED = "token.refreshed"
    REFRESH_TOKEN_REUSED = "token.refresh_reused"  # a stolen token was probably replayed
    # API-key events, recorded from chapter 4 on (by key id, never the key).
    API_KEY_CREATED = "api_key.created"
    API_KEY_ROTATED = "api_key.rotated"
    API_KEY_REVOKED = "api_key.revoked"
    API_KEY_REFUSED = "api_key.refused"  # a revoked, expired or wrong-environment key


class AuditEvent(Base):
    __tablename__ = "audit_events"

    #: The position in the chain, assigned by ``record_event``; as the primary key it is
    #: unique, so two writers can never both append row n (the chain cannot fork).
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    #: For events without a known user: the lockout key (an HMAC of the email), never the email.
    account_key: Mapped[str | None] = mapped_column(String(64), default=None)
    client_ip: Mapped[str | None] = mapped_column(String(45), default=None)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


def chain_hash(prev_hash: str, row: AuditEvent) -> str:
    """SHA-256 over the previous row's hash and this row's content, position included."""
    when = row.occurred_at
    # SQLite hands back naive datetimes: the clock wrote UTC, so read them as UTC.
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    content = [row.id, when.isoformat(), row.event, row.user_id, row.account_key, row.client_ip]
    payload = prev_hash + json.dumps(content, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


import secrets

import anyio
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from clouddocs.clock import Clock

#: Per dialect, the statements that make the table refuse UPDATE and DELETE (and, on
#: PostgreSQL, TRUNCATE, which skips row triggers).
_APPEND_ONLY_DDL: dict[str, list[str]] = {
    "sqlite": [
        f"CREATE TRIGGER IF NOT EXISTS audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events"
        " BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        for verb in ("UPDATE", "DELETE")
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_events_refuse() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$",
        "CREATE OR REPLACE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE"
        " ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_refuse()",
        "CREATE OR REPLACE TRIGGER audit_events_no_truncate BEFORE TRUNCATE"
        " ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse()",
    ],
}


@event.listens_for(AuditEvent.__table__, "after_create")
def _make_append_only(_table: Table, connection: Connection, **_: Any) -> None:
    for statement in _APPEND_ONLY_DDL.get(connection.dialect.name, []):
        connection.exec_driver_sql(statement)


async def record_event(
    db: AsyncSession,
    event_type: AuditEventType,
    *,
    clock: Clock,
    user_id: int | None = None,
    account_key: str | None = None,
    client_ip: str | None = None,
) -> None:
    """Append one event at the head of the chain, committed at once (an audit record must
    survive a later rollback). The caller's pending work is committed first, so a retry
    never rolls it back. Two writers cannot both append row n: the primary key refuses the
    second, which reads the new head and tries again (PostgreSQL first lines them up with
    a transaction-scoped advisory lock, so there they do not even collide)."""
    await db.commit()
    occurred_at = clock.now()
    for _ in range(100):
        if db.get_bind().dialect.name == "postgresql":
            await db.execute(text("SELECT pg_advisory_xact_lock(hashtext('audit_events'))"))
        head = (await db.execute(_HEAD)).first()
        position, prev_hash = (head.id + 1, head.row_hash) if head else (1, GENESIS)
        row = AuditEvent(id=position, occurred_at=occurred_at, event=event_type.value,
                         user_id=user_id, account_key=account_key, client_ip=client_ip,
                         prev_hash=prev_hash)  # fmt: skip
        row.row_hash = chain_hash(prev_hash, row)
        db.add(row)
        try:
            await db.commit()
            return
        except (IntegrityError, OperationalError) as lost:
            await db.rollback()
            if isinstance(lost, OperationalError) and "locked" not in str(lost.orig):
                raise  # a real error, not SQLite's "another writer holds the lock"
            await anyio.sleep(secrets.randbelow(4) / 1000)  # let the winner finish
    raise RuntimeError("audit log: too many concurrent writers, event not recorded")


_HEAD = select(AuditEvent.id, AuditEvent.row_hash).order_by(AuditEvent.id.desc()).limit(1)


from dataclasses import dataclass


@dataclass(frozen=True)
class Checkpoint:
    """The head of the chain at some moment: copy it *out of the database* (another system,
    a ticket, object storage with retention) to catch later rewrites of everything up to it."""

    seq: int
    row_hash: str


@dataclass(frozen=True)
class ChainReport:
    checked: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


async def checkpoint(db: AsyncSession) -> Checkpoint:
    """The current head (row 0 and the genesis hash for an empty log)."""
    head = (await db.execute(_HEAD)).first()
    return Checkpoint(head.id, head.row_hash) if head else Checkpoint(0, GENESIS)


async def verify_chain(db: AsyncSession, *, checkpoint: Checkpoint | None = None) -> ChainReport:
    """Recompute the chain and name every row that was changed, removed or moved.

    On its own the chain cannot see rows cut from the *end*, nor a chain rebuilt from a
    changed row onwards (SHA-256 needs no key). A ``checkpoint`` kept elsewhere catches both.
    """
    problems: list[str] = []
    expected, previous = 1, GENESIS
    seen: dict[int, str] = {}
    rows = (await db.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
    for row in rows:
        if row.id != expected:
            gap = f"row {expected}" if row.id == expected + 1 else f"rows {expected}-{row.id - 1}"
            problems.append(f"{gap} missing before row {row.id}")
        elif row.prev_hash != previous:
            problems.append(f"row {row.id} does not follow row {row.id - 1}")
        if chain_hash(row.prev_hash, row) != row.row_hash:
            problems.append(f"row {row.id} was changed after it was written")
        seen[row.id] = row.row_hash
        expected, previous = row.id + 1, row.row_hash
    if checkpoint is not None and checkpoint.seq and seen.get(checkpoint.seq) != checkpoint.row_hash:
        problems.append(
            f"row {checkpoint.seq} no longer matches the checkpoint"
            f" (the log now ends at row {expected - 1})"
        )
    return ChainReport(len(rows), problems)


import re

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def postgresql_role_ddl(
    *, owner: str = "clouddocs_owner", app: str = "clouddocs_app", schema: str = "clouddocs"
) -> list[str]:
    """What a DBA runs so the app can only *append* to the audit log on PostgreSQL.

    Create the roles (``owner`` NOLOGIN, ``app`` LOGIN with a password from your secret
    store) and run the first statement (the schema must exist before its tables), then
    ``create_all`` as ``owner`` with ``search_path`` = ``schema`` (the triggers come with
    the table), then the other statements. Only a table's owner may ALTER
    or DROP it or its triggers, and TRUNCATE, UPDATE and DELETE are privileges the app role
    does not get: a compromised app can add events, never remove them. Tables created
    later need their grants too (or ``ALTER DEFAULT PRIVILEGES``).
    """
    for name in (owner, app, schema):
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"not a plain lower-case SQL identifier: {name!r}")
    table = f"{schema}.audit_events"
    return [
        f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {owner}",
        f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {schema} TO {app}",  # USAGE without CREATE: no new objects
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {app}",
        f"GRANT SELECT, INSERT ON {table} TO {app}",
    ]
