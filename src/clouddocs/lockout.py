# Generated from notebooks/02_passwords_sessions.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Per-account lockout: after ``max_failures`` failed logins within ``window``, the account
refuses logins for ``lockout`` (OWASP ASVS 5.0 section 6.3).

Counters are keyed by the normalised email whether or not an account exists, so a
locked "account" tells an attacker nothing about who is registered; the key is stored
hashed, so the table is not a list of addresses people typed. Time comes from the clock.
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Float, Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from authcourse.clock import Clock, SystemClock
from clouddocs.accounts import normalize_email
from clouddocs.db import Base


class LoginThrottle(Base):
    """Failed-login bookkeeping for one login name (existing or not)."""

    __tablename__ = "login_throttles"

    account_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[float] = mapped_column(Float)
    locked_until: Mapped[float | None] = mapped_column(Float, default=None)


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)


def account_key(email: str) -> str:
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()


class AccountLockout:
    """Counts failures per login name and locks it for a while after too many."""

    def __init__(self, *, clock: Clock | None = None, policy: LockoutPolicy | None = None) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.policy = policy or LockoutPolicy()

    async def seconds_locked(self, db: AsyncSession, email: str) -> int:
        """How long ``email`` stays locked (0 when it may try to log in)."""
        record = await db.get(LoginThrottle, account_key(email))
        if record is None or record.locked_until is None:
            return 0
        return max(0, round(record.locked_until - self.clock.time()))

    async def record_failure(self, db: AsyncSession, email: str) -> bool:
        """Count one failure; True when this failure locks the account."""
        now = self.clock.time()
        record = await db.get(LoginThrottle, account_key(email))
        if record is None:
            record = LoginThrottle(
                account_key=account_key(email), failures=0, window_started_at=now
            )
            db.add(record)
        if now - record.window_started_at > self.policy.window.total_seconds():
            record.failures, record.window_started_at = 0, now  # old failures have aged out
        record.failures += 1
        locks = record.failures >= self.policy.max_failures
        if locks:
            record.locked_until = now + self.policy.lockout.total_seconds()
            record.failures, record.window_started_at = 0, now
        await db.commit()
        return locks

    async def record_success(self, db: AsyncSession, email: str) -> None:
        """A correct login clears this account's counter, and only this account's."""
        record = await db.get(LoginThrottle, account_key(email))
        if record is not None:
            await db.delete(record)
            await db.commit()
