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


from fastapi import Depends, Response

from clouddocs.apikeys import KEY_SHAPE, ApiKeyGuard, KeyPrincipal, refuse_key_in_url
from clouddocs.resource_server import Verifier, insufficient_scope
from clouddocs.security import BEARER_TOKEN_SYNTAX, MAX_TOKEN_LENGTH


@dataclass(frozen=True)
class ApiCaller:
    """An integration, by API key (chapter 4) or OAuth access token (chapter 5)."""

    subject: str  # "key:<id>" for a key, the token's ``sub`` for OAuth
    scopes: frozenset[str]
    method: Literal["api_key", "oauth"]
    key: KeyPrincipal | None = None  # the key's tenant and name, for key callers


def api_key_or_oauth(guard: ApiKeyGuard, verify: Verifier) -> Callable[..., Awaitable[ApiCaller]]:
    """A dependency accepting an API key or an OAuth access token in the same header.

    The credential's shape decides which check runs (keys start ``cdk_live_``/``cdk_test_``;
    JWTs never do), so a present-but-invalid credential is refused by *its* check: never a
    second chance with the other one.
    """

    async def caller(
        request: Request,
        response: Response,
        _no_credential_in_url: Annotated[None, Depends(refuse_key_in_url)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    ) -> ApiCaller:
        if credentials is None:
            raise unauthorized()  # one Bearer challenge covers both kinds
        if KEY_SHAPE.match(credentials.credentials):
            key = await guard.authenticate(request=request, response=response,
                                           _no_key_in_url=None, credentials=credentials)
            return ApiCaller(f"key:{key.key_id}", key.scopes, "api_key", key)
        token = credentials.credentials
        well_formed = len(token) <= MAX_TOKEN_LENGTH and BEARER_TOKEN_SYNTAX.fullmatch(token)
        principal = await verify(token) if well_formed else None
        if principal is None:
            raise unauthorized("invalid_token", "The access token is not valid.")
        return ApiCaller(principal.subject, principal.scopes, "oauth")

    return caller


def require_api_scope(scope: str, authenticate: Callable[..., Awaitable[ApiCaller]]) -> Callable[..., Awaitable[ApiCaller]]:
    """A dependency: the caller if their key or token grants ``scope``, else 403 ``insufficient_scope``."""

    async def scoped(caller: Annotated[ApiCaller, Depends(authenticate)]) -> ApiCaller:
        if scope not in caller.scopes:
            raise insufficient_scope([scope])
        return caller

    return scoped
