"""One in-process CloudDocs app with the same endpoint behind each authentication method.

The throughput budgets of DESIGN.md §12 compare an endpoint behind an auth dependency with
the same endpoint unprotected, so every route here returns the same tiny JSON body and
differs only in its dependency, taken as shipped from ``clouddocs``:

- ``/open``: no authentication (the baseline);
- ``/empty-dependency``: an async dependency that does nothing, i.e. what FastAPI's
  dependency injection costs by itself;
- ``/jwt``: ``clouddocs.tokens.require_access_token`` (HS256 signature and claims, then
  the revocation check: ``jti`` denylist, token version and refresh family, one statement);
- ``/jwt-signature-only``: the same token checked by ``TokenService.verify`` alone (no
  revocation lookup), to show what the database part costs;
- ``/session``: ``SessionManager.require_session`` (a lookup by the id's SHA-256, and the
  idle timer written back on every request);
- ``/api-key``: ``ApiKeyGuard.authenticate`` (checksum, SHA-256, one indexed lookup).

All of them share one in-memory SQLite ``Database`` and one client.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from authcourse.bench import HttpCall

#: A 256-bit HS256 key, fixed so runs are comparable (never a real key), as a secret store
#: would hold it (base64url); ``BENCH_SECRET`` is its bytes, for calling PyJWT directly.
BENCH_KEY = "GOkGCCtTJgHedOKbWOeUylu40X23Tl5KVjilymkyg-4"
BENCH_SECRET = base64.urlsafe_b64decode(BENCH_KEY + "=")


@dataclass(frozen=True)
class AuthBench:
    """The app and, per label, the request that succeeds on its route."""

    app: FastAPI
    calls: dict[str, HttpCall]

    BASELINE = "no auth"
    EMPTY_DEPENDENCY = "no auth, empty dependency"
    JWT = "JWT (require_access_token)"
    JWT_SIGNATURE = "JWT (signature + claims only)"
    SESSION = "session (require_session)"
    API_KEY = "API key (ApiKeyGuard)"


@contextlib.asynccontextmanager
async def auth_methods_app() -> AsyncIterator[AuthBench]:
    """The app, its database filled with one tenant, user, session, API key and token."""
    from authcourse.clock import SystemClock
    from clouddocs.apikeys import ApiKeyGuard, issue_api_key
    from clouddocs.db import Database, Tenant, User
    from clouddocs.sessions import SessionManager
    from clouddocs.tokens import (
        FAMILY_CLAIM,
        VERSION_CLAIM,
        HS256Secret,
        KeyRing,
        RefreshTokens,
        SigningKey,
        TokenService,
        TokenSettings,
        require_access_token,
    )

    clock = SystemClock()
    db = Database()
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
            KeyRing(SigningKey("bench", "HS256", HS256Secret.from_base64url(BENCH_KEY))),
            TokenSettings(issuer="https://clouddocs.test", audience="clouddocs-api"),
            clock=clock,
        )
        async with db.sessions() as session:  # access tokens name their login (refresh family)
            family = (await RefreshTokens(tokens).start(session, 1)).family_id
        token = tokens.issue("1", claims={VERSION_CLAIM: 0, FAMILY_CLAIM: family})
        guard = ApiKeyGuard(db, clock=clock)

        async def signature_only(
            credentials: Annotated[HTTPAuthorizationCredentials, Depends(HTTPBearer())],
        ) -> dict[str, Any]:
            return tokens.verify(credentials.credentials)

        app = FastAPI(title="authcourse bench: one endpoint, six ways in")
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

        bearer_token = {"headers": {"Authorization": f"Bearer {token}"}}
        yield AuthBench(
            app,
            {
                AuthBench.BASELINE: HttpCall("GET", "/open"),
                AuthBench.EMPTY_DEPENDENCY: HttpCall("GET", "/empty-dependency"),
                AuthBench.JWT: HttpCall("GET", "/jwt", bearer_token),
                AuthBench.JWT_SIGNATURE: HttpCall("GET", "/jwt-signature-only", bearer_token),
                AuthBench.SESSION: HttpCall(
                    "GET",
                    "/session",
                    {"headers": {"Cookie": f"{sessions.cookie_name}={session_id}"}},
                ),
                AuthBench.API_KEY: HttpCall(
                    "GET", "/api-key", {"headers": {"Authorization": f"Bearer {issued.plaintext}"}}
                ),
            },
        )
    finally:
        await db.dispose()
