"""Chapter 7 lab: authorization — RBAC, ABAC, ReBAC, BOLA-safe queries, mass assignment.

Every case runs the learner's code for real: dependencies inside in-process FastAPI apps,
policies over attribute matrices, graph walks over the chapter's sharing tuples (with cycles,
and a lookup budget so a walk that never ends fails fast), SQL against fresh SQLite databases
whose returned rows are counted.

No ``from __future__ import annotations`` here: the in-check FastAPI apps put the learner's
dependencies and models in annotations, which FastAPI must see as objects, not strings.
"""

import inspect
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from authcourse.checks import exercise, expect, expect_equal
from authcourse.checks.ch07_support import (
    CYCLE,
    CountingGraph,
    Runaway,
    count_rows,
    sharing_tuples,
    world,
)
from authcourse.checks.core import CheckFailed, Namespace
from authcourse.client import asgi_client
from clouddocs.abac import Classification, Environment, Resource, Subject
from clouddocs.db import User
from clouddocs.rbac import PERMISSIONS, ROLE_PERMISSIONS, Member, Role
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


def _plain(ns: Namespace, name: str) -> Callable[..., Any]:
    function = ns[name]
    if inspect.iscoroutinefunction(function):
        raise CheckFailed(
            f"calling {name}",
            "a plain function",
            "an `async def` (this must be a plain function, no `async`)",
        )
    return function  # type: ignore[no-any-return]


def _coroutine(ns: Namespace, name: str) -> Callable[..., Any]:
    function = ns[name]
    if not inspect.iscoroutinefunction(function):
        raise CheckFailed(
            f"calling {name}",
            "an `async def` function (it awaits the database)",
            "a plain function",
        )
    return function  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- 07.1

rbac = exercise(
    "07.1",
    "The RBAC dependency",
    points=2,
    needs=("require_permission",),
    hints=(
        "Inside, define `async def dependency(member: Annotated[Member, Depends(authenticate)])`, "
        "check `permission in ROLE_PERMISSIONS[member.role]`, and return it.",
        '403 is HTTPException(status.HTTP_403_FORBIDDEN, f"Missing permission: {permission}").',
        "Validate `permission in PERMISSIONS` before defining the inner function.",
    ),
)


def _permission_app(ns: Namespace, permission: str) -> FastAPI:
    scheme = HTTPBearer(auto_error=False)

    async def authenticate(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(scheme)],
    ) -> Member:
        if credentials is None:
            raise unauthorized()
        return Member(
            user_id=7, tenant_id=1, role=Role(credentials.credentials.removeprefix("role-"))
        )

    guard = _plain(ns, "require_permission")(permission, authenticate)
    app = FastAPI()

    @app.get("/guarded")
    async def guarded(member: Annotated[Member, Depends(guard)]) -> dict[str, Any]:
        return {"role": str(member.role), "user_id": member.user_id}

    return app


def _as(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer role-{role}"}


@rbac.case("a member asking for documents:write is let through, with their Member", positive=True)
async def _(ns: Namespace) -> None:
    async with asgi_client(_permission_app(ns, "documents:write")) as client:
        response = await client.get("/guarded", headers=_as("member"))
    expect(
        response.status_code == 200,
        "a member calling a route that needs documents:write",
        "200",
        response.status_code,
    )
    expect_equal(response.json(), {"role": "member", "user_id": 7}, "the member the route received")


@rbac.case("a viewer asking for documents:write gets a 403 naming the permission")
async def _(ns: Namespace) -> None:
    async with asgi_client(_permission_app(ns, "documents:write")) as client:
        response = await client.get("/guarded", headers=_as("viewer"))
    expect(
        response.status_code == 403,
        "a viewer calling a route that needs documents:write",
        "403 (authenticated, not allowed; 401 would mean 'log in again')",
        response.status_code,
    )
    detail = str(response.json().get("detail", ""))
    expect(
        "documents:write" in detail,
        "reading the 403's detail",
        "the missing permission named",
        repr(detail),
    )


@rbac.case("each role gets exactly its own permissions")
async def _(ns: Namespace) -> None:
    for permission in sorted(PERMISSIONS):
        async with asgi_client(_permission_app(ns, permission)) as client:
            for role in Role:
                status = (await client.get("/guarded", headers=_as(role))).status_code
                allowed = permission in ROLE_PERMISSIONS[role]
                expect(
                    status == (200 if allowed else 403),
                    f"a {role} asking for {permission}",
                    "200" if allowed else "403",
                    status,
                )


@rbac.case("an unknown permission is refused when the dependency is created")
def _(ns: Namespace) -> None:
    async def authenticate() -> Member:
        return Member(user_id=1, tenant_id=1, role=Role.OWNER)

    try:
        _plain(ns, "require_permission")("documents:wirte", authenticate)
    except ValueError:
        return
    raise CheckFailed(
        "require_permission('documents:wirte', ...) (a typo)",
        "a ValueError at once",
        "no error: the typo would deny everyone, silently",
    )


# --------------------------------------------------------------------------- 07.2

abac = exercise(
    "07.2",
    "An ABAC policy with reasons",
    points=3,
    needs=("decide",),
    hints=(
        "One `if` per rule, in the order of the task, each returning Decision(False, rule, reason).",
        "Classification is an IntEnum: `resource.classification > subject.clearance` compares levels.",
        "Only CONFIDENTIAL and above are 'sensitive'; the hours rule skips reads.",
    ),
)

MONDAY_9 = Environment(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
SATURDAY_9 = Environment(MONDAY_9.now + timedelta(days=5))
MONDAY_NIGHT = Environment(MONDAY_9.now + timedelta(hours=13))


def _subject(
    role: str = "member",
    *,
    clearance: Classification = Classification.CONFIDENTIAL,
    region: str = "eu",
    tenant: int = 1,
) -> Subject:
    return Subject(user_id=7, tenant_id=tenant, role=Role(role), clearance=clearance, region=region)


def _resource(
    classification: Classification = Classification.INTERNAL, *, region: str = "eu", tenant: int = 1
) -> Resource:
    return Resource(tenant_id=tenant, owner_id=8, classification=classification, region=region)


def _decide(ns: Namespace, label: str, *request: Any, allowed: bool, rule: str) -> None:
    decision = _plain(ns, "decide")(*request)
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


@abac.case(
    "a member reads an internal document of their tenant: allowed, with a reason", positive=True
)
def _(ns: Namespace) -> None:
    _decide(
        ns,
        "a member reading an internal document",
        _subject(),
        "read",
        _resource(),
        MONDAY_9,
        allowed=True,
        rule="allow",
    )


@abac.case(
    "a member edits a confidential document in its region on Monday 09:00: allowed", positive=True
)
def _(ns: Namespace) -> None:
    _decide(
        ns,
        "a member editing a confidential document, in region, in hours",
        _subject(),
        "write",
        _resource(Classification.CONFIDENTIAL),
        MONDAY_9,
        allowed=True,
        rule="allow",
    )


@abac.case("another tenant's document is denied by the tenant rule")
def _(ns: Namespace) -> None:
    _decide(
        ns,
        "reading a public document of another tenant",
        _subject(),
        "read",
        _resource(Classification.PUBLIC, tenant=2),
        MONDAY_9,
        allowed=False,
        rule="tenant",
    )


@abac.case("a viewer asking to write is denied by the role rule")
def _(ns: Namespace) -> None:
    _decide(
        ns,
        "a viewer writing an internal document",
        _subject("viewer"),
        "write",
        _resource(),
        MONDAY_9,
        allowed=False,
        rule="role",
    )
    _decide(
        ns,
        "a member deleting a document",
        _subject("member"),
        "delete",
        _resource(),
        MONDAY_9,
        allowed=False,
        rule="role",
    )


@abac.case("a document above the subject's clearance is denied by the clearance rule")
def _(ns: Namespace) -> None:
    _decide(
        ns,
        "a CONFIDENTIAL-cleared member reading a RESTRICTED document",
        _subject(),
        "read",
        _resource(Classification.RESTRICTED),
        MONDAY_9,
        allowed=False,
        rule="clearance",
    )
    _decide(
        ns,
        "an INTERNAL-cleared member reading an INTERNAL document",
        _subject(clearance=Classification.INTERNAL),
        "read",
        _resource(),
        MONDAY_9,
        allowed=True,
        rule="allow",
    )


@abac.case("sensitive data outside its region is denied by the region rule, other data is not")
def _(ns: Namespace) -> None:
    _decide(
        ns,
        "a member in the US reading an EU confidential document",
        _subject(region="us"),
        "read",
        _resource(Classification.CONFIDENTIAL),
        MONDAY_9,
        allowed=False,
        rule="region",
    )
    _decide(
        ns,
        "a member in the US reading an EU internal document",
        _subject(region="us"),
        "read",
        _resource(),
        MONDAY_9,
        allowed=True,
        rule="allow",
    )


@abac.case("changes to sensitive documents outside business hours are denied; reads are not")
def _(ns: Namespace) -> None:
    confidential = _resource(Classification.CONFIDENTIAL)
    _decide(
        ns,
        "editing a confidential document on Saturday",
        _subject(),
        "write",
        confidential,
        SATURDAY_9,
        allowed=False,
        rule="hours",
    )
    _decide(
        ns,
        "editing a confidential document on Monday at 22:00",
        _subject(),
        "write",
        confidential,
        MONDAY_NIGHT,
        allowed=False,
        rule="hours",
    )
    _decide(
        ns,
        "reading a confidential document on Saturday",
        _subject(),
        "read",
        confidential,
        SATURDAY_9,
        allowed=True,
        rule="allow",
    )
    _decide(
        ns,
        "editing an internal document on Saturday",
        _subject(),
        "write",
        _resource(),
        SATURDAY_9,
        allowed=True,
        rule="allow",
    )


@abac.case("the rules apply in order: the first denial decides")
def _(ns: Namespace) -> None:
    _decide(
        ns,
        "a viewer writing another tenant's restricted document",
        _subject("viewer"),
        "write",
        _resource(Classification.RESTRICTED, tenant=2, region="us"),
        SATURDAY_9,
        allowed=False,
        rule="tenant",
    )
    _decide(
        ns,
        "a viewer writing a restricted document of their tenant",
        _subject("viewer"),
        "write",
        _resource(Classification.RESTRICTED, region="us"),
        SATURDAY_9,
        allowed=False,
        rule="role",
    )
    _decide(
        ns,
        "a member reading a restricted document from another region",
        _subject(region="us"),
        "read",
        _resource(Classification.RESTRICTED),
        MONDAY_9,
        allowed=False,
        rule="clearance",
    )


@abac.case("an unknown action is denied by the action rule")
def _(ns: Namespace) -> None:
    _decide(
        ns,
        "an owner asking to 'share' (not an action)",
        _subject("owner"),
        "share",
        _resource(),
        MONDAY_9,
        allowed=False,
        rule="action",
    )


# --------------------------------------------------------------------------- 07.3

rebac = exercise(
    "07.3",
    "ReBAC check: inheritance, nested groups, cycles",
    points=3,
    needs=("has_relation",),
    hints=(
        "Walk nodes (object, relation) from (object, relation) outwards with a queue.",
        "From a node: every subject of every relation in IMPLIED_BY[relation]; a subject "
        "'group:g#member' leads to the node ('group:g', 'member'); for INHERITED relations each "
        "parent folder f leads to (f, relation).",
        "Keep a set of nodes already queued and never queue one twice: that is what ends a cycle.",
    ),
)


def _ask(ns: Namespace, graph: TupleGraph, object: str, relation: str, user: str) -> Any:
    label = f"has_relation(graph, {object!r}, {relation!r}, {user!r})"
    try:
        answer = _plain(ns, "has_relation")(graph, object, relation, user)
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


def _expect_check(
    ns: Namespace, graph: TupleGraph, object: str, relation: str, user: str, holds: bool, why: str
) -> None:
    answer = _ask(ns, graph, object, relation, user)
    expect(
        answer is holds,
        f"has_relation: does {user} hold {relation} on {object}? ({why})",
        str(holds),
        repr(answer),
    )


@rebac.case("a direct grant: bob views the minutes", positive=True)
def _(ns: Namespace) -> None:
    _expect_check(
        ns,
        CountingGraph(sharing_tuples()),
        "document:minutes",
        "viewer",
        "user:bob",
        True,
        "document:minutes#viewer@user:bob",
    )


@rebac.case("through folders and nested groups: carol edits and views the specs", positive=True)
def _(ns: Namespace) -> None:
    graph = CountingGraph(sharing_tuples())
    why = "specs ⊂ design-docs ⊂ product, product#editor@design, carol ∈ ux ⊂ design"
    _expect_check(ns, graph, "document:specs", "editor", "user:carol", True, why)
    _expect_check(
        ns, graph, "document:specs", "viewer", "user:carol", True, why + ", editor ⇒ viewer"
    )
    _expect_check(
        ns,
        graph,
        "document:salaries",
        "viewer",
        "user:carol",
        True,
        "acme-root#viewer@staff, design ⊂ staff",
    )


@rebac.case("owner ⇒ editor ⇒ viewer, never the other way round")
def _(ns: Namespace) -> None:
    graph = CountingGraph(sharing_tuples())
    _expect_check(
        ns, graph, "document:salaries", "editor", "user:alice", True, "alice owns folder hr"
    )
    _expect_check(
        ns, graph, "document:roadmap", "editor", "user:bob", False, "bob only views, through staff"
    )
    _expect_check(
        ns, graph, "document:specs", "owner", "user:carol", False, "carol edits, she does not own"
    )


@rebac.case("an outsider holds nothing")
def _(ns: Namespace) -> None:
    graph = CountingGraph(sharing_tuples())
    for relation in ("viewer", "editor", "owner"):
        _expect_check(
            ns,
            graph,
            "document:specs",
            relation,
            "user:mallory",
            False,
            "mallory appears in no tuple",
        )
    _expect_check(
        ns, graph, "group:design", "member", "user:bob", False, "bob is in staff, not in design"
    )


@rebac.case("a group cycle ends, with the right answers on both sides")
def _(ns: Namespace) -> None:
    graph = CountingGraph(sharing_tuples(CYCLE))
    _expect_check(
        ns, graph, "document:specs", "viewer", "user:mallory", False, "with design ⊂ staff ⊂ design"
    )
    _expect_check(
        ns,
        graph,
        "document:roadmap",
        "editor",
        "user:bob",
        True,
        "staff ⊂ design now, so bob edits product",
    )


@rebac.case("a folder cycle ends too")
def _(ns: Namespace) -> None:
    graph = CountingGraph(sharing_tuples("folder:acme-root#parent@folder:design-docs"))
    _expect_check(
        ns,
        graph,
        "document:specs",
        "owner",
        "user:mallory",
        False,
        "with acme-root inside design-docs inside it",
    )
    _expect_check(ns, graph, "document:specs", "viewer", "user:bob", True, "acme-root#viewer@staff")


# --------------------------------------------------------------------------- 07.4

listing = exercise(
    "07.4",
    "list_objects in SQL",
    points=3,
    needs=("list_objects",),
    hints=(
        "Start from the tuples whose subject is the user: SELECT object, relation FROM "
        "relation_tuples WHERE subject = :user AND subject_relation = ''.",
        "WITH RECURSIVE held(object, relation): from a held (o, r), follow tuples whose subject is "
        "o with subject_relation r (groups), and 'parent' tuples whose subject is o (folders, for "
        "viewer/editor/owner). UNION, not UNION ALL: it drops repeats, which ends cycles.",
        "Keep the objects of the type asked whose relation is in IMPLIED_BY[relation], sorted.",
    ),
)

#: Tuples unrelated to the users asked about: enough that loading the table shows.
NOISE = 3_000
#: Rows a query may bring back to answer for the users of the sharing example.
ROW_BUDGET = 60


async def _listed(
    ns: Namespace, db: Any, object_type: str, relation: str, user: str
) -> tuple[list[str], int]:
    run = _coroutine(ns, "list_objects")
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


def _expected(object_type: str, relation: str, user: str, *extra: str) -> list[str]:
    graph = TupleGraph([*sharing_tuples(*extra), *generate_tuples(GraphShape(NOISE, seed=70))])
    return reference_list_objects(graph, object_type, relation, user)


@listing.case(
    "carol's and alice's documents, through groups, folders and implied relations", positive=True
)
async def _(ns: Namespace) -> None:
    async with world(noise_tuples=NOISE) as w:
        for user, relation in [
            ("user:carol", "viewer"),
            ("user:carol", "editor"),
            ("user:alice", "viewer"),
            ("user:bob", "viewer"),
            ("user:bob", "editor"),
        ]:
            found, _ = await _listed(ns, w.db, "document", relation, user)
            expect_equal(
                found,
                _expected("document", relation, user),
                f"list_objects('document', {relation!r}, {user!r})",
            )


@listing.case("only the answer leaves the database (thousands of unrelated tuples stay there)")
async def _(ns: Namespace) -> None:
    async with world(noise_tuples=NOISE) as w:
        found, rows = await _listed(ns, w.db, "document", "viewer", "user:carol")
    expect(
        rows <= ROW_BUDGET,
        f"list_objects for carol with {NOISE:,} unrelated tuples in the table",
        f"at most {ROW_BUDGET} rows fetched (filter in SQL)",
        f"{rows:,} rows fetched into Python",
    )


@listing.case("a group cycle in the table still ends, with the right answer")
async def _(ns: Namespace) -> None:
    async with world() as w:
        async with w.db.sessions() as session:
            await session.execute(insert(TupleRow), [row_values(RelationTuple.parse(CYCLE))])
            await session.commit()
        found, _ = await _listed(ns, w.db, "document", "editor", "user:bob")
    graph = TupleGraph(sharing_tuples(CYCLE))
    expected = reference_list_objects(graph, "document", "editor", "user:bob")
    expect_equal(
        found,
        expected,
        "list_objects('document', 'editor', 'user:bob') with design ⊂ staff ⊂ design",
    )


# --------------------------------------------------------------------------- 07.5

bola = exercise(
    "07.5",
    "BOLA-safe queries",
    points=3,
    needs=("readable_document", "editable_document"),
    hints=(
        "select(Document).where(Document.id == document_id, Document.tenant_id == member.tenant_id)",
        "For editable_document add `Document.owner_id == member.user_id` unless the role holds "
        "documents:delete — to the same WHERE, never as an `if` after fetching.",
    ),
)


async def _fetch(
    ns: Namespace, name: str, w: Any, member: Member, document: str
) -> tuple[Any, int]:
    query = _coroutine(ns, name)
    with count_rows(w.db.engine) as rows:
        async with w.db.sessions() as session:
            found = await query(session, member, w.documents[document])
            found_id = getattr(found, "id", found)
    return found_id, rows.total


async def _expect_document(
    ns: Namespace, name: str, w: Any, member: Member, document: str, visible: bool, who: str
) -> None:
    found, _ = await _fetch(ns, name, w, member, document)
    expected = w.documents[document] if visible else None
    expect(
        found == expected,
        f"{name} for {who}, document {document!r}",
        f"the document (id {expected})" if visible else "None",
        "None" if found is None else f"document id {found}",
    )


@bola.case("members read their tenant's documents; owners and admins may edit them", positive=True)
async def _(ns: Namespace) -> None:
    async with world() as w:
        bob, alice = w.member("bob", "member"), w.member("alice", "owner")
        await _expect_document(
            ns, "readable_document", w, bob, "minutes", True, "bob (member, Acme)"
        )
        await _expect_document(ns, "editable_document", w, bob, "roadmap", True, "bob, who owns it")
        await _expect_document(
            ns, "editable_document", w, alice, "roadmap", True, "alice (owner of Acme)"
        )
        await _expect_document(
            ns,
            "editable_document",
            w,
            w.member("dave", "admin", "globex"),
            "erin-notes",
            True,
            "dave (admin, Globex)",
        )


@bola.case("another tenant's document is None, like one that does not exist")
async def _(ns: Namespace) -> None:
    async with world() as w:
        alice = w.member("alice", "owner")
        await _expect_document(
            ns,
            "readable_document",
            w,
            alice,
            "pricing",
            False,
            "alice (owner of Acme), a Globex id",
        )
        await _expect_document(
            ns,
            "editable_document",
            w,
            alice,
            "pricing",
            False,
            "alice (owner of Acme), a Globex id",
        )


@bola.case("another tenant's row never leaves the database")
async def _(ns: Namespace) -> None:
    async with world() as w:
        for name in ("readable_document", "editable_document"):
            _, rows = await _fetch(ns, name, w, w.member("alice", "owner"), "pricing")
            expect(
                rows == 0,
                f"{name} for alice (Acme) with Globex's document id",
                "no row fetched (the tenant is in the WHERE clause)",
                f"{rows} row(s) fetched, then compared in Python",
            )


@bola.case("a member cannot edit someone else's document")
async def _(ns: Namespace) -> None:
    async with world() as w:
        await _expect_document(
            ns,
            "editable_document",
            w,
            w.member("bob", "member"),
            "minutes",
            False,
            "bob (member), alice's minutes",
        )


@bola.case("owning a document in another tenant gives nothing in this one")
async def _(ns: Namespace) -> None:
    async with world() as w:
        erin = w.member("erin", "viewer", "acme")
        await _expect_document(
            ns,
            "editable_document",
            w,
            erin,
            "erin-notes",
            False,
            "erin acting in Acme, her Globex notes",
        )
        await _expect_document(
            ns,
            "readable_document",
            w,
            erin,
            "erin-notes",
            False,
            "erin acting in Acme, her Globex notes",
        )


# --------------------------------------------------------------------------- 07.6

assignment = exercise(
    "07.6",
    "Attack then fix: mass assignment",
    points=2,
    needs=("profile_update_model", "update_profile"),
    hints=(
        'model_config = ConfigDict(extra="forbid") refuses fields the model does not declare.',
        "display_name: Annotated[str, Field(min_length=1, max_length=200)]",
        "update(User).where(User.id == member.user_id).values(display_name=...) — the WHERE matters.",
    ),
)


def _profile_app(ns: Namespace, w: Any, member: Member) -> FastAPI:
    model = _plain(ns, "profile_update_model")()
    update_profile = _coroutine(ns, "update_profile")
    app = FastAPI()

    @app.patch("/me")
    async def patch_me(
        body: model, session: Annotated[AsyncSession, Depends(w.db.session)]
    ) -> dict[str, bool]:  # type: ignore[valid-type]
        await update_profile(session, member, body)
        return {"ok": True}

    return app


async def _names(w: Any) -> dict[int, str]:
    async with w.db.sessions() as session:
        return {
            row.id: row.display_name
            for row in (await session.execute(select(User.id, User.display_name))).all()
        }


async def _patch(ns: Namespace, w: Any, body: dict[str, Any]) -> int:
    async with asgi_client(_profile_app(ns, w, w.member("carol", "viewer"))) as client:
        return (await client.patch("/me", json=body)).status_code


@assignment.case("a new display name is saved for the caller", positive=True)
async def _(ns: Namespace) -> None:
    async with world() as w:
        status = await _patch(ns, w, {"display_name": "Caroline"})
        names = await _names(w)
    expect(status == 200, "carol sending {'display_name': 'Caroline'}", "200", status)
    expect_equal(names[w.users["carol"]], "Caroline", "carol's display name afterwards")


@assignment.case("a body with role or tenant_id is refused with a 422")
async def _(ns: Namespace) -> None:
    async with world() as w:
        for extra in ({"role": "owner"}, {"tenant_id": w.globex}):
            status = await _patch(ns, w, {"display_name": "Carol", **extra})
            expect(
                status == 422,
                f"carol sending a display name plus {extra}",
                "422 (the schema refuses fields it does not declare)",
                status,
            )


@assignment.case("display names of 0 or 201 characters are refused")
async def _(ns: Namespace) -> None:
    async with world() as w:
        for name in ("", "x" * 201):
            status = await _patch(ns, w, {"display_name": name})
            expect(status == 422, f"a display name of {len(name)} characters", "422", status)


@assignment.case("only the caller's own name changes")
async def _(ns: Namespace) -> None:
    async with world() as w:
        before = await _names(w)
        await _patch(ns, w, {"display_name": "Caroline"})
        after = await _names(w)
    changed = sorted(name for user_id, name in before.items() if after[user_id] != name)
    expect_equal(changed, ["carol"], "whose display names changed after carol's update")
