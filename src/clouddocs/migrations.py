# Generated from notebooks/08_decision_framework.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Running two authentication methods side by side while clients move from one to the other."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials

from clouddocs.db import Database
from clouddocs.jwt_tokens import InvalidToken, TokenService
from clouddocs.security import bearer_challenge, unauthorized
from clouddocs.sessions import SessionCookie
from clouddocs.token_app import bearer_scheme
from clouddocs.token_revocation import is_revoked


@dataclass(frozen=True)
class Caller:
    """Who is calling, and which method proved it (log it: it tells you when to stop the old one)."""

    user_id: str
    method: Literal["jwt", "session"]


def session_or_jwt(sessions: SessionCookie, tokens: TokenService, db: Database) -> Callable[..., Awaitable[Caller]]:
    """A dependency accepting a bearer JWT (checked first) or, without one, a session cookie."""

    async def caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    ) -> Caller:
        if credentials is not None:
            try:
                claims = tokens.verify(credentials.credentials)
            except InvalidToken:
                raise unauthorized("invalid_token") from None  # never fall back to the cookie
            if await is_revoked(db.engine, claims):
                raise unauthorized("invalid_token")
            return Caller(str(claims["sub"]), "jwt")
        session_id = request.cookies.get(sessions.cookie_name)
        current = await sessions.resolve(session_id) if session_id else None
        if current is not None:
            return Caller(str(current.user_id), "session")
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Not authenticated",
            headers={
                # Two challenges in one header, comma-separated (RFC 9110 §11.6.1).
                "WWW-Authenticate": f'{bearer_challenge(None, None)}, Cookie realm="clouddocs", cookie-name="{sessions.cookie_name}"',
                "Cache-Control": "no-store",
            },
        )

    return caller


from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    Table,
    and_,
    case,
    exists,
    insert,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from clouddocs.rbac import Membership, Role

#: The legacy shape being migrated away from: one flag per user.
legacy_metadata = MetaData()
legacy_flags = Table(
    "legacy_admin_flags", legacy_metadata,
    Column("user_id", Integer, primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("is_admin", Boolean, nullable=False),
)


async def backfill_roles(connection: AsyncConnection, flags: Table = legacy_flags) -> int:
    """Give every flagged user without a membership the role their flag implies; return how many.

    Idempotent (users who have a membership are skipped, whatever their role now is), so it
    can run on every deploy while old code still writes the flag.
    """
    already = exists().where(and_(Membership.user_id == flags.c.user_id,
                                  Membership.tenant_id == flags.c.tenant_id))
    role = case((flags.c.is_admin, literal(Role.ADMIN.value)), else_=literal(Role.MEMBER.value))
    statement = insert(Membership).from_select(
        ["tenant_id", "user_id", "role"],
        select(flags.c.tenant_id, flags.c.user_id, role).where(~already),
    )
    result = await connection.execute(statement)
    return result.rowcount or 0
