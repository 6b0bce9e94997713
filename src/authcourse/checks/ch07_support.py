"""What chapter 7's checks share: a seeded CloudDocs world, row counters, test graphs.

Kept out of ``ch07.py`` so the cases stay readable. Nothing here answers an exercise.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from clouddocs.db import Database, Document, Tenant, User
from clouddocs.rbac import Member, Membership, Role
from clouddocs.rebac import (
    GraphShape,
    RelationTuple,
    TupleGraph,
    TupleRow,
    generate_tuples,
    row_values,
)

#: The chapter's sharing example: folders, nested groups, an owner on a folder.
SHARING = [
    "document:roadmap#parent@folder:product",
    "document:salaries#parent@folder:hr",
    "document:minutes#viewer@user:bob",
    "document:specs#parent@folder:design-docs",
    "folder:design-docs#parent@folder:product",
    "folder:product#parent@folder:acme-root",
    "folder:hr#parent@folder:acme-root",
    "folder:acme-root#viewer@group:staff#member",
    "folder:hr#owner@user:alice",
    "folder:product#editor@group:design#member",
    "group:staff#member@group:design#member",
    "group:design#member@group:ux#member",
    "group:ux#member@user:carol",
    "group:staff#member@user:bob",
]
#: design ⊂ staff and, from now on, staff ⊂ design: a cycle.
CYCLE = "group:design#member@group:staff#member"


def sharing_tuples(*extra: str) -> list[RelationTuple]:
    return [RelationTuple.parse(text) for text in [*SHARING, *extra]]


class Runaway(BaseException):
    """Raised inside the learner's walk when it keeps going far past the graph's size."""


class CountingGraph(TupleGraph):
    """A TupleGraph that counts lookups and stops a walk that never ends."""

    def __init__(self, tuples: Sequence[RelationTuple], budget: int = 500) -> None:
        super().__init__(tuples)
        self.lookups = 0
        self.budget = budget

    def subjects_of(self, object: str, relation: str) -> Sequence[str]:
        self.lookups += 1
        if self.lookups > self.budget:
            raise Runaway()
        return super().subjects_of(object, relation)


@dataclass
class RowCount:
    """Rows the database sent back to Python while the block ran, statement by statement."""

    per_statement: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.per_statement)


@contextlib.contextmanager
def count_rows(engine: AsyncEngine, max_statements: int = 200) -> Iterator[RowCount]:
    """Count result rows fetched from SQLite (aiosqlite buffers them all at execute time).

    Past ``max_statements`` statements, raises :class:`Runaway`: a walk issuing one query per
    step without remembering where it has been goes round a cycle forever.
    """
    seen = RowCount()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if len(seen.per_statement) >= max_statements:
            raise Runaway()
        rows = getattr(cursor, "_rows", None)
        if rows is None and cursor.description is not None:
            raise RuntimeError("cannot count rows with this SQLAlchemy version")
        seen.per_statement.append(len(rows) if rows is not None else 0)

    event.listen(engine.sync_engine, "after_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "after_cursor_execute", record)


@dataclass
class World:
    """Two tenants. erin belongs to both: viewer at Acme, member at Globex."""

    db: Database
    acme: int
    globex: int
    users: dict[str, int]
    documents: dict[str, int]

    def member(self, name: str, role: Role | str, tenant: str = "acme") -> Member:
        tenant_id = self.acme if tenant == "acme" else self.globex
        return Member(user_id=self.users[name], tenant_id=tenant_id, role=Role(role))


@contextlib.asynccontextmanager
async def world(noise_tuples: int = 0) -> AsyncIterator[World]:
    """A fresh in-memory database with users, memberships, documents and sharing tuples."""
    db = Database()
    await db.create_all()
    try:
        async with db.sessions() as session:
            acme, globex = Tenant(name="Acme Corp"), Tenant(name="Globex")
            session.add_all([acme, globex])
            await session.flush()
            homes = {"alice": acme, "bob": acme, "carol": acme, "dave": globex, "erin": globex}
            users = {
                n: User(tenant_id=t.id, email=f"{n}@check.test", display_name=n)
                for n, t in homes.items()
            }
            session.add_all(users.values())
            await session.flush()
            roles = [
                ("alice", acme, "owner"),
                ("bob", acme, "member"),
                ("carol", acme, "viewer"),
                ("dave", globex, "admin"),
                ("erin", globex, "member"),
                ("erin", acme, "viewer"),
            ]
            session.add_all(
                Membership(tenant_id=t.id, user_id=users[n].id, role=r) for n, t, r in roles
            )
            documents = {
                "roadmap": Document(
                    tenant_id=acme.id, owner_id=users["bob"].id, title="Roadmap", body=""
                ),
                "minutes": Document(
                    tenant_id=acme.id, owner_id=users["alice"].id, title="Minutes", body=""
                ),
                "pricing": Document(
                    tenant_id=globex.id, owner_id=users["dave"].id, title="Pricing", body=""
                ),
                "erin-notes": Document(
                    tenant_id=globex.id, owner_id=users["erin"].id, title="Notes", body=""
                ),
            }
            session.add_all(documents.values())
            await session.flush()
            tuples = sharing_tuples()
            if noise_tuples:
                tuples += generate_tuples(GraphShape(noise_tuples, seed=70))
            await session.execute(insert(TupleRow), [row_values(t) for t in tuples])
            await session.commit()
            yield World(
                db,
                acme.id,
                globex.id,
                {n: u.id for n, u in users.items()},
                {n: d.id for n, d in documents.items()},
            )
    finally:
        await db.dispose()
