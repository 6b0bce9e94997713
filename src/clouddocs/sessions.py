# Generated from notebooks/02_passwords_sessions.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Server-side sessions: random ids in a ``__Host-`` cookie, only their SHA-256 in the database.

A session id is a 256-bit secret from ``secrets``. The database keeps its SHA-256, so a
leaked table (backup, replica, SQL injection) cannot be replayed as cookies. Each
session ends after ``idle_timeout`` without use or ``absolute_timeout`` after login,
whichever comes first, measured by the injected clock.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.db import Base

SESSION_COOKIE = "__Host-session"
SESSION_ID_BYTES = 32  # 256 bits


class WebSession(Base):
    """One logged-in browser. ``id_hash`` is the SHA-256 (hex) of the cookie value."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[float] = mapped_column(Float)  # epoch seconds, from the clock
    last_seen_at: Mapped[float] = mapped_column(Float)


def new_session_id() -> str:
    """256 random bits, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def hash_session_id(session_id: str) -> str:
    """What the database stores. A fast hash is right here: the id already has 256 bits of
    entropy, so there is nothing to brute-force (unlike a password)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives (OWASP ASVS 5.0 section 7.3)."""

    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_timeout: timedelta = timedelta(hours=12)
    #: ``last_seen_at`` is written at most this often, so an authenticated request is not
    #: a database write (SQLite has one writer at a time); the idle timeout is accurate to it.
    touch_interval: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class CurrentSession:
    """What a route learns about the caller: who they are and which session they used."""

    user_id: int
    session_id: str


from fastapi import HTTPException, Request, Response, status


class SessionCookie:
    """The browser side of a session: the cookie, and the dependency that reads it.
    ``SessionManager`` (next) adds the database side, ``resolve`` among it."""

    cookie_name: str = SESSION_COOKIE

    async def resolve(self, session_id: str) -> CurrentSession | None:
        raise NotImplementedError

    def set_cookie(self, response: Response, session_id: str) -> None:
        """``__Host-`` demands Secure, Path=/ and no Domain; HttpOnly keeps scripts out;
        SameSite=Lax keeps the cookie off cross-site POSTs. No Max-Age: a browser-session
        cookie, while the server enforces the real timeouts."""
        response.set_cookie(
            self.cookie_name, session_id, httponly=True, secure=True, samesite="lax", path="/"
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(
            self.cookie_name, httponly=True, secure=True, samesite="lax", path="/"
        )

    async def require_session(self, request: Request) -> CurrentSession:
        """Dependency: the caller's live session, or 401 with ``WWW-Authenticate``. It is
        ``async def`` and does no CPU work worth a thread: no threadpool hop per request."""
        session_id = request.cookies.get(self.cookie_name)
        if session_id:
            current = await self.resolve(session_id)
            if current is not None:
                return current
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="not logged in",
            # Cookies have no registered auth scheme; this names the mechanism and the cookie.
            headers={
                "WWW-Authenticate": f'Cookie realm="clouddocs", cookie-name="{self.cookie_name}"'
            },
        )


from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from clouddocs.clock import Clock, SystemClock
from clouddocs.credential_cache import CredentialCache
from clouddocs.db import Database

#: The per-request statement: one primary-key lookup, compiled once and reused.
_LOOKUP = select(WebSession.user_id, WebSession.created_at, WebSession.last_seen_at).where(
    WebSession.id_hash == bindparam("id_hash")
)


@dataclass(frozen=True, slots=True)
class SessionEntry:
    """A live session as the lookup found it (and as the optional cache keeps it)."""

    user_id: int
    created_at: float
    last_seen_at: float


async def lookup_session(
    database: Database, id_hash: str, now: float, policy: SessionPolicy
) -> SessionEntry | None:
    """The check every request makes: one Core SELECT on a plain connection (no ORM unit
    of work). It writes only when the idle timer is due for its once-per-``touch_interval``
    refresh, or to delete a session that has just expired."""
    async with database.engine.connect() as conn:
        row = (await conn.execute(_LOOKUP, {"id_hash": id_hash})).first()
        if row is None:
            return None
        idle = now - row.last_seen_at > policy.idle_timeout.total_seconds()
        too_old = now - row.created_at > policy.absolute_timeout.total_seconds()
        if idle or too_old:
            await conn.execute(delete(WebSession).where(WebSession.id_hash == id_hash))
            await conn.commit()
            return None
        last_seen = row.last_seen_at
        if now - last_seen >= policy.touch_interval.total_seconds():
            touch = update(WebSession).where(WebSession.id_hash == id_hash)
            await conn.execute(touch.values(last_seen_at=now))
            await conn.commit()
            last_seen = now
    return SessionEntry(row.user_id, row.created_at, last_seen)


def needs_database(entry: SessionEntry, now: float, policy: SessionPolicy) -> bool:
    """True when a cached entry may not answer alone: its touch is due or it may have
    expired. A cache hit therefore never skips a write or outlives a timeout."""
    due = min(policy.touch_interval, policy.idle_timeout).total_seconds()
    too_old = now - entry.created_at > policy.absolute_timeout.total_seconds()
    return now - entry.last_seen_at >= due or too_old


class SessionManager(SessionCookie):
    """Creates, resolves and ends sessions; ``require_session`` is the FastAPI dependency.

    ``cache`` (off by default): see ``clouddocs.credential_cache``. ``end`` and ``end_all``
    forget what they ended, so this process refuses the cookie on the very next request;
    another process may accept it until its cache's TTL runs out.
    """

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock | None = None,
        policy: SessionPolicy | None = None,
        cookie_name: str = SESSION_COOKIE,
        cache: CredentialCache[SessionEntry] | None = None,
    ) -> None:
        self.database = database
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.policy = policy or SessionPolicy()
        self.cookie_name = cookie_name
        self.cache = cache

    async def start(self, db: AsyncSession, user_id: int, *, replacing: str | None = None) -> str:
        """Log ``user_id`` in with a brand-new id; the id the browser had before (if any)
        is deleted, so an id planted before login is worthless after it (fixation)."""
        if replacing is not None:
            await db.execute(
                delete(WebSession).where(WebSession.id_hash == hash_session_id(replacing))
            )
        session_id, now = new_session_id(), self.clock.time()
        db.add(WebSession(id_hash=hash_session_id(session_id), user_id=user_id,
                          created_at=now, last_seen_at=now))  # fmt: skip
        await db.commit()
        self._forget(hash_session_id(replacing) if replacing is not None else None)
        return session_id

    async def resolve(self, session_id: str) -> CurrentSession | None:
        """The live session for ``session_id``, or ``None`` (see ``lookup_session``). With a
        cache, a recent positive answer is reused: no statement at all."""
        id_hash, now = hash_session_id(session_id), self.clock.time()
        if self.cache is None:
            entry = await lookup_session(self.database, id_hash, now, self.policy)
        else:
            entry = self.cache.get(id_hash)
            if entry is None or needs_database(entry, now, self.policy):
                ticket = self.cache.ticket()  # before the read: see CredentialCache
                entry = await lookup_session(self.database, id_hash, now, self.policy)
                if entry is not None:
                    self.cache.put(id_hash, entry, ticket)  # only "live" is ever cached
        return None if entry is None else CurrentSession(entry.user_id, session_id)

    async def end(self, db: AsyncSession, session_id: str) -> None:
        """Logout: the row goes, so the cookie is dead even if a copy survives somewhere."""
        id_hash = hash_session_id(session_id)
        await db.execute(delete(WebSession).where(WebSession.id_hash == id_hash))
        await db.commit()
        self._forget(id_hash)  # after the commit: a miss in between cannot re-cache it

    async def end_all(self, db: AsyncSession, user_id: int) -> int:
        """Log out everywhere (after a password change, or a lost laptop); returns how many ended."""
        ended = await db.execute(delete(WebSession).where(WebSession.user_id == user_id))
        await db.commit()
        if self.cache is not None:
            self.cache.forget_where(lambda entry: entry.user_id == user_id)
        return int(getattr(ended, "rowcount", 0) or 0)

    def _forget(self, id_hash: str | None) -> None:
        if self.cache is not None and id_hash is not None:
            self.cache.forget(id_hash)
