"""Known-wrong implementations of the chapter 2 lab: each must be rejected by its checks.

Every entry is a small namespace override: the correct implementation (tests/ch02/correct.py)
with one classic mistake swapped in.
"""

import asyncio
import hashlib
import secrets
import time
from typing import Any

import argon2
from fastapi import HTTPException, Request
from sqlalchemy import delete, select, true
from sqlalchemy.exc import IntegrityError

from clouddocs.accounts import PasswordCredential
from clouddocs.db import User
from clouddocs.lockout import LoginThrottle
from clouddocs.sessions import WebSession

from . import correct

# -- 02.1 -------------------------------------------------------------------------------


def sha256_hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def sha256_verify(stored_hash: str, password: str) -> bool:
    return sha256_hash(password) == stored_hash


_TOY = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


def toy_argon2_hash(password: str) -> str:
    return _TOY.hash(password)


_FIXED_SALT = b"clouddocs-salt!!"


def unsalted_argon2_hash(password: str) -> str:
    raw = argon2.low_level.hash_secret(
        password.encode(), _FIXED_SALT, 2, 19456, 1, 32, argon2.low_level.Type.ID
    )
    return raw.decode()


_OWASP = argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def hash_as_typed(password: str) -> str:
    """No NFKC: the bytes hashed depend on the keyboard that typed the password."""
    return _OWASP.hash(password)


def verify_as_typed(stored_hash: str, password: str) -> bool:
    try:
        return _OWASP.verify(stored_hash, password)
    except argon2.exceptions.VerificationError:
        return False


def never_rehash(stored_hash: str) -> bool:
    return False


def truncating_hash(password: str) -> str:
    return correct.hash_password(password.encode()[:72].decode(errors="ignore"))


def truncating_verify(stored_hash: str, password: str) -> bool:
    return correct.verify_password(stored_hash, password.encode()[:72].decode(errors="ignore"))


# -- 02.2 -------------------------------------------------------------------------------


def composition_rules(password: str, email: str) -> list[str]:
    problems = correct.password_problems(password, email)
    if not any(c.isdigit() for c in password) or password.lower() == password:
        problems.append("use a digit and an upper-case letter")
    return problems


def max_64(password: str, email: str) -> list[str]:
    problems = correct.password_problems(password, email)
    return problems + (["use at most 64 characters"] if len(password) > 64 else [])


def case_sensitive_blocklist(password: str, email: str) -> list[str]:
    problems = [p for p in correct.password_problems(password, email) if "common" not in p]
    return problems + (["too common"] if password in correct.COMMON_PASSWORDS else [])


def any_local_part(password: str, email: str) -> list[str]:
    problems = [p for p in correct.password_problems(password, email) if "email" not in p]
    local_part = email.split("@", 1)[0].lower()
    return problems + (["built from your email"] if local_part in password.lower() else [])


def min_8(password: str, email: str) -> list[str]:
    """The pre-rev-4 minimum: 8 characters, although the password is the only factor."""
    return correct.password_problems(password + "#" * 7, email)


def no_nfkc(password: str, email: str) -> list[str]:
    """Measures the password as typed: a decomposed "é" counts as two characters."""
    problems = [p for p in correct.password_problems(password, email) if "least" not in p]
    return problems + (["use at least 15 characters"] if len(password) < 15 else [])


def no_email_check(password: str, email: str) -> list[str]:
    return [p for p in correct.password_problems(password, email) if "email" not in p]


# -- 02.3 -------------------------------------------------------------------------------


async def reuse_previous_id(db: Any, user_id: int, previous: str | None, clock: Any) -> str:
    if previous is None:
        return await correct.start_session(db, user_id, None, clock)
    return previous  # keeps the planted id: session fixation


async def store_raw_id(db: Any, user_id: int, previous: str | None, clock: Any) -> str:
    session_id = secrets.token_urlsafe(32)
    now = clock.time()
    db.add(WebSession(id_hash=session_id, user_id=user_id, created_at=now, last_seen_at=now))
    await db.commit()
    return session_id


async def short_id(db: Any, user_id: int, previous: str | None, clock: Any) -> str:
    session_id = secrets.token_hex(8)
    now = clock.time()
    db.add(
        WebSession(
            id_hash=hashlib.sha256(session_id.encode()).hexdigest(),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
        )
    )
    await db.commit()
    return session_id


async def keep_old_row(db: Any, user_id: int, previous: str | None, clock: Any) -> str:
    return await correct.start_session(db, user_id, None, clock)


# -- 02.4 -------------------------------------------------------------------------------

STATIC_TOKEN = secrets.token_urlsafe(32)


def static_token(session_id: str) -> str:
    return STATIC_TOKEN  # not bound to the session


async def verify_static_token(request: Request) -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.headers.get("origin") != correct.ALLOWED_ORIGIN:
        raise HTTPException(403)
    if request.headers.get("x-csrf-token") != STATIC_TOKEN:
        raise HTTPException(403)


async def verify_with_equals(request: Request) -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.headers.get("origin") != correct.ALLOWED_ORIGIN:
        raise HTTPException(403)
    session_id = request.cookies.get("__Host-session", "")
    if not session_id or request.headers.get("x-csrf-token") != correct.csrf_token_for(session_id):
        raise HTTPException(403)


async def verify_without_origin(request: Request) -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    session_id = request.cookies.get("__Host-session", "")
    submitted = request.headers.get("x-csrf-token", "")
    if not session_id or not correct.hmac.compare_digest(
        submitted.encode(), correct.csrf_token_for(session_id).encode()
    ):
        raise HTTPException(403)


def token_is_session_id(session_id: str) -> str:
    return session_id


async def verify_skipping_missing_token(request: Request) -> None:
    """The missing-token refusal deleted: a request without X-CSRF-Token is never compared."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.headers.get("origin") != correct.ALLOWED_ORIGIN:
        raise HTTPException(403)
    session_id = request.cookies.get("__Host-session", "")
    submitted = request.headers.get("x-csrf-token")
    if submitted is not None and not correct.hmac.compare_digest(
        submitted.encode(), correct.csrf_token_for(session_id).encode()
    ):
        raise HTTPException(403)


async def verify_refusing_everything(request: Request) -> None:
    raise HTTPException(403, "refused")


# -- 02.5 -------------------------------------------------------------------------------


class _Lockout:
    """A database lockout like the solution's, with one switch per classic mistake."""

    normalise = True
    atomic = True
    injected_clock = True
    lock_after = correct.MAX_FAILURES
    lifts = True
    window = True
    success_clears_only_this_account = True
    success_clears = True

    def __init__(self, database: Any, clock: Any) -> None:
        self.database, self.clock = database, clock

    def _key(self, email: str) -> str:
        return email.strip().lower() if self.normalise else email

    def _now(self) -> float:
        return self.clock.time() if self.injected_clock else time.time()

    async def begin_attempt(self, email: str) -> bool:
        key, now = self._key(email), self._now()
        async with self.database.sessions() as db:
            row = await db.get(LoginThrottle, key)  # read first...
            if row is None:
                row = LoginThrottle(account_key=key, failures=0, window_started_at=now)
                db.add(row)
            if row.locked_until is not None and (not self.lifts or row.locked_until > now):
                await db.commit()
                return False
            if self.window and row.window_started_at <= now - correct.WINDOW.total_seconds():
                row.failures, row.window_started_at = 0, now
            if not self.atomic:
                await asyncio.sleep(0)  # ...then write: another attempt runs in between
            row.failures += 1
            if row.failures > self.lock_after:
                row.locked_until = now + correct.LOCK_FOR.total_seconds()
            allowed = row.locked_until is None
            try:
                await db.commit()
            except IntegrityError:  # two first attempts inserted the same row
                return True
        return allowed

    async def record_success(self, email: str) -> None:
        if not self.success_clears:
            return
        where = (
            LoginThrottle.account_key == self._key(email)
            if self.success_clears_only_this_account
            else true()
        )
        async with self.database.sessions() as db:
            await db.execute(delete(LoginThrottle).where(where))
            await db.commit()


class TwoStepLockout(_Lockout):
    """Reads the count, then writes it: parallel attempts all read the old count."""

    atomic = False


class RawKeyLockout(_Lockout):
    """Keys on the email as typed: 'Ada@Example.com' gets five more guesses."""

    normalise = False


class GlobalCounterLockout(_Lockout):
    """Any success resets everybody's counter."""

    success_clears_only_this_account = False


class WallClockLockout(_Lockout):
    """Ignores the injected clock."""

    injected_clock = False


class EagerLockout(_Lockout):
    """Refuses the 4th attempt already."""

    lock_after = 3


class ForeverLockout(_Lockout):
    """A lock that never lifts."""

    lifts = False


class NoWindowLockout(_Lockout):
    """Counts attempts forever instead of within the 15-minute window."""

    window = False


class NoResetLockout(_Lockout):
    """A correct password does not clear the counter."""

    success_clears = False


# -- 02.6 -------------------------------------------------------------------------------


async def early_return(db: Any, email: str, password: str, hasher: Any) -> Any:
    user = await db.scalar(select(User).where(User.email == email))
    if user is None:
        return None  # answers unknown emails without hashing: a timing oracle
    credential = await db.get(PasswordCredential, user.id)
    return user if hasher.verify(credential.password_hash, password) else None


async def authenticate_refusing_everyone(db: Any, email: str, password: str, hasher: Any) -> Any:
    hasher.verify(hasher.dummy_hash, password)
    return None


async def authenticate_raw_email(db: Any, email: str, password: str, hasher: Any) -> Any:
    """Looks the address up as typed: ' Ada@Example.COM ' finds nobody."""
    user = await db.scalar(select(User).where(User.email == email))
    credential = await db.get(PasswordCredential, user.id) if user is not None else None
    stored = credential.password_hash if credential is not None else hasher.dummy_hash
    matches = hasher.verify(stored, password)
    return user if user is not None and credential is not None and matches else None


async def no_rehash(db: Any, email: str, password: str, hasher: Any) -> Any:
    user = await db.scalar(select(User).where(User.email == email))
    credential = await db.get(PasswordCredential, user.id) if user is not None else None
    stored = credential.password_hash if credential is not None else hasher.dummy_hash
    matches = hasher.verify(stored, password)
    return user if user is not None and credential is not None and matches else None


# -- 02.7 -------------------------------------------------------------------------------


async def attack_by_404(client: Any, emails: list[str]) -> list[str]:
    """Reports everything that is not a 404 (finds every email on a fixed app: not a real signal)."""
    found = []
    for email in emails:
        response = await client.post("/login", json={"email": email, "password": "x"})
        if response.status_code != 404:
            found.append(email)
    return found


def leaky_safe_app(database: Any, hasher: Any) -> Any:
    """'user not found' vs 'wrong password': the classic leak, kept in the 'fixed' app."""
    from authcourse.lab_helpers.ch02 import create_leaky_login_app

    return create_leaky_login_app(database, hasher)


def no_www_authenticate_app(database: Any, hasher: Any) -> Any:
    from typing import Annotated

    from fastapi import Depends, FastAPI
    from fastapi.responses import JSONResponse
    from sqlalchemy.ext.asyncio import AsyncSession

    app = FastAPI()

    @app.post("/login")
    async def login(
        body: correct.LoginBody, db: Annotated[AsyncSession, Depends(database.session)]
    ) -> Any:
        user = await correct.authenticate_user(db, body.email, body.password, hasher)
        if user is None:
            return JSONResponse({"detail": "email or password is incorrect"}, status_code=401)
        return {"user_id": user.id}

    return app


def safe_app_refusing_everyone(database: Any, hasher: Any) -> Any:
    """Identical 401s for everything, the right password included."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.post("/login")
    async def login(body: correct.LoginBody) -> Any:
        return JSONResponse(
            {"detail": "email or password is incorrect"},
            status_code=401,
            headers={"WWW-Authenticate": 'Cookie realm="clouddocs"'},
        )

    return app
