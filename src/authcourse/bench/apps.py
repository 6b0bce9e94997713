"""One in-process CloudDocs app with the same endpoint behind each authentication method.

The throughput budgets of DESIGN.md §12 compare an endpoint behind an auth dependency with
the same endpoint unprotected, so every route here returns the same tiny JSON body and
differs only in its dependency, taken as shipped from ``clouddocs`` (whatever the chapters
currently export: the bench measures the reference code, it does not re-implement it):

- ``/open``: no authentication (the baseline);
- ``/empty-dependency``: an async dependency that does nothing, i.e. what FastAPI's
  dependency injection costs by itself;
- ``/session``: ``SessionManager.require_session`` (chapter 2);
- ``/api-key``: ``ApiKeyGuard.authenticate`` (chapter 4);
- ``/jwt-signature-only``: an access token checked by ``TokenService.verify`` alone
  (signature and claims, no database), to show what the revocation lookup costs;
- ``/jwt``: ``clouddocs.tokens.require_access_token`` (signature and claims, then the
  revocation check against the database; chapter 3);
- ``/session-cached``, ``/api-key-cached``, ``/jwt-cached``: the same three checks, each
  with its own opt-in ``clouddocs.credential_cache.CredentialCache`` (default TTL): after
  the first request every request takes the cache's hit path (one miss per TTL).

All of them share one ``Database`` and one client: in-memory SQLite (aiosqlite) by default,
or the PostgreSQL database ``auth_methods_app(database_url)`` is given (asyncpg over a
socket), so ``make bench`` can show both in one run.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from authcourse.bench.timing import HttpCall

if TYPE_CHECKING:
    from clouddocs.db import Database
    from clouddocs.tokens import TokenService

#: A per-key request limit the bench cannot reach (it sends a few thousand a minute).
BENCH_KEY_RATE = "1000000/minute"


@dataclass(frozen=True)
class AuthBench:
    """The app and, per label, the request that succeeds on its route."""

    app: FastAPI
    calls: dict[str, HttpCall]
    #: The database behind every route (tests count its statements).
    database: Database | None = None

    BASELINE = "unprotected"
    EMPTY_DEPENDENCY = "empty dependency"
    SESSION = "session"
    API_KEY = "API key"
    JWT_SIGNATURE = "JWT, signature + claims only"
    JWT = "JWT with revocation"
    SESSION_CACHED = "session, cache hit"
    API_KEY_CACHED = "API key, cache hit"
    JWT_CACHED = "JWT with revocation, cache hit"

    #: The routes in the order the tables show them.
    ORDER = (
        BASELINE,
        EMPTY_DEPENDENCY,
        SESSION,
        API_KEY,
        JWT_SIGNATURE,
        JWT,
        SESSION_CACHED,
        API_KEY_CACHED,
        JWT_CACHED,
    )


async def access_token_at_login(tokens: TokenService, db: Database, *, user_id: int) -> str:
    """An access token carrying what the chapter 3 login route puts in one.

    That is the user's token version and, where chapter 3 ties access tokens to a login
    (a refresh family whose revocation ends them), the family's id: the revocation check
    refuses a token without it, and the bench must time the accepted path.
    """
    from clouddocs import tokens as reference

    claims: dict[str, Any] = {reference.VERSION_CLAIM: 0}
    family_claim = getattr(reference, "FAMILY_CLAIM", None)
    if family_claim is not None:
        async with db.sessions() as session:
            login: Any = await reference.RefreshTokens(tokens).start(session, user_id)
        claims[family_claim] = login.family_id
    return tokens.issue(str(user_id), claims=claims)


def unreachable_key_limit() -> dict[str, Any]:
    """``ApiKeyGuard``'s limiter argument when its per-key limit is on by default.

    The limiter stays on the measured path (counting is part of the check's cost), with a
    limit the bench never reaches: a 429 would time the refusal, not the check.
    """
    from clouddocs import apikeys

    limiter_type = getattr(apikeys, "KeyLimiter", None)
    return {} if limiter_type is None else {"limiter": limiter_type(BENCH_KEY_RATE)}


@contextlib.asynccontextmanager
async def auth_methods_app(database_url: str | None = None) -> AsyncIterator[AuthBench]:
    """The app, its database filled with one tenant, user, session, API key and token.

    ``database_url`` must name an empty database (the bench creates its tables there);
    by default, a new in-memory SQLite one.
    """
    from authcourse.clock import SystemClock
    from clouddocs.apikeys import ApiKeyGuard, issue_api_key
    from clouddocs.credential_cache import CredentialCache
    from clouddocs.db import Database, Tenant, User
    from clouddocs.security import unauthorized
    from clouddocs.sessions import SessionManager
    from clouddocs.tokens import (
        InvalidToken,
        KeyRing,
        TokenService,
        TokenSettings,
        new_hs256_key,
        require_access_token,
    )

    clock = SystemClock()
    db = Database() if database_url is None else Database(database_url)
    await db.create_all()
    try:
        async with db.sessions() as session:
            session.add(Tenant(id=1, name="Bench Co"))
            session.add(User(id=1, tenant_id=1, email="bench@example.com", display_name="Bench"))
            await session.commit()
        sessions = SessionManager(db, clock=clock)
        async with db.sessions() as session:
            session_id = await sessions.start(session, 1)
            issued = await issue_api_key(
                session, tenant_id=1, name="bench", scopes=["docs:read"], clock=clock
            )
        tokens = TokenService(
            KeyRing(new_hs256_key("bench")),
            TokenSettings(issuer="https://clouddocs.test", audience="clouddocs-api"),
            clock=clock,
        )
        token = await access_token_at_login(tokens, db, user_id=1)
        guard = ApiKeyGuard(db, clock=clock, **unreachable_key_limit())
        # The same checks, each with its own cache: separate objects, so the uncached routes
        # above stay uncached.
        cached_sessions = SessionManager(db, clock=clock, cache=CredentialCache(clock=clock))
        cached_guard = ApiKeyGuard(
            db, clock=clock, cache=CredentialCache(clock=clock), **unreachable_key_limit()
        )
        cached_jwt = require_access_token(tokens, db, CredentialCache(clock=clock))

        async def signature_only(
            credentials: Annotated[HTTPAuthorizationCredentials, Depends(HTTPBearer())],
        ) -> dict[str, Any]:
            try:
                return tokens.verify(credentials.credentials)
            except InvalidToken:  # a malformed or forged token is a 401, never a 500
                raise unauthorized("invalid_token") from None

        app = FastAPI(title="authcourse bench: one endpoint, nine ways in")
        body = {"ok": True}

        @app.get("/open")
        async def open_endpoint() -> dict[str, bool]:
            return body

        async def nothing() -> None:
            return None

        @app.get("/empty-dependency", dependencies=[Depends(nothing)])
        async def empty_dependency_endpoint() -> dict[str, bool]:
            return body

        @app.get("/jwt", dependencies=[Depends(require_access_token(tokens, db))])
        async def jwt_endpoint() -> dict[str, bool]:
            return body

        @app.get("/jwt-signature-only", dependencies=[Depends(signature_only)])
        async def jwt_signature_endpoint() -> dict[str, bool]:
            return body

        @app.get("/session", dependencies=[Depends(sessions.require_session)])
        async def session_endpoint() -> dict[str, bool]:
            return body

        @app.get("/api-key", dependencies=[Depends(guard.authenticate)])
        async def api_key_endpoint() -> dict[str, bool]:
            return body

        @app.get("/session-cached", dependencies=[Depends(cached_sessions.require_session)])
        async def cached_session_endpoint() -> dict[str, bool]:
            return body

        @app.get("/api-key-cached", dependencies=[Depends(cached_guard.authenticate)])
        async def cached_api_key_endpoint() -> dict[str, bool]:
            return body

        @app.get("/jwt-cached", dependencies=[Depends(cached_jwt)])
        async def cached_jwt_endpoint() -> dict[str, bool]:
            return body

        bearer_token = {"headers": {"Authorization": f"Bearer {token}"}}
        cookie = {"headers": {"Cookie": f"{sessions.cookie_name}={session_id}"}}
        api_key = {"headers": {"Authorization": f"Bearer {issued.plaintext}"}}
        calls = {
            AuthBench.BASELINE: HttpCall("GET", "/open"),
            AuthBench.EMPTY_DEPENDENCY: HttpCall("GET", "/empty-dependency"),
            AuthBench.SESSION: HttpCall("GET", "/session", cookie),
            AuthBench.API_KEY: HttpCall("GET", "/api-key", api_key),
            AuthBench.JWT_SIGNATURE: HttpCall("GET", "/jwt-signature-only", bearer_token),
            AuthBench.JWT: HttpCall("GET", "/jwt", bearer_token),
            AuthBench.SESSION_CACHED: HttpCall("GET", "/session-cached", cookie),
            AuthBench.API_KEY_CACHED: HttpCall("GET", "/api-key-cached", api_key),
            AuthBench.JWT_CACHED: HttpCall("GET", "/jwt-cached", bearer_token),
        }
        yield AuthBench(app, calls, db)
    finally:
        await db.dispose()
