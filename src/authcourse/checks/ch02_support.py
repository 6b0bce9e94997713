"""Fixtures and helpers for chapter 2's checks (``authcourse.checks.ch02``).

Each case builds its own database, clock and app through these helpers, so a check never
depends on notebook state. The seeded database (and the leaky login app 02.7 attacks) come
from ``authcourse.lab_helpers.ch02``, where the lab imports them too.
"""

# No `from __future__ import annotations`: FastAPI must resolve the Annotated[..., Depends(x)]
# hints of the nested endpoint below, whose dependency is a local variable.

import contextlib
import functools
import hashlib
import hmac
import inspect
import secrets
import tempfile
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from sqlalchemy import event

from authcourse.checks import CheckFailed
from authcourse.checks.core import Namespace
from authcourse.client import asgi_client
from authcourse.clock import FrozenClock
from authcourse.lab_helpers.ch02 import database_with_users as seeded_database
from clouddocs.db import Base, Database, User
from clouddocs.lockout import LoginThrottle  # noqa: F401  (puts login_throttles on Base.metadata)
from clouddocs.passwords import TEST_ARGON2, PasswordHasher

ORIGIN = "https://clouddocs.test"
SESSION_COOKIE = "__Host-session"

_opened = threading.local()  # databases a case created, closed when the case ends


def closes_databases(
    case: Callable[[Namespace], Awaitable[None]],
) -> Callable[[Namespace], Awaitable[None]]:
    """Dispose of every database the case opened (each case runs on its own event loop)."""

    @functools.wraps(case)
    async def run(ns: Namespace) -> None:
        _opened.databases = []
        _opened.folders = []
        try:
            await case(ns)
        finally:
            for database in _opened.databases:
                await database.dispose()
            for folder in _opened.folders:
                folder.cleanup()

    return run


def _track(database: Database) -> Database:
    getattr(_opened, "databases", []).append(database)
    return database


async def throttle_database(*, in_file: bool = False) -> Database:
    """A database holding only the ``login_throttles`` table. ``in_file`` puts it in a file
    of a temporary folder: concurrency cases need that, because the in-memory database shares
    one connection, so parallel requests would share one transaction and prove nothing."""
    if in_file:
        folder = tempfile.TemporaryDirectory(prefix="authcourse-ch02-")
        getattr(_opened, "folders", []).append(folder)
        database = _track(Database(f"sqlite+aiosqlite:///{Path(folder.name) / 'check.db'}"))
        # A throwaway file: durability does not matter, speed does (a check answers in < 1 s).
        event.listen(database.engine.sync_engine, "connect", _no_fsync)
    else:
        database = _track(Database())
    async with database.engine.begin() as connection:
        await connection.run_sync(
            Base.metadata.create_all, tables=[Base.metadata.tables["login_throttles"]]
        )
    return database


def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


async def database_with_users(
    hasher: PasswordHasher, users: dict[str, str] | None = None
) -> tuple[Database, dict[str, User]]:
    """The lab's seeded database (``authcourse.lab_helpers.ch02``), closed when the case ends."""
    database, created = await seeded_database(hasher, users)
    return _track(database), created


class CountingHasher(PasswordHasher):
    """A cheap hasher that counts verifications (to see whether unknown emails cost work)."""

    def __init__(self) -> None:
        self.verifications = 0
        super().__init__(TEST_ARGON2)

    def verify(self, stored_hash: str, password: str) -> bool:
        self.verifications += 1
        return super().verify(stored_hash, password)


def plain(value: Any, name: str) -> Any:
    """``value`` as returned by the learner's ``name``; a coroutine means they wrote
    ``async def`` where a plain function is asked for: say so (and close it, so Python does
    not warn about a coroutine that was never awaited)."""
    if inspect.iscoroutine(value):
        value.close()
        raise CheckFailed(
            f"calling {name}", "a plain function (no `async`)", "an `async def` function"
        )
    return value


@contextlib.contextmanager
def spy_on_compare_digest(functions: list[Any]) -> Iterator[list[tuple[Any, Any]]]:
    """Record every call to hmac.compare_digest, however the learner imported it."""
    original = hmac.compare_digest
    calls: list[tuple[Any, Any]] = []

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return original(a, b)

    namespaces = [hmac.__dict__, secrets.__dict__]
    namespaces += [fn.__globals__ for fn in functions if hasattr(fn, "__globals__")]
    patched = [(space, name) for space in namespaces for name, v in space.items() if v is original]
    for space, name in patched:
        space[name] = spy
    try:
        yield calls
    finally:
        for space, name in patched:
            space[name] = original


def as_text(value: Any) -> Any:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


# -- helpers of single exercises ----------------------------------------------------

#: hash_password -> {password: its hash}. At OWASP cost each hash takes 20-40 ms, so the
#: cases share one hash per learner function (a re-run cell is a new function: no staleness).
_hashes: "weakref.WeakKeyDictionary[Any, dict[str, Any]]" = weakref.WeakKeyDictionary()


def hash_once(ns: Namespace, password: str) -> Any:
    """``hash_password(password)``, computed once per version of the learner's function."""
    hash_password = ns["hash_password"]
    try:
        known = _hashes.setdefault(hash_password, {})
    except TypeError:  # not weak-referenceable (a builtin, say): just call it
        return plain(hash_password(password), "hash_password")
    if password not in known:
        known[password] = plain(hash_password(password), "hash_password")
    return known[password]

async def session_fixture() -> tuple[Database, int, FrozenClock]:
    database, users = await database_with_users(
        PasswordHasher(TEST_ARGON2), {"ada@example.com": "x"}
    )
    return database, users["ada@example.com"].id, FrozenClock()


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()

def csrf_app(verify: Callable[..., Any]) -> FastAPI:
    app = FastAPI()

    @app.get("/documents", dependencies=[Depends(verify)])
    async def list_documents() -> dict[str, str]:
        return {"documents": "listed"}

    @app.post("/documents", dependencies=[Depends(verify)])
    async def create_document() -> dict[str, str]:
        return {"documents": "created"}

    return app


async def csrf_post(
    ns: Namespace, *, session_id: str, token: str | None, origin: str = ORIGIN
) -> int:
    headers = {"Origin": origin}
    if token is not None:
        headers["X-CSRF-Token"] = token
    async with asgi_client(csrf_app(ns["verify_csrf"]), headers=headers) as client:
        client.cookies.set(SESSION_COOKIE, session_id, domain="clouddocs.test")
        return (await client.post("/documents")).status_code

async def lockout_for(ns: Namespace, *, in_file: bool = False) -> tuple[Any, FrozenClock]:
    clock = FrozenClock()
    return ns["Lockout"](await throttle_database(in_file=in_file), clock), clock


async def attempts(lockout: Any, email: str, times: int) -> list[Any]:
    return [await lockout.begin_attempt(email) for _ in range(times)]
