"""Known-wrong implementations of lab 07's exercises; each must lose marks (known_wrong.py).

No ``from __future__ import annotations``: the wrong dependencies and models go into FastAPI
apps, which must see their annotations as objects.
"""

from typing import Annotated, Any

from fastapi import Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from clouddocs.abac import (
    ACTION_PERMISSIONS,
    Classification,
    Decision,
    Environment,
    Resource,
    Subject,
    in_business_hours,
)
from clouddocs.db import Document, User
from clouddocs.rbac import PERMISSIONS, ROLE_PERMISSIONS, Member, MemberDependency, Role
from clouddocs.rebac import IMPLIED_BY, INHERITED, PARENT, RelationTuple, TupleGraph, TupleRow
from clouddocs.rebac import list_objects as walk_in_python

# --------------------------------------------------------------------------- 07.1


def _permission_dependency(
    name: str, allowed: Any, *, code: int = 403, detail: str | None = None, validate: bool = True
) -> Any:
    def require_permission(permission: str, authenticate: MemberDependency) -> MemberDependency:
        if validate and permission not in PERMISSIONS:
            raise ValueError(permission)

        async def dependency(member: Annotated[Member, Depends(authenticate)]) -> Member:
            if not allowed(member, permission):
                raise HTTPException(
                    code, detail if detail is not None else f"Missing permission: {permission}"
                )
            return member

        return dependency

    require_permission.__name__ = require_permission.__qualname__ = name
    return require_permission


require_allow_all = _permission_dependency("require_allow_all", lambda member, permission: True)
require_401_instead_of_403 = _permission_dependency(
    "require_401_instead_of_403",
    lambda member, permission: permission in ROLE_PERMISSIONS[member.role],
    code=status.HTTP_401_UNAUTHORIZED,
)
require_unnamed_403 = _permission_dependency(
    "require_unnamed_403",
    lambda member, permission: permission in ROLE_PERMISSIONS[member.role],
    detail="Forbidden",
)
#: The is_admin habit: admins pass every check (but admin lacks billing:manage).
require_admins_pass_everything = _permission_dependency(
    "require_admins_pass_everything",
    lambda member, permission: (
        member.role in (Role.ADMIN, Role.OWNER) or permission in ROLE_PERMISSIONS[member.role]
    ),
)
require_without_validation = _permission_dependency(
    "require_without_validation",
    lambda member, permission: permission in ROLE_PERMISSIONS[member.role],
    validate=False,
)
#: Refuses everyone: scores nothing.
require_refuse_all = _permission_dependency("require_refuse_all", lambda member, permission: False)

# --------------------------------------------------------------------------- 07.2


def _policy(
    name: str,
    *,
    skip: str = "",
    hours_on_reads: bool = False,
    region_for_all: bool = False,
    clearance_first: bool = False,
    reason: str | None = None,
) -> Any:
    def decide(
        subject: Subject, action: str, resource: Resource, environment: Environment
    ) -> Decision:
        permission = ACTION_PERMISSIONS.get(action, "documents:read")
        checks = [
            ("action", skip != "action" and action not in ACTION_PERMISSIONS),
            ("tenant", subject.tenant_id != resource.tenant_id),
            ("role", permission not in ROLE_PERMISSIONS[subject.role]),
            ("clearance", resource.classification > subject.clearance),
        ]
        if clearance_first:
            checks.insert(1, checks.pop(3))
        sensitive = region_for_all or resource.classification >= Classification.CONFIDENTIAL
        checks.append(("region", sensitive and subject.region != resource.region))
        changes = hours_on_reads or action != "read"
        checks.append(
            (
                "hours",
                resource.classification >= Classification.CONFIDENTIAL
                and changes
                and not in_business_hours(environment.now),
            )
        )
        for rule, denied in checks:
            if denied and rule != skip:
                return Decision(False, rule, reason if reason is not None else f"denied by {rule}")
        return Decision(True, "allow", reason if reason is not None else "allowed")

    decide.__name__ = decide.__qualname__ = name
    return decide


decide_without_tenant = _policy("decide_without_tenant", skip="tenant")
decide_without_role = _policy("decide_without_role", skip="role")
decide_without_clearance = _policy("decide_without_clearance", skip="clearance")
decide_region_for_all = _policy("decide_region_for_all", region_for_all=True)
decide_hours_on_reads = _policy("decide_hours_on_reads", hours_on_reads=True)
decide_clearance_first = _policy("decide_clearance_first", clearance_first=True)
decide_unknown_action_as_read = _policy("decide_unknown_action_as_read", skip="action")
decide_without_reason = _policy("decide_without_reason", reason="")


def decide_deny_all(
    subject: Subject, action: str, resource: Resource, environment: Environment
) -> Decision:
    return Decision(False, "deny", "nobody may do anything")


# --------------------------------------------------------------------------- 07.3


def has_relation_without_visited_set(
    graph: TupleGraph, object: str, relation: str, user: str
) -> bool:
    """Recursion with no memory of where it has been: a cycle never ends."""
    for stronger in IMPLIED_BY[relation]:
        for subject in graph.subjects_of(object, stronger):
            name, _, userset = subject.partition("#")
            if subject == user or (
                userset and has_relation_without_visited_set(graph, name, userset, user)
            ):
                return True
    if relation in INHERITED:
        return any(
            has_relation_without_visited_set(graph, f, relation, user)
            for f in graph.subjects_of(object, PARENT)
        )
    return False


def _walk(
    graph: TupleGraph,
    object: str,
    relation: str,
    user: str,
    *,
    implied: Any = IMPLIED_BY,
    nested_groups: bool = True,
    folders_visited: bool = True,
    any_user: bool = False,
) -> bool:
    seen: set[tuple[str, str]] = set()
    queue = [(object, relation, 0)]
    while queue:
        current, held, depth = queue.pop()
        node = (current, held)
        if node in seen and (folders_visited or held == "member"):
            continue
        seen.add(node)
        for stronger in implied.get(held, (held,)):
            for subject in graph.subjects_of(current, stronger):
                name, _, userset = subject.partition("#")
                if subject == user or (any_user and not userset and name.startswith("user:")):
                    return True
                if userset and (nested_groups or depth == 0):
                    queue.append((name, userset, depth + 1))
        if held in INHERITED:
            queue.extend((folder, held, depth) for folder in graph.subjects_of(current, PARENT))
    return False


def has_relation_exact_only(graph: TupleGraph, object: str, relation: str, user: str) -> bool:
    """No computed relations: an editor is not a viewer."""
    return _walk(graph, object, relation, user, implied={})


def has_relation_implied_backwards(
    graph: TupleGraph, object: str, relation: str, user: str
) -> bool:
    """viewer ⇒ editor ⇒ owner: the hierarchy upside down (viewers can edit)."""
    backwards = {
        "owner": ("owner", "editor", "viewer"),
        "editor": ("editor", "viewer", "owner"),
        "viewer": ("viewer", "editor", "owner"),
        "member": ("member",),
    }
    return _walk(graph, object, relation, user, implied=backwards)


def has_relation_one_group_level(graph: TupleGraph, object: str, relation: str, user: str) -> bool:
    """Groups are expanded once: members of nested groups are missed."""
    return _walk(graph, object, relation, user, nested_groups=False)


def has_relation_anyone_granted(graph: TupleGraph, object: str, relation: str, user: str) -> bool:
    """Answers yes as soon as *some* user is reached (forgets to compare with the one asked)."""
    return _walk(graph, object, relation, user, any_user=True)


def has_relation_groups_visited_only(
    graph: TupleGraph, object: str, relation: str, user: str
) -> bool:
    """Remembers visited groups but not folders: a folder cycle never ends."""
    return _walk(graph, object, relation, user, folders_visited=False)


# --------------------------------------------------------------------------- 07.4


async def list_objects_in_python(
    connection: AsyncConnection, object_type: str, relation: str, user: str
) -> list[str]:
    """Loads every tuple, then filters in Python: right answer, whole table in memory."""
    rows = await connection.execute(select(TupleRow))
    graph = TupleGraph(
        RelationTuple(r.object, r.relation, r.subject, r.subject_relation) for r in rows
    )
    return walk_in_python(graph, object_type, relation, user)


async def list_objects_level_by_level_without_memory(
    connection: AsyncConnection, object_type: str, relation: str, user: str
) -> list[str]:
    """One filtered query per step (right), but no visited set: a cycle loops forever."""
    frontier = [(user, "")]
    held: list[tuple[str, str]] = []
    while frontier:
        subject, subject_relation = frontier.pop()
        rows = (
            await connection.execute(
                text(
                    "SELECT object, relation FROM relation_tuples WHERE subject = :s AND subject_relation = :r AND relation <> 'parent'"
                ),
                {"s": subject, "r": subject_relation},
            )
        ).all()
        for object, rel in rows:
            held.append((object, rel))
            frontier.append((object, rel))
    found: set[str] = set()
    for object, rel in held:
        stack = [object]
        while stack:
            current = stack.pop()
            if current.startswith(object_type + ":") and rel in IMPLIED_BY[relation]:
                found.add(current)
            children = await connection.execute(
                text(
                    "SELECT object FROM relation_tuples WHERE relation = 'parent' AND subject = :s"
                ),
                {"s": current},
            )
            stack.extend(row[0] for row in children)
    return sorted(found)


# --------------------------------------------------------------------------- 07.5


async def readable_fetched_then_checked(
    session: AsyncSession, member: Member, document_id: int
) -> Document | None:
    """The check in the handler after the fetch: right answer, but the row was read."""
    document = await session.get(Document, document_id)
    if document is None or document.tenant_id != member.tenant_id:
        return None
    return document


async def editable_fetched_then_checked(
    session: AsyncSession, member: Member, document_id: int
) -> Document | None:
    document = await session.get(Document, document_id)
    if document is None or document.tenant_id != member.tenant_id:
        return None
    if (
        document.owner_id != member.user_id
        and "documents:delete" not in ROLE_PERMISSIONS[member.role]
    ):
        return None
    return document


async def readable_by_id_only(
    session: AsyncSession, member: Member, document_id: int
) -> Document | None:
    """IDOR: any id, any tenant."""
    return await session.get(Document, document_id)


async def editable_by_id_only(
    session: AsyncSession, member: Member, document_id: int
) -> Document | None:
    return await session.get(Document, document_id)


async def editable_same_as_readable(
    session: AsyncSession, member: Member, document_id: int
) -> Document | None:
    """Anyone who can read may edit: ownership never checked."""
    return await session.scalar(
        select(Document).where(Document.id == document_id, Document.tenant_id == member.tenant_id)
    )


async def editable_owner_without_tenant(
    session: AsyncSession, member: Member, document_id: int
) -> Document | None:
    """Owners may edit — compared without the tenant, so ownership elsewhere counts here."""
    admin = "documents:delete" in ROLE_PERMISSIONS[member.role]
    return await session.scalar(
        select(Document).where(
            Document.id == document_id,
            or_(
                Document.owner_id == member.user_id,
                Document.tenant_id == member.tenant_id if admin else False,
            ),
        )
    )


async def readable_owner_without_tenant(
    session: AsyncSession, member: Member, document_id: int
) -> Document | None:
    return await session.scalar(
        select(Document).where(
            Document.id == document_id,
            or_(Document.owner_id == member.user_id, Document.tenant_id == member.tenant_id),
        )
    )


# --------------------------------------------------------------------------- 07.6


def profile_model_keeping_extras() -> type[BaseModel]:
    class Profile(BaseModel):
        model_config = ConfigDict(extra="allow")
        display_name: Annotated[str, Field(min_length=1, max_length=200)]

    return Profile


def profile_model_with_role() -> type[BaseModel]:
    """Declares role and tenant_id "for admins": now any caller may send them."""

    class Profile(BaseModel):
        model_config = ConfigDict(extra="forbid")
        display_name: Annotated[str, Field(min_length=1, max_length=200)]
        role: str | None = None
        tenant_id: int | None = None

    return Profile


def profile_model_unbounded() -> type[BaseModel]:
    class Profile(BaseModel):
        model_config = ConfigDict(extra="forbid")
        display_name: str

    return Profile


async def update_every_profile(session: AsyncSession, member: Member, body: BaseModel) -> None:
    """The WHERE clause forgotten: everyone is renamed."""
    await session.execute(update(User).values(display_name=body.model_dump()["display_name"]))
    await session.commit()
