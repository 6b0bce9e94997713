"""Counters for the deterministic per-request budgets (DESIGN.md §12).

Timings belong to ``make bench``; tests pin what does not vary from run to run: how many SQL
statements a credential check sends, how many of them write, how many times a request hops
to the thread pool, and how many calls cross into aiosqlite's worker thread.

    with count_statements(db.engine) as sql, count_threadpool_hops() as hops:
        response = await client.get("/me", cookies=...)
    assert len(sql.statements) == 1 and hops.count == 0

Import it as ``from hot_path import …`` (``tests/`` is on ``sys.path``, see lab_support).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiosqlite.core
import anyio.to_thread
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass
class Statements:
    """The SQL statements sent while the block ran, in order."""

    statements: list[str] = field(default_factory=list)

    @property
    def writes(self) -> list[str]:
        verbs = ("INSERT", "UPDATE", "DELETE")
        return [sql for sql in self.statements if sql.lstrip().upper().startswith(verbs)]


@contextlib.contextmanager
def count_statements(engine: AsyncEngine) -> Iterator[Statements]:
    """Record every statement the engine sends to the database inside the block."""
    seen = Statements()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


@dataclass
class Counter:
    count: int = 0


@contextlib.contextmanager
def count_threadpool_hops() -> Iterator[Counter]:
    """Count calls to ``anyio.to_thread.run_sync``: how Starlette runs a plain ``def``
    dependency or endpoint, and how ``run_in_threadpool`` gets there too."""
    counter = Counter()
    original = anyio.to_thread.run_sync

    async def counting(*args: Any, **kwargs: Any) -> Any:
        counter.count += 1
        return await original(*args, **kwargs)

    anyio.to_thread.run_sync = counting  # type: ignore[assignment]
    try:
        yield counter
    finally:
        anyio.to_thread.run_sync = original


@contextlib.contextmanager
def count_aiosqlite_calls() -> Iterator[Counter]:
    """Count the calls queued to aiosqlite's worker thread (each one a thread round trip)."""
    counter = Counter()
    original = aiosqlite.core.Connection._execute

    async def counting(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counter.count += 1
        return await original(self, fn, *args, **kwargs)

    aiosqlite.core.Connection._execute = counting  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        aiosqlite.core.Connection._execute = original  # type: ignore[method-assign]
