"""Chapter 4 check helpers: fresh databases, in-check apps, reference signatures and spies.

Kept apart from ``ch04.py`` so the cases there read as what they check. No
``from __future__ import annotations``: the in-check FastAPI apps put the learner's
dependencies in ``Annotated[...]``, which FastAPI must see as objects.
"""

import hashlib
import hmac
import inspect
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from sqlalchemy import text

from authcourse.checks import expect
from authcourse.checks.core import CheckFailed, Namespace
from authcourse.clock import FrozenClock
from clouddocs.apikeys import (
    ApiKey,
    ApiKeyGuard,
    KeyLimiter,
    KeyPrincipal,
    display_hint,
    generate_api_key,
    issue_api_key,
    looks_like_api_key,
    verify_api_key,
)
from clouddocs.db import Database, Tenant
from clouddocs.ratelimit import RateDecision


@asynccontextmanager
async def fresh_database() -> AsyncIterator[tuple[Database, int]]:
    """An empty in-memory CloudDocs database with one tenant; yields (db, tenant id)."""
    db = Database()
    await db.create_all()
    async with db.sessions() as session:
        tenant = Tenant(name="Check Corp")
        session.add(tenant)
        await session.commit()
        tenant_id = tenant.id
    try:
        yield db, tenant_id
    finally:
        await db.dispose()


async def issue(
    db: Database, tenant_id: int, clock: FrozenClock, scopes: tuple[str, ...] = ("docs:read",)
) -> tuple[str, int]:
    async with db.sessions() as session:
        issued = await issue_api_key(
            session, tenant_id=tenant_id, name="check key", scopes=scopes, clock=clock
        )
        return issued.plaintext, issued.record.id


async def insert_raw_key(db: Database, tenant_id: int, clock: FrozenClock, scopes: str) -> str:
    """A key whose scope string is written as-is (bypassing scope validation)."""
    key = generate_api_key()
    async with db.sessions() as session:
        session.add(
            ApiKey(
                tenant_id=tenant_id,
                name="raw",
                digest=hashlib.sha256(key.encode()).hexdigest(),
                hint="cdk_live_…raw",
                scopes=scopes,
                created_at=clock.now(),
                expires_at=clock.now() + timedelta(days=1),
            )
        )
        await session.commit()
    return key


async def is_valid(db: Database, key: str, clock: FrozenClock) -> bool:
    async with db.sessions() as session:
        return await verify_api_key(session, key, clock) is not None


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def body_bits(key: str) -> str:
    return key[len("cdk_live_") : -6]


def coroutine_function(ns: Namespace, name: str) -> Any:
    """The learner's ``name``, refused in plain words unless it is an ``async def``."""
    function = ns[name]
    expect(
        inspect.iscoroutinefunction(function),
        f"calling {name}(...)",
        "an `async def`: it awaits the database session",
        "a plain function (write `async def` and `await` the session calls)",
    )
    return function


def plain(ns: Namespace, name: str) -> Any:
    """The learner's ``name``, refused in plain words if it was written as ``async def``."""
    function = ns[name]
    expect(
        not inspect.iscoroutinefunction(function),
        f"calling {name}(...)",
        "a plain function: this must be a plain function (no `async`)",
        "an `async def`, which returns a coroutine instead of the answer",
    )
    return function


async def stored_rows(db: Database) -> list[dict[str, Any]]:
    async with db.sessions() as session:
        rows = (await session.execute(text("SELECT * FROM api_keys"))).mappings().all()
        return [dict(row) for row in rows]


def same_hint(key: str) -> str:
    """A well-formed key that was never issued but shows the same hint as ``key``."""
    while True:
        other = generate_api_key()
        candidate = other[:9] + other[9:-4] + key[-4:]
        if display_hint(candidate) == display_hint(key) and candidate != key:
            return candidate


def url_app(ns: Namespace) -> FastAPI:
    app = FastAPI()

    @app.get("/documents")
    async def documents(key: Annotated[str, Depends(ns["read_api_key"])]) -> dict[str, str]:
        return {"received": key}

    return app


@asynccontextmanager
async def scoped_app(ns: Namespace) -> AsyncIterator[tuple[FastAPI, Database, int, FrozenClock]]:
    clock = FrozenClock()
    async with fresh_database() as (db, tenant_id):
        guard = ApiKeyGuard(db, clock)
        app = FastAPI()

        @app.get("/documents")
        async def read_documents(
            key: Annotated[
                KeyPrincipal, Depends(ns["require_scope"]("docs:read", guard.authenticate))
            ],
        ) -> dict[str, int]:
            return {"key_id": key.key_id}

        @app.post("/documents")
        async def write_documents(
            key: Annotated[
                KeyPrincipal, Depends(ns["require_scope"]("docs:write", guard.authenticate))
            ],
        ) -> dict[str, int]:
            return {"key_id": key.key_id}

        yield app, db, tenant_id, clock


OVERLAP = timedelta(hours=24)


async def rotate(ns: Namespace, db: Database, key_id: int, clock: FrozenClock) -> str:
    try:
        async with db.sessions() as session:
            successor = await coroutine_function(ns, "rotate_key")(session, key_id, clock, OVERLAP)
    except LookupError:
        successor = "LookupError (the key is active and was never rotated)"
    expect(
        isinstance(successor, str) and looks_like_api_key(successor),
        "rotate_key(...)",
        "the successor key's plaintext (a cdk_ key)",
        repr(successor)[:40],
    )
    return str(successor)


class RecordingLimiter(KeyLimiter):
    """A real limiter that also remembers which counters were hit."""

    def __init__(self, rate: str) -> None:
        super().__init__(rate)
        self.counters: list[str] = []

    async def hit(self, name: str) -> RateDecision:
        self.counters.append(name)
        return await super().hit(name)


@asynccontextmanager
async def limited_app(
    ns: Namespace,
) -> AsyncIterator[tuple[FastAPI, tuple[str, str], RecordingLimiter]]:
    clock = FrozenClock()
    async with fresh_database() as (db, tenant_id):
        guard = ApiKeyGuard(db, clock)
        limiter = RecordingLimiter("3/minute")
        app = FastAPI()

        @app.get("/documents")
        async def documents(
            key: Annotated[KeyPrincipal, Depends(ns["limit_per_key"](limiter, guard.authenticate))],
        ) -> dict[str, int]:
            return {"key_id": key.key_id}

        first, _ = await issue(db, tenant_id, clock)
        second, _ = await issue(db, tenant_id, clock)
        yield app, (first, second), limiter


SECRET = "whsec_check-secret-for-04-7"


BODY = b'{"type":"document.shared","document_id":7}'


def new_delivery_id() -> str:
    return "dlv_" + secrets.token_urlsafe(16)


def reference_header(
    timestamp: int, body: bytes = BODY, secret: str = SECRET, delivery_id: str | None = None
) -> str:
    """The header the lab's sign_webhook must produce (a fresh delivery id by default)."""
    delivery_id = delivery_id or new_delivery_id()
    message = f"{timestamp}.{delivery_id}.".encode() + body
    signature = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},id={delivery_id},v1={signature}"


def accept(receiver: Any, header: str | None, body: bytes = BODY) -> object:
    expect(
        not inspect.iscoroutinefunction(receiver.accept),
        "calling accept(header, body)",
        "a plain method: this must be a plain function (no `async`)",
        "an `async def`, which returns a coroutine instead of True or False",
    )
    try:
        return receiver.accept(header, body)
    except (NotImplementedError, CheckFailed):
        raise  # the stub (not started yet) or a plain-words failure
    except Exception as error:  # the task says: malformed → False, never raise
        return f"an exception ({type(error).__name__}) instead of True or False"


def remembered(receiver: Any) -> int:
    """How many entries the receiver holds in its containers (one level of nesting too)."""
    total = 0
    for value in vars(receiver).values():
        if isinstance(value, str | bytes):
            continue
        if hasattr(value, "__len__"):
            total += len(value)
        elif hasattr(value, "__dict__"):
            total += sum(
                len(inner)
                for inner in vars(value).values()
                if hasattr(inner, "__len__") and not isinstance(inner, str | bytes)
            )
    return total


@contextmanager
def compare_digest_answering(receiver: Any, answer: bool) -> Iterator[list[int]]:
    """Make hmac.compare_digest (however the learner reaches it) answer ``answer``; count calls.

    A receiver whose decision follows compare_digest must then refuse a genuine delivery
    (answer False) and accept a forged one (answer True). A stray compare_digest call next to
    an ``==`` that really decides cannot pass both.
    """
    calls: list[int] = []

    def forced(left: Any, right: Any) -> bool:
        calls.append(1)
        return answer

    method_globals: dict[str, Any] = getattr(type(receiver).accept, "__globals__", {})
    originals = [(hmac, hmac.compare_digest), (secrets, secrets.compare_digest)]
    for module, _ in originals:
        module.compare_digest = forced  # type: ignore[attr-defined]
    had_name = "compare_digest" in method_globals
    previous = method_globals.get("compare_digest")
    if had_name:
        method_globals["compare_digest"] = forced
    try:
        yield calls
    finally:
        for module, original in originals:
            module.compare_digest = original  # type: ignore[attr-defined]
        if had_name:
            method_globals["compare_digest"] = previous
