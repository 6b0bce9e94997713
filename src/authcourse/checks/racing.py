"""Two requests at once, deterministically: the sessions of a race take turns.

A check that teaches atomicity runs the learner's operation twice with ``asyncio.gather``
on a SQLite *file* (the in-memory database is one shared connection, on which two
"requests" share one transaction and prove nothing). Left to the scheduler, the two calls
may still run one after the other on a loaded machine, and a racy answer would pass.
``racing_sessions`` makes them interleave the way two requests on two servers can: after
each statement (and before each commit) a session waits until every other session of the
race has run as many statements, so both read before either writes.

A session that is waiting for a database lock cannot take its turn: the others wait for
it at most ``patience`` seconds, then go on (SQLite then serialises the writers, as it
must). ``autocommit=True`` makes each statement its own transaction, so no lock is held
between statements: the interleaving PostgreSQL's READ COMMITTED allows, which SQLite's
whole-database write lock would otherwise hide (two UPDATEs that match no row, then two
INSERTs).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clouddocs.db import Database


class Turns:
    """Lockstep for the sessions of one race."""

    def __init__(self, patience: float = 0.2) -> None:
        self.patience = patience
        self._steps: dict[int, int] = {}
        self._changed: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:  # made on first use, inside the race's event loop
            self._changed = asyncio.Condition()
        return self._changed

    def join(self, session: object) -> None:
        self._steps[id(session)] = 0

    async def leave(self, session: object) -> None:
        changed = self._condition()
        async with changed:
            self._steps.pop(id(session), None)
            changed.notify_all()

    async def step(self, session: object) -> None:
        changed = self._condition()
        async with changed:
            mine = self._steps.get(id(session), 0) + 1
            self._steps[id(session)] = mine
            changed.notify_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    changed.wait_for(lambda: all(n >= mine for n in self._steps.values())),
                    self.patience,
                )


class TakingTurnsSession(AsyncSession):
    """An ``AsyncSession`` that takes its turn after each statement and before commit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns: Turns = self.info["turns"]
        self._turns.join(self)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        result = await super().execute(*args, **kwargs)
        await self._turns.step(self)
        return result

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        found = await super().get(*args, **kwargs)
        await self._turns.step(self)
        return found

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        found = await super().scalar(*args, **kwargs)
        await self._turns.step(self)
        return found

    async def scalars(self, *args: Any, **kwargs: Any) -> Any:
        found = await super().scalars(*args, **kwargs)
        await self._turns.step(self)
        return found

    async def commit(self) -> None:
        await self._turns.step(self)
        await super().commit()

    async def close(self) -> None:
        await self._turns.leave(self)
        await super().close()


def racing_sessions(
    db: Database, *, autocommit: bool = False
) -> async_sessionmaker[TakingTurnsSession]:
    """Sessions on ``db`` (a SQLite file) that take turns with each other."""
    engine = db.engine.execution_options(isolation_level="AUTOCOMMIT") if autocommit else db.engine
    return async_sessionmaker(
        engine, class_=TakingTurnsSession, expire_on_commit=False, info={"turns": Turns()}
    )


def no_fsync(db: Database) -> None:
    """A throwaway file needs no fsync (ten times faster here); locking works as ever."""
    event.listen(db.engine.sync_engine, "connect", _no_fsync)


def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.execute("PRAGMA journal_mode=MEMORY")
    cursor.close()


@contextlib.asynccontextmanager
async def file_database(folder: str) -> AsyncIterator[Database]:
    """A SQLite file in ``folder``, disposed of even when the learner's code raises."""
    db = Database(f"sqlite+aiosqlite:///{folder}/race.db")
    no_fsync(db)
    try:
        yield db
    finally:
        await db.dispose()
