# Generated from notebooks/02_passwords_sessions.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""An append-only audit log of authentication events, with no secrets in it.

The database itself refuses UPDATE and DELETE on the table (triggers on SQLite and
PostgreSQL), so a compromised application account cannot rewrite history. Events carry
ids, never passwords, session ids, tokens or the raw login name a user typed (people do
type their password into the email field).
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, DateTime, ForeignKey, String, Table, event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.clock import Clock
from clouddocs.db import Base


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


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    #: For events without a known user: the lockout key (an HMAC of the email), never the email.
    account_key: Mapped[str | None] = mapped_column(String(64), default=None)
    client_ip: Mapped[str | None] = mapped_column(String(45), default=None)


#: Per dialect, the statements that make the table refuse UPDATE and DELETE.
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
    """Append one event (committed at once: an audit record must survive a later rollback)."""
    db.add(
        AuditEvent(
            occurred_at=clock.now(),
            event=event_type.value,
            user_id=user_id,
            account_key=account_key,
            client_ip=client_ip,
        )
    )
    await db.commit()
