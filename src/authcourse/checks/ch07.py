"""Chapter 7 lab: authorization — RBAC, ABAC, ReBAC, BOLA-safe queries, mass assignment.

Every case runs the learner's code for real: dependencies inside in-process FastAPI apps,
policies over attribute matrices, graph walks over the chapter's sharing tuples (with cycles,
and a lookup budget so a walk that never ends fails fast), SQL against fresh SQLite databases
whose returned rows are counted. The apps, worlds and counters live in ``ch07_support``.
"""

from sqlalchemy import insert

from authcourse.checks import exercise, expect, expect_equal
from authcourse.checks.ch07_support import (
    CYCLE,
    MONDAY_9,
    MONDAY_NIGHT,
    NOISE,
    ROW_BUDGET,
    SATURDAY_9,
    CountingGraph,
    abac_resource,
    abac_subject,
    as_role,
    display_names,
    expect_decision,
    expect_document,
    expect_relation,
    expected_objects,
    fetch_document,
    listed_objects,
    patch_profile,
    permission_app,
    plain_function,
    sharing_tuples,
    world,
)
from authcourse.checks.core import CheckFailed, Namespace
from authcourse.client import asgi_client
from clouddocs.abac import Classification
from clouddocs.rbac import PERMISSIONS, ROLE_PERMISSIONS, Member, Role
from clouddocs.rebac import (
    RelationTuple,
    TupleGraph,
    TupleRow,
    row_values,
)
from clouddocs.rebac import list_objects as reference_list_objects

# --------------------------------------------------------------------------- 07.1

rbac = exercise(
    "07.1",
    "The RBAC dependency",
    points=2,
    needs=("require_permission",),
    answered_by=("clouddocs.rbac.require_permission", "clouddocs.rbac.has_permission"),
    hints=(
        "Inside, define `async def dependency(member: Annotated[Member, Depends(authenticate)])`, "
        "check `permission in ROLE_PERMISSIONS[member.role]`, and return it.",
        '403 is HTTPException(status.HTTP_403_FORBIDDEN, f"Missing permission: {permission}").',
        "Validate `permission in PERMISSIONS` before defining the inner function.",
    ),
)


@rbac.case("a member asking for documents:write is let through, with their Member", positive=True)
async def _(ns: Namespace) -> None:
    async with asgi_client(permission_app(ns, "documents:write")) as client:
        response = await client.get("/guarded", headers=as_role("member"))
    expect(
        response.status_code == 200,
        "a member calling a route that needs documents:write",
        "200",
        response.status_code,
    )
    expect_equal(response.json(), {"role": "member", "user_id": 7}, "the member the route received")


@rbac.case("a viewer asking for documents:write gets a 403 naming the permission")
async def _(ns: Namespace) -> None:
    async with asgi_client(permission_app(ns, "documents:write")) as client:
        response = await client.get("/guarded", headers=as_role("viewer"))
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
        async with asgi_client(permission_app(ns, permission)) as client:
            for role in Role:
                status = (await client.get("/guarded", headers=as_role(role))).status_code
                allowed = permission in ROLE_PERMISSIONS[role]
                expect(
                    status == (200 if allowed else 403),
                    f"role {role} asking for {permission}",
                    "200" if allowed else "403",
                    status,
                )


@rbac.case("an unknown permission is refused when the dependency is created")
def _(ns: Namespace) -> None:
    async def authenticate() -> Member:
        return Member(user_id=1, tenant_id=1, role=Role.OWNER)

    try:
        plain_function(ns, "require_permission")("documents:wirte", authenticate)
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
    answered_by=("clouddocs.abac.decide", "clouddocs.abac.cedar_decide"),
    hints=(
        "One `if` per rule, in the order of the task, each returning Decision(False, rule, reason).",
        "Classification is an IntEnum: `resource.classification > subject.clearance` compares levels.",
        "Only CONFIDENTIAL and above are 'sensitive'; the hours rule skips reads.",
    ),
)


@abac.case(
    "a member reads an internal document of their tenant: allowed, with a reason", positive=True
)
def _(ns: Namespace) -> None:
    expect_decision(
        ns,
        "a member reading an internal document",
        abac_subject(),
        "read",
        abac_resource(),
        MONDAY_9,
        allowed=True,
        rule="allow",
    )


@abac.case(
    "a member edits a confidential document in its region on Monday 09:00: allowed", positive=True
)
def _(ns: Namespace) -> None:
    expect_decision(
        ns,
        "a member editing a confidential document, in region, in hours",
        abac_subject(),
        "write",
        abac_resource(Classification.CONFIDENTIAL),
        MONDAY_9,
        allowed=True,
        rule="allow",
    )


@abac.case("another tenant's document is denied by the tenant rule")
def _(ns: Namespace) -> None:
    expect_decision(
        ns,
        "reading a public document of another tenant",
        abac_subject(),
        "read",
        abac_resource(Classification.PUBLIC, tenant=2),
        MONDAY_9,
        allowed=False,
        rule="tenant",
    )


@abac.case("a viewer asking to write is denied by the role rule")
def _(ns: Namespace) -> None:
    expect_decision(
        ns,
        "a viewer writing an internal document",
        abac_subject("viewer"),
        "write",
        abac_resource(),
        MONDAY_9,
        allowed=False,
        rule="role",
    )
    expect_decision(
        ns,
        "a member deleting a document",
        abac_subject("member"),
        "delete",
        abac_resource(),
        MONDAY_9,
        allowed=False,
        rule="role",
    )


@abac.case("a document above the subject's clearance is denied by the clearance rule")
def _(ns: Namespace) -> None:
    expect_decision(
        ns,
        "a CONFIDENTIAL-cleared member reading a RESTRICTED document",
        abac_subject(),
        "read",
        abac_resource(Classification.RESTRICTED),
        MONDAY_9,
        allowed=False,
        rule="clearance",
    )
    expect_decision(
        ns,
        "an INTERNAL-cleared member reading an INTERNAL document",
        abac_subject(clearance=Classification.INTERNAL),
        "read",
        abac_resource(),
        MONDAY_9,
        allowed=True,
        rule="allow",
    )


@abac.case("sensitive data outside its region is denied by the region rule, other data is not")
def _(ns: Namespace) -> None:
    expect_decision(
        ns,
        "a member in the US reading an EU confidential document",
        abac_subject(region="us"),
        "read",
        abac_resource(Classification.CONFIDENTIAL),
        MONDAY_9,
        allowed=False,
        rule="region",
    )
    expect_decision(
        ns,
        "a member in the US reading an EU internal document",
        abac_subject(region="us"),
        "read",
        abac_resource(),
        MONDAY_9,
        allowed=True,
        rule="allow",
    )


@abac.case("changes to sensitive documents outside business hours are denied; reads are not")
def _(ns: Namespace) -> None:
    confidential = abac_resource(Classification.CONFIDENTIAL)
    expect_decision(
        ns,
        "editing a confidential document on Saturday",
        abac_subject(),
        "write",
        confidential,
        SATURDAY_9,
        allowed=False,
        rule="hours",
    )
    expect_decision(
        ns,
        "editing a confidential document on Monday at 22:00",
        abac_subject(),
        "write",
        confidential,
        MONDAY_NIGHT,
        allowed=False,
        rule="hours",
    )
    expect_decision(
        ns,
        "reading a confidential document on Saturday",
        abac_subject(),
        "read",
        confidential,
        SATURDAY_9,
        allowed=True,
        rule="allow",
    )
    expect_decision(
        ns,
        "editing an internal document on Saturday",
        abac_subject(),
        "write",
        abac_resource(),
        SATURDAY_9,
        allowed=True,
        rule="allow",
    )


@abac.case("the rules apply in order: the first denial decides")
def _(ns: Namespace) -> None:
    expect_decision(
        ns,
        "a viewer writing another tenant's restricted document",
        abac_subject("viewer"),
        "write",
        abac_resource(Classification.RESTRICTED, tenant=2, region="us"),
        SATURDAY_9,
        allowed=False,
        rule="tenant",
    )
    expect_decision(
        ns,
        "a viewer writing a restricted document of their tenant",
        abac_subject("viewer"),
        "write",
        abac_resource(Classification.RESTRICTED, region="us"),
        SATURDAY_9,
        allowed=False,
        rule="role",
    )
    expect_decision(
        ns,
        "a member reading a restricted document from another region",
        abac_subject(region="us"),
        "read",
        abac_resource(Classification.RESTRICTED),
        MONDAY_9,
        allowed=False,
        rule="clearance",
    )


@abac.case("an unknown action is denied by the action rule")
def _(ns: Namespace) -> None:
    expect_decision(
        ns,
        "an owner asking to 'share' (not an action)",
        abac_subject("owner"),
        "share",
        abac_resource(),
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
    answered_by=(
        "clouddocs.rebac.check",
        "clouddocs.rebac.explain",
        "clouddocs.rebac.ClosureIndex",
    ),
    hints=(
        "Walk nodes (object, relation) from (object, relation) outwards with a queue.",
        "From a node: every subject of every relation in IMPLIED_BY[relation]; a subject "
        "'group:g#member' leads to the node ('group:g', 'member'); for INHERITED relations each "
        "parent folder f leads to (f, relation).",
        "Keep a set of nodes already queued and never queue one twice: that is what ends a cycle.",
    ),
)


@rebac.case("a direct grant: bob views the minutes", positive=True)
def _(ns: Namespace) -> None:
    expect_relation(
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
    expect_relation(ns, graph, "document:specs", "editor", "user:carol", True, why)
    expect_relation(
        ns, graph, "document:specs", "viewer", "user:carol", True, why + ", editor ⇒ viewer"
    )
    expect_relation(
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
    expect_relation(
        ns, graph, "document:salaries", "editor", "user:alice", True, "alice owns folder hr"
    )
    expect_relation(
        ns, graph, "document:roadmap", "editor", "user:bob", False, "bob only views, through staff"
    )
    expect_relation(
        ns, graph, "document:specs", "owner", "user:carol", False, "carol edits, she does not own"
    )


@rebac.case("an outsider holds nothing")
def _(ns: Namespace) -> None:
    graph = CountingGraph(sharing_tuples())
    for relation in ("viewer", "editor", "owner"):
        expect_relation(
            ns,
            graph,
            "document:specs",
            relation,
            "user:mallory",
            False,
            "mallory appears in no tuple",
        )
    expect_relation(
        ns, graph, "group:design", "member", "user:bob", False, "bob is in staff, not in design"
    )


@rebac.case("a group cycle ends, with the right answers on both sides")
def _(ns: Namespace) -> None:
    graph = CountingGraph(sharing_tuples(CYCLE))
    expect_relation(
        ns, graph, "document:specs", "viewer", "user:mallory", False, "with design ⊂ staff ⊂ design"
    )
    expect_relation(
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
    expect_relation(
        ns,
        graph,
        "document:specs",
        "owner",
        "user:mallory",
        False,
        "with acme-root inside design-docs inside it",
    )
    expect_relation(
        ns, graph, "document:specs", "viewer", "user:bob", True, "acme-root#viewer@staff"
    )


# --------------------------------------------------------------------------- 07.4

listing = exercise(
    "07.4",
    "list_objects in SQL",
    points=3,
    needs=("list_objects",),
    answered_by=("clouddocs.rebac.list_objects", "clouddocs.rebac.list_objects_statement"),
    hints=(
        "Start from the tuples whose subject is the user: SELECT object, relation FROM "
        "relation_tuples WHERE subject = :user AND subject_relation = ''.",
        "WITH RECURSIVE held(object, relation): from a held (o, r), follow tuples whose subject is "
        "o with subject_relation r (groups), and 'parent' tuples whose subject is o (folders, for "
        "viewer/editor/owner). UNION, not UNION ALL: it drops repeats, which ends cycles.",
        "Keep the objects of the type asked whose relation is in IMPLIED_BY[relation], sorted.",
    ),
)


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
            found, _ = await listed_objects(ns, w.db, "document", relation, user)
            expect_equal(
                found,
                expected_objects("document", relation, user),
                f"list_objects('document', {relation!r}, {user!r})",
            )


@listing.case("only the answer leaves the database (thousands of unrelated tuples stay there)")
async def _(ns: Namespace) -> None:
    async with world(noise_tuples=NOISE) as w:
        found, rows = await listed_objects(ns, w.db, "document", "viewer", "user:carol")
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
        found, _ = await listed_objects(ns, w.db, "document", "editor", "user:bob")
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
    answered_by=(
        "clouddocs.tenancy.readable_document",
        "clouddocs.tenancy.documents_of",
        "clouddocs.tenancy.may_edit",
    ),
    hints=(
        "select(Document).where(Document.id == document_id, Document.tenant_id == member.tenant_id)",
        "For editable_document add `Document.owner_id == member.user_id` unless the role holds "
        "documents:delete — to the same WHERE, never as an `if` after fetching.",
    ),
)


@bola.case("members read their tenant's documents; owners and admins may edit them", positive=True)
async def _(ns: Namespace) -> None:
    async with world() as w:
        bob, alice = w.member("bob", "member"), w.member("alice", "owner")
        await expect_document(
            ns, "readable_document", w, bob, "minutes", True, "bob (member, Acme)"
        )
        await expect_document(ns, "editable_document", w, bob, "roadmap", True, "bob, who owns it")
        await expect_document(
            ns, "editable_document", w, alice, "roadmap", True, "alice (owner of Acme)"
        )
        await expect_document(
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
        await expect_document(
            ns,
            "readable_document",
            w,
            alice,
            "pricing",
            False,
            "alice (owner of Acme), a Globex id",
        )
        await expect_document(
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
            _, rows = await fetch_document(ns, name, w, w.member("alice", "owner"), "pricing")
            expect(
                rows == 0,
                f"{name} for alice (Acme) with Globex's document id",
                "no row fetched (the tenant is in the WHERE clause)",
                f"{rows} row(s) fetched, then compared in Python",
            )


@bola.case("a member cannot edit someone else's document")
async def _(ns: Namespace) -> None:
    async with world() as w:
        await expect_document(
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
        await expect_document(
            ns,
            "editable_document",
            w,
            erin,
            "erin-notes",
            False,
            "erin acting in Acme, her Globex notes",
        )
        await expect_document(
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
    answered_by=("clouddocs.tenancy.ProfileUpdate",),
    hints=(
        'model_config = ConfigDict(extra="forbid") refuses fields the model does not declare.',
        "display_name: Annotated[str, Field(min_length=1, max_length=200)]",
        "update(User).where(User.id == member.user_id).values(display_name=...) — the WHERE matters.",
    ),
)


@assignment.case("a new display name is saved for the caller", positive=True)
async def _(ns: Namespace) -> None:
    async with world() as w:
        status = await patch_profile(ns, w, {"display_name": "Caroline"})
        names = await display_names(w)
    expect(status == 200, "carol sending {'display_name': 'Caroline'}", "200", status)
    expect_equal(names[w.users["carol"]], "Caroline", "carol's display name afterwards")


@assignment.case("a body with role or tenant_id is refused with a 422")
async def _(ns: Namespace) -> None:
    async with world() as w:
        for extra in ({"role": "owner"}, {"tenant_id": w.globex}):
            status = await patch_profile(ns, w, {"display_name": "Carol", **extra})
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
            status = await patch_profile(ns, w, {"display_name": name})
            expect(status == 422, f"a display name of {len(name)} characters", "422", status)


@assignment.case("only the caller's own name changes")
async def _(ns: Namespace) -> None:
    async with world() as w:
        before = await display_names(w)
        await patch_profile(ns, w, {"display_name": "Caroline"})
        after = await display_names(w)
    changed = sorted(name for user_id, name in before.items() if after[user_id] != name)
    expect_equal(changed, ["carol"], "whose display names changed after carol's update")
