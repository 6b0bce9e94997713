"""The peer: fastapi-users serving ``GET /me`` behind its JWT strategy, timed on request.

Not imported by the course: :mod:`authcourse.bench.peer` runs this file as a script with
the Python of ``.venv-peer`` (fastapi-users pins SQLAlchemy below 2.1, the course uses
2.1). It sets up the library the way its documentation does (a SQLAlchemy user table,
``SQLAlchemyUserDatabase``, a ``UserManager``, ``BearerTransport`` + ``JWTStrategy``,
``current_user(active=True)``), on in-memory SQLite through aiosqlite with one shared
connection, as ``clouddocs.db`` does, and serves two routes with the same tiny body as the
bench app: ``/open`` (unprotected) and ``/me`` (the library's JWT check and user lookup).

The samples are taken by the course's own harness, ``timing.py`` next to this file,
loaded by path (it needs only the standard library), in-process over an ``httpx2`` ASGI
client. The parent drives it over stdin/stdout, one JSON object per line:

- on start it prints ``{"ready": true, "labels": [...], "versions": {...}}``;
- ``{"op": "block", "label": L, "count": n}`` answers ``{"samples": [n floats, ns]}``;
- ``{"op": "quit"}`` or the end of stdin stops it. Any failure answers ``{"error": ...}``.
"""

# This file runs under another environment: mypy (course environment) cannot see
# fastapi-users, so its names are Any here; the peer's own types are its business.
# mypy: disable-error-code="import-not-found, misc, no-any-unimported"

# No `from __future__ import annotations` here: FastAPI must evaluate the dependencies'
# annotations, and they name functions local to build().

import asyncio
import importlib.util
import json
import sys
import uuid
from collections.abc import AsyncIterator
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import httpx2
from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users.db import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import StaticPool

#: Fixed so runs are comparable; a bench-only secret, never a real one.
SECRET = "authcourse-bench-peer-hs256-secret-32bytes!!"
OPEN = "unprotected"
ME = "GET /me"
VERSIONS_OF = ("fastapi-users", "fastapi-users-db-sqlalchemy", "fastapi", "starlette",
               "pydantic", "sqlalchemy", "aiosqlite", "pyjwt", "httpx2")  # fmt: skip


def load_timing() -> ModuleType:
    """The course's ``timing.py``, by path (the course package is not installed here)."""
    path = Path(__file__).with_name("timing.py")
    spec = importlib.util.spec_from_file_location("authcourse_bench_timing", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while creating classes
    spec.loader.exec_module(module)
    return module


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    pass


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


def build() -> tuple[FastAPI, Any, Any, Any]:
    """The app, plus what setting up a user and a token needs (engine, manager factory, strategy)."""
    engine = create_async_engine(
        "sqlite+aiosqlite:///:memory:",
        poolclass=StaticPool,
        connect_args={"check_same_thread": False},
    )
    session_maker = async_sessionmaker(engine, expire_on_commit=False)

    async def get_async_session() -> AsyncIterator[AsyncSession]:
        async with session_maker() as session:
            yield session

    async def get_user_db(
        session: Annotated[AsyncSession, Depends(get_async_session)],
    ) -> AsyncIterator[SQLAlchemyUserDatabase]:
        yield SQLAlchemyUserDatabase(session, User)

    async def get_user_manager(
        user_db: Annotated[SQLAlchemyUserDatabase, Depends(get_user_db)],
    ) -> AsyncIterator[UserManager]:
        yield UserManager(user_db)

    def get_jwt_strategy() -> JWTStrategy:
        return JWTStrategy(secret=SECRET, lifetime_seconds=3600)

    backend = AuthenticationBackend(
        name="jwt",
        transport=BearerTransport(tokenUrl="auth/jwt/login"),
        get_strategy=get_jwt_strategy,
    )
    users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])
    current_active_user = users.current_user(active=True)

    app = FastAPI(title="fastapi-users peer")
    body = {"ok": True}

    @app.get("/open")
    async def open_endpoint() -> dict[str, bool]:
        return body

    @app.get("/me")
    async def me(user: Annotated[User, Depends(current_active_user)]) -> dict[str, bool]:
        return body

    async def manager() -> AsyncIterator[UserManager]:
        async with session_maker() as session:
            yield UserManager(SQLAlchemyUserDatabase(session, User))

    return app, engine, manager, get_jwt_strategy()


async def main() -> None:
    timing = load_timing()
    app, engine, manager, strategy = build()
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    async for user_manager in manager():
        # The library's own registration path (it hashes the password with pwdlib).
        user = await user_manager.create(
            schemas.BaseUserCreate(email="bench@example.com", password="correct horse battery")
        )
        token = await strategy.write_token(user)
    calls = {
        OPEN: timing.HttpCall("GET", "/open"),
        ME: timing.HttpCall("GET", "/me", {"headers": {"Authorization": f"Bearer {token}"}}),
    }
    versions = {name: _version(name) for name in VERSIONS_OF}
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="https://peer.test") as client:
        runners = {label: timing.request_runner(client, call) for label, call in calls.items()}
        for runner in runners.values():  # one request each: a broken route fails right here
            await runner(1)
        _answer({"ready": True, "labels": list(calls), "versions": versions})
        while line := await asyncio.to_thread(sys.stdin.readline):
            command = json.loads(line)
            if command.get("op") == "quit":
                break
            try:
                if command.get("op") != "block":
                    raise ValueError(f"unknown command {command!r}")
                samples = await runners[command["label"]](int(command["count"]))
            except Exception as error:  # reported to the parent, which fails the row
                _answer({"error": f"{type(error).__name__}: {error}"})
            else:
                _answer({"samples": list(samples)})
    await engine.dispose()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
