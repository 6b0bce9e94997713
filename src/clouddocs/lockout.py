# Generated from notebooks/02_passwords_sessions.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Per-account lockout: at most ``max_failures`` password checks per login name within
``window``; the attempt after that locks the name for ``lockout`` (OWASP ASVS 5.0
section 6.3).

Counters are keyed by the normalised email whether or not an account exists, so a
locked "account" tells an attacker nothing about who is registered. The key is an HMAC
of the email under a server secret: the table (and the audit log, which reuses the key)
is neither a list of the addresses people typed nor — when someone types their password
into the email field — a fast, unsalted hash of that password.

Each attempt is counted *before* its password is checked, in one atomic UPDATE. Checking
"is it locked?" first and counting the failure afterwards would let a burst of parallel
guesses all pass the check while the first ones are still being verified. A correct
password then clears the counter. Time comes from the injected clock.
"""

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Float, Integer, String, case, delete, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.accounts import normalize_email
from clouddocs.clock import Clock, SystemClock
from clouddocs.db import Base


class LoginThrottle(Base):
    """Login bookkeeping for one login name (existing or not)."""

    __tablename__ = "login_throttles"

    account_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Attempts in the current window not (yet) followed by a correct password.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[float] = mapped_column(Float)
    locked_until: Mapped[float | None] = mapped_column(Float, default=None)


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class LoginAttempt:
    """The lockout's answer before a password is checked."""

    allowed: bool
    #: Seconds until the name may try again (0 when allowed).
    retry_after: int
    #: True for the one attempt that started the lock (audit it once).
    locked_now: bool


class LockoutKeys:
    """The lockout's key handling; ``AccountLockout`` (next) adds the counting.

    ``key`` is the HMAC secret for the account keys. The default (random per process)
    suits one process; workers that share a database must share the key — load it from
    your secret store — or each would keep its own counters.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        policy: LockoutPolicy | None = None,
        key: bytes | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.policy = policy or LockoutPolicy()
        self._key = key if key is not None else secrets.token_bytes(32)

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(policy={self.policy})"

    def account_key(self, email: str) -> str:
        """What the table and the audit log store instead of the email (64 hex characters)."""
        return hmac.new(self._key, normalize_email(email).encode(), hashlib.sha256).hexdigest()


def _insert_if_missing(db: AsyncSession, key: str, now: float) -> sqlite.Insert | postgresql.Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` in the dialect at hand (SQLite or PostgreSQL)."""
    values = {"account_key": key, "failures": 0, "window_started_at": now, "locked_until": None}
    conflict = [LoginThrottle.account_key]
    if db.get_bind().dialect.name == "postgresql":
        return (
            postgresql.insert(LoginThrottle)
            .values(values)
            .on_conflict_do_nothing(index_elements=conflict)
        )
    return (
        sqlite.insert(LoginThrottle).values(values).on_conflict_do_nothing(index_elements=conflict)
    )


class AccountLockout(LockoutKeys):
    """Counts login attempts per login name and locks it for a while after too many."""

    async def seconds_locked(self, db: AsyncSession, email: str) -> int:
        """How long ``email`` stays locked (0 when it may try to log in). Read-only."""
        record = await db.get(LoginThrottle, self.account_key(email))
        if record is None or record.locked_until is None:
            return 0
        return max(0, math.ceil(record.locked_until - self.clock.time()))

    async def begin_attempt(self, db: AsyncSession, email: str) -> LoginAttempt:
        """Count one attempt, atomically, before the password is checked.

        The first ``max_failures`` attempts in a window are allowed; the next one locks
        the name. Call ``record_success`` when the password turns out to be correct.
        """
        key, now = self.account_key(email), self.clock.time()
        await db.execute(_insert_if_missing(db, key, now))  # no check-then-insert race
        row = LoginThrottle
        locked = row.locked_until > now  # NULL (never locked) compares as not true
        aged_out = row.window_started_at < now - self.policy.window.total_seconds()
        counted = await db.execute(
            update(row)
            .where(row.account_key == key)
            .values(  # SET expressions read the row as it was: one consistent step
                failures=case((locked, row.failures), (aged_out, 1), else_=row.failures + 1),
                window_started_at=case(
                    (locked, row.window_started_at), (aged_out, now), else_=row.window_started_at
                ),
            )
            .returning(row.failures, row.locked_until)
        )
        attempts, locked_until = counted.one()
        if locked_until is not None and locked_until > now:
            await db.commit()
            return LoginAttempt(False, math.ceil(locked_until - now), locked_now=False)
        if attempts <= self.policy.max_failures:
            await db.commit()
            return LoginAttempt(True, 0, locked_now=False)
        lock_seconds = self.policy.lockout.total_seconds()
        locking = await db.execute(
            update(row)
            .where(row.account_key == key, or_(row.locked_until.is_(None), row.locked_until <= now))
            .values(locked_until=now + lock_seconds, failures=0, window_started_at=now)
            .returning(row.account_key)
        )
        locked_now = locking.first() is not None  # False if a parallel attempt locked it first
        await db.commit()
        return LoginAttempt(False, math.ceil(lock_seconds), locked_now=locked_now)

    async def record_success(self, db: AsyncSession, email: str) -> None:
        """A correct password clears this name's counter (and lock), and only this name's."""
        await db.execute(
            delete(LoginThrottle).where(LoginThrottle.account_key == self.account_key(email))
        )
        await db.commit()
