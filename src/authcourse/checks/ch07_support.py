"""What chapter 7's checks share: a seeded CloudDocs world, row counters, test graphs.

Kept out of ``ch07.py`` so the cases stay readable. Nothing here answers an exercise.

No ``from __future__ import annotations``: the in-check FastAPI apps built here put the
learner's dependencies and models in annotations, which FastAPI must see as objects.
"""

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from authcourse.checks import expect, expect_equal
from authcourse.checks.core import CheckFailed, Namespace
from authcourse.client import asgi_client
from clouddocs.abac import Classification, Environment, Resource, Subject
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
from clouddocs.rebac import list_objects as reference_list_objects
from clouddocs.security import unauthorized

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
async def world(noise_tuples: int = 0, url: str | None = None) -> AsyncIterator[World]:
    """A fresh database (in memory unless ``url`` names one) with users, memberships,
    documents and sharing tuples."""
    db = Database(url) if url is not None else Database()
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


# --------------------------------------------------------------------------- case helpers


def plain_function(ns: Namespace, name: str) -> Callable[..., Any]:
    function = ns[name]
    if inspect.iscoroutinefunction(function):
        raise CheckFailed(
            f"calling {name}",
            "a plain function",
            "an `async def` (this must be a plain function, no `async`)",
        )
    return function  # type: ignore[no-any-return]


def async_function(ns: Namespace, name: str) -> Callable[..., Any]:
    function = ns[name]
    if not inspect.iscoroutinefunction(function):
        raise CheckFailed(
            f"calling {name}",
            "an `async def` function (it awaits the database)",
            "a plain function",
        )
    return function  # type: ignore[no-any-return]


def permission_app(ns: Namespace, permission: str) -> FastAPI:
    scheme = HTTPBearer(auto_error=False)

    async def authenticate(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(scheme)],
    ) -> Member:
        if credentials is None:
            raise unauthorized()
        return Member(
            user_id=7, tenant_id=1, role=Role(credentials.credentials.removeprefix("role-"))
        )

    guard = plain_function(ns, "require_permission")(permission, authenticate)
    app = FastAPI()

    @app.get("/guarded")
    async def guarded(member: Annotated[Member, Depends(guard)]) -> dict[str, Any]:
        return {"role": str(member.role), "user_id": member.user_id}

    return app


def as_role(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer role-{role}"}


MONDAY_9 = Environment(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))


SATURDAY_9 = Environment(MONDAY_9.now + timedelta(days=5))


MONDAY_NIGHT = Environment(MONDAY_9.now + timedelta(hours=13))


def abac_subject(
    role: str = "member",
    *,
    clearance: Classification = Classification.CONFIDENTIAL,
    region: str = "eu",
    tenant: int = 1,
) -> Subject:
    return Subject(user_id=7, tenant_id=tenant, role=Role(role), clearance=clearance, region=region)


def abac_resource(
    classification: Classification = Classification.INTERNAL, *, region: str = "eu", tenant: int = 1
) -> Resource:
    return Resource(tenant_id=tenant, owner_id=8, classification=classification, region=region)


def expect_decision(ns: Namespace, label: str, *request: Any, allowed: bool, rule: str) -> None:
    decision = plain_function(ns, "decide")(*request)
    if decision is None:
        raise CheckFailed(label, "a Decision", "None")
    got = "allowed" if decision.allowed else f"denied by {decision.rule!r}"
    expect(
        bool(decision.allowed) == allowed,
        label,
        "allowed" if allowed else f"denied by {rule!r}",
        got,
    )
    expect_equal(decision.rule, rule, f"{label}: the rule that decided")
    expect(
        isinstance(decision.reason, str) and decision.reason.strip(),
        f"{label}: the reason",
        "a reason in plain words",
        repr(decision.reason),
    )


def ask_has_relation(
    ns: Namespace, graph: TupleGraph, object: str, relation: str, user: str
) -> Any:
    label = f"has_relation(graph, {object!r}, {relation!r}, {user!r})"
    try:
        answer = plain_function(ns, "has_relation")(graph, object, relation, user)
    except Runaway:
        raise CheckFailed(
            label,
            f"an answer after a bounded walk (the graph has {len(graph)} tuples)",
            "more than 500 lookups: the walk goes round a cycle (keep a set of visited nodes)",
        ) from None
    except RecursionError:
        raise CheckFailed(
            label,
            "an answer",
            "RecursionError: the walk goes round a cycle (keep a set of visited nodes)",
        ) from None
    return answer


def expect_relation(
    ns: Namespace, graph: TupleGraph, object: str, relation: str, user: str, holds: bool, why: str
) -> None:
    answer = ask_has_relation(ns, graph, object, relation, user)
    expect(
        answer is holds,
        f"has_relation: does {user} hold {relation} on {object}? ({why})",
        str(holds),
        repr(answer),
    )


#: Tuples unrelated to the users asked about: enough that loading the table shows.
NOISE = 3_000


#: Rows a query may bring back to answer for the users of the sharing example.
ROW_BUDGET = 60


async def listed_objects(
    ns: Namespace, db: Any, object_type: str, relation: str, user: str
) -> tuple[list[str], int]:
    run = async_function(ns, "list_objects")
    with count_rows(db.engine) as rows:
        try:
            async with db.engine.connect() as connection:
                found = await run(connection, object_type, relation, user)
        except Runaway:
            raise CheckFailed(
                f"list_objects({object_type!r}, {relation!r}, {user!r})",
                "an answer",
                "more than 200 queries: the walk goes round a cycle (remember visited nodes)",
            ) from None
    return found, rows.total


def expected_objects(object_type: str, relation: str, user: str, *extra: str) -> list[str]:
    graph = TupleGraph([*sharing_tuples(*extra), *generate_tuples(GraphShape(NOISE, seed=70))])
    return reference_list_objects(graph, object_type, relation, user)


async def fetch_document(
    ns: Namespace, name: str, w: Any, member: Member, document: str
) -> tuple[Any, int]:
    query = async_function(ns, name)
    with count_rows(w.db.engine) as rows:
        async with w.db.sessions() as session:
            found = await query(session, member, w.documents[document])
            found_id = getattr(found, "id", found)
    return found_id, rows.total


async def expect_document(
    ns: Namespace, name: str, w: Any, member: Member, document: str, visible: bool, who: str
) -> None:
    found, _ = await fetch_document(ns, name, w, member, document)
    expected = w.documents[document] if visible else None
    expect(
        found == expected,
        f"{name} for {who}, document {document!r}",
        f"the document (id {expected})" if visible else "None",
        "None" if found is None else f"document id {found}",
    )


def profile_app(ns: Namespace, w: Any, member: Member) -> FastAPI:
    model = plain_function(ns, "profile_update_model")()
    update_profile = async_function(ns, "update_profile")
    app = FastAPI()

    @app.patch("/me")
    async def patch_me(
        body: model,  # type: ignore[valid-type]  # the learner's model, built at run time
        session: Annotated[AsyncSession, Depends(w.db.session)],
    ) -> dict[str, bool]:
        await update_profile(session, member, body)
        return {"ok": True}

    return app


async def display_names(w: Any) -> dict[int, str]:
    async with w.db.sessions() as session:
        return {
            row.id: row.display_name
            for row in (await session.execute(select(User.id, User.display_name))).all()
        }


async def patch_profile(ns: Namespace, w: Any, body: dict[str, Any]) -> int:
    async with asgi_client(profile_app(ns, w, w.member("carol", "viewer"))) as client:
        return (await client.patch("/me", json=body)).status_code
