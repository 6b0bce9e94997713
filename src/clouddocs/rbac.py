# Generated from notebooks/07_authorization.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Role-based access control, scoped to a tenant: owner/admin/member/viewer → permissions.

A user may belong to several tenants with a different role in each (a consultant is an
admin at Acme and a viewer at Globex), so the role lives on the *membership*, not on the
user. Routes ask for a permission (``documents:write``), never for a role: adding a role
later changes one table, not every route.
"""

import enum
from collections.abc import Mapping
from types import MappingProxyType

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.db import Base


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


_VIEWER = frozenset({"documents:read", "members:read"})
_MEMBER = _VIEWER | {"documents:write"}
_ADMIN = _MEMBER | {"documents:delete", "members:manage"}
_OWNER = _ADMIN | {"billing:manage", "tenant:delete"}

#: Each role's permissions. Read-only: a role table edited at runtime is a privilege escalation.
ROLE_PERMISSIONS: Mapping[Role, frozenset[str]] = MappingProxyType(
    {Role.VIEWER: _VIEWER, Role.MEMBER: _MEMBER, Role.ADMIN: _ADMIN, Role.OWNER: _OWNER}
)
PERMISSIONS = frozenset().union(*ROLE_PERMISSIONS.values())


class Membership(Base):
    """A user's role in one tenant; at most one membership per (tenant, user)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))


def has_permission(role: Role | str, permission: str) -> bool:
    """Whether ``role`` grants ``permission``; an unknown role grants nothing."""
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False


from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, status


@dataclass(frozen=True)
class Member:
    """The caller, as authorization sees them: who, in which tenant, with which role."""

    user_id: int
    tenant_id: int
    role: Role

    @property
    def permissions(self) -> frozenset[str]:
        return ROLE_PERMISSIONS[self.role]


MemberDependency = Callable[..., Awaitable[Member]]


def require_permission(permission: str, authenticate: MemberDependency) -> MemberDependency:
    """A dependency: the authenticated member if their role grants ``permission``, else 403.

    ``authenticate`` answers 401 itself (no or bad credentials); this adds the 403, which
    names the permission so a client can tell the user what is missing. A misspelt
    permission is refused when the app is built, not silently never granted.
    """
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    async def member_with_permission(
        member: Annotated[Member, Depends(authenticate)],
    ) -> Member:
        if permission not in member.permissions:
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"Missing permission: {permission}",
            )
        return member

    return member_with_permission


from typing import Any

from fastapi import Security
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clouddocs.db import Database
from clouddocs.jwt_tokens import InvalidToken, TokenService
from clouddocs.security import BEARER_TOKEN_SYNTAX, MAX_TOKEN_LENGTH, unauthorized
from clouddocs.token_app import bearer_scheme

#: The claim naming the tenant a token was issued for (a user picks one tenant at login).
TENANT_CLAIM = "tid"


def member_auth(tokens: TokenService, db: Database) -> MemberDependency:
    """A dependency: the caller's :class:`Member` for the tenant their access token names.

    The token says *who* and *which tenant*; the role is read from ``memberships`` on every
    request (one statement), so a demotion or removal takes effect at once instead of when
    the token expires. A token for a tenant the user no longer belongs to is a 401.
    """

    async def authenticate(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
        session: Annotated[AsyncSession, Depends(db.session)],
    ) -> Member:
        if credentials is None:
            raise unauthorized()
        token = credentials.credentials
        if len(token) > MAX_TOKEN_LENGTH or not BEARER_TOKEN_SYNTAX.fullmatch(token):
            raise unauthorized("invalid_token")
        try:
            claims: dict[str, Any] = tokens.verify(token)
            user_id, tenant_id = int(claims["sub"]), int(claims[TENANT_CLAIM])
        except (InvalidToken, KeyError, TypeError, ValueError):
            raise unauthorized("invalid_token") from None
        role = await session.scalar(
            select(Membership.role).where(
                Membership.tenant_id == tenant_id, Membership.user_id == user_id
            )
        )
        if role is None:
            raise unauthorized("invalid_token")
        return Member(user_id=user_id, tenant_id=tenant_id, role=Role(role))

    return authenticate


#: The ``is_admin`` → RBAC migration, step 2 (step 1 creates ``memberships``): every user
#: gets a membership in their tenant, admins as ``admin``, everyone else as ``member``.
#: Idempotent (re-running skips users already migrated), so it can run during a rolling
#: deploy while old code still reads ``is_admin``.
BACKFILL_FROM_IS_ADMIN_SQL = """
INSERT INTO memberships (tenant_id, user_id, role)
SELECT u.tenant_id, u.id, CASE WHEN f.is_admin THEN 'admin' ELSE 'member' END
FROM users u JOIN legacy_admin_flags f ON f.user_id = u.id
WHERE NOT EXISTS (
    SELECT 1 FROM memberships m WHERE m.tenant_id = u.tenant_id AND m.user_id = u.id
)
"""
