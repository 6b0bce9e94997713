# Generated from notebooks/03_jwt.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""The HTTP side of CloudDocs' tokens: a bearer dependency and the login/refresh/logout routes.

Access tokens travel in the ``Authorization: Bearer`` header and live minutes. The refresh
token travels only in a ``__Secure-`` cookie that JavaScript cannot read (HttpOnly), that
other sites cannot make the browser send (SameSite=Strict), over HTTPS only (Secure), and
only to the refresh path (Path), so no other endpoint ever sees it.
"""

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Depends, FastAPI, HTTPException, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from clouddocs.accounts import authenticate
from clouddocs.audit_log import AuditEventType, record_event
from clouddocs.db import Database, User
from clouddocs.jwt_tokens import InvalidToken, TokenService
from clouddocs.lockout import AccountLockout, LockoutPolicy
from clouddocs.passwords import PasswordHasher
from clouddocs.ratelimit import RateLimiter, too_many_requests
from clouddocs.refresh_tokens import IssuedRefresh, RefreshReuse, RefreshTokens
from clouddocs.security import bearer_challenge, harden, unauthorized
from clouddocs.token_revocation import (
    FAMILY_CLAIM,
    VERSION_CLAIM,
    current_version,
    deny,
    end_all_sessions,
    is_revoked,
)

REFRESH_COOKIE = "__Secure-refresh"
REFRESH_PATH = "/auth/refresh"
LOGIN_FAILED = "email or password is incorrect"
LOCKED_OUT = "too many failed logins for this account; try again later"
#: Sent with a refused refresh: the browser drops the dead cookie at once.
EXPIRED_REFRESH_COOKIE = (
    f"{REFRESH_COOKIE}=; Max-Age=0; Path={REFRESH_PATH}; Secure; HttpOnly; SameSite=strict"
)
#: The routes reachable without an access token (each checks its own credential).
PUBLIC_ROUTES = frozenset({("POST", "/auth/login"), ("POST", REFRESH_PATH)})

#: Shows the scheme in OpenAPI; auto_error=False so that *we* write the 401 and its challenge.
bearer_scheme = HTTPBearer(
    auto_error=False, bearerFormat="JWT", description="CloudDocs access token"
)


import hashlib

from clouddocs.credential_cache import CredentialCache
from clouddocs.token_revocation import revocation_params

AccessDependency = Callable[..., Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class LiveToken:
    """What the optional cache keeps about a token found unrevoked: enough to forget it."""

    user_id: int
    family: str


def require_access_token(
    tokens: TokenService, db: Database, cache: CredentialCache[LiveToken] | None = None
) -> AccessDependency:
    """A dependency returning the claims of a valid, unrevoked access token, or answering 401.

    Revocation is checked here, on every request: a denylist consulted only when
    refreshing would let a logged-out access token work until it expires. The check is one
    Core statement (``is_revoked``), none at all for claims it cannot use. ``cache`` (off
    by default, see ``clouddocs.credential_cache``) skips that statement for a token found
    unrevoked within its TTL; signature and expiry are still checked on every request.
    """

    async def access_claims(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    ) -> dict[str, Any]:
        if credentials is None:
            raise unauthorized()
        try:
            claims = tokens.verify(credentials.credentials)
        except InvalidToken:
            raise unauthorized("invalid_token") from None  # the reason stays server-side
        if cache is None:
            if await is_revoked(db.engine, claims):
                raise unauthorized("invalid_token")
            return claims
        digest = hashlib.sha256(credentials.credentials.encode()).hexdigest()
        if cache.get(digest) is None:
            ticket = cache.ticket()
            if await is_revoked(db.engine, claims):
                raise unauthorized("invalid_token")  # refusals are never cached
            params = revocation_params(claims) or {}  # not revoked: the claims were usable
            cache.put(digest, LiveToken(params["user_id"], params["family"]), ticket)
        return claims

    return access_claims


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


#: What the OpenAPI document promises beside each route's 200 (or 204).
UNAUTHORIZED_RESPONSE: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "No access token, or one that is invalid, expired or revoked",
        "headers": {"WWW-Authenticate": _header('Bearer realm="clouddocs"[, error=…]')},
    },
}
LOGIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "Wrong email or password",
        "headers": {"WWW-Authenticate": _header('Bearer realm="clouddocs"')},
    },
    429: {
        "description": "Too many attempts from this address, or for this account",
        "headers": {"Retry-After": _header("seconds to wait")},
    },
}


class LoginForm(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=128)  # longer is refused before any hashing (DoS)


@dataclass
class TokenAppSettings:
    db: Database
    tokens: TokenService
    refresh: RefreshTokens
    hasher: PasswordHasher
    #: Chapter 2's per-account lockout: failed logins per login name before a pause.
    lockout_policy: LockoutPolicy = field(default_factory=LockoutPolicy)
    #: HMAC key of the lockout counters and audit events; workers sharing a database share it.
    lockout_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    #: Chapter 2's per-IP limit on login attempts, in the ``limits`` notation.
    login_rate_per_ip: str = "20/minute"
    rate_limit_storage: str = "memory://"
    #: Off by default. Logout, refresh-token reuse and "log out everywhere" forget the
    #: user's entries here; other processes may accept a revoked token for its TTL.
    revocation_cache: CredentialCache[LiveToken] | None = None

    def forget_user(self, user_id: int) -> None:
        """Drop the user's cached tokens: call it after any write that revokes them."""
        if self.revocation_cache is not None:
            self.revocation_cache.forget_where(lambda live: live.user_id == user_id)


@dataclass
class TokenResponses:
    """What every route that hands out tokens does the same way."""

    settings: TokenAppSettings

    async def pair(
        self, session: AsyncSession, issued: IssuedRefresh, response: Response
    ) -> dict[str, Any]:
        """Set the refresh cookie and return a new access token of the same family."""
        tokens = self.settings.tokens
        version = await current_version(session, issued.user_id)
        access = tokens.issue(
            str(issued.user_id), claims={VERSION_CLAIM: version, FAMILY_CLAIM: issued.family_id}
        )
        response.set_cookie(
            REFRESH_COOKIE,
            issued.token,
            max_age=int(self.settings.refresh.token_lifetime.total_seconds()),
            path=REFRESH_PATH,
            secure=True,
            httponly=True,
            samesite="strict",
        )
        response.headers["Cache-Control"] = "no-store"  # tokens must not sit in caches
        lifetime = int(tokens.settings.access_lifetime.total_seconds())
        return {"access_token": access, "token_type": "Bearer", "expires_in": lifetime}

    async def audit(self, session: AsyncSession, event: AuditEventType, **fields: Any) -> None:
        await record_event(session, event, clock=self.settings.tokens.clock, **fields)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def login_router(settings: TokenAppSettings) -> APIRouter:
    """``POST /auth/login``: a password for an access token and a refresh cookie."""
    lockout = AccountLockout(
        clock=settings.tokens.clock, policy=settings.lockout_policy, key=settings.lockout_key
    )
    limiter = RateLimiter(
        settings.login_rate_per_ip, settings.rate_limit_storage, scope="token-login-ip"
    )
    out = TokenResponses(settings)
    router = APIRouter()

    @router.post("/auth/login", responses=LOGIN_RESPONSES)
    async def login(
        form: LoginForm,
        request: Request,
        session: Annotated[AsyncSession, Depends(settings.db.session)],
        response: Response,
    ) -> dict[str, Any]:
        # Brute force is stopped as in chapter 2: a per-IP rate limit, then a per-account
        # lockout counted *before* the password is checked.
        ip, key = client_ip(request), lockout.account_key(form.email)  # an HMAC, not the email
        decision = await limiter.hit_async(ip)
        if not decision.allowed:
            await out.audit(
                session, AuditEventType.LOGIN_RATE_LIMITED, account_key=key, client_ip=ip
            )
            raise too_many_requests(decision)
        attempt = await lockout.begin_attempt(session, form.email)
        if attempt.locked_now:
            await out.audit(session, AuditEventType.ACCOUNT_LOCKED, account_key=key, client_ip=ip)
        if not attempt.allowed:
            raise HTTPException(429, LOCKED_OUT, headers={"Retry-After": str(attempt.retry_after)})
        user = await authenticate(
            session, email=form.email, password=form.password, hasher=settings.hasher
        )
        if user is None:
            await out.audit(session, AuditEventType.LOGIN_FAILED, account_key=key, client_ip=ip)
            raise HTTPException(
                401,
                LOGIN_FAILED,
                headers={"WWW-Authenticate": bearer_challenge(), "Cache-Control": "no-store"},
            )
        await lockout.record_success(session, form.email)
        await out.audit(session, AuditEventType.LOGIN_SUCCEEDED, user_id=user.id, client_ip=ip)
        return await out.pair(session, await settings.refresh.start(session, user.id), response)

    return router


def refresh_router(settings: TokenAppSettings, access_claims: AccessDependency) -> APIRouter:
    """``POST /auth/refresh`` rotates the refresh cookie; ``DELETE`` logs this device out."""
    db, refresh, out = settings.db, settings.refresh, TokenResponses(settings)
    Session = Annotated[AsyncSession, Depends(db.session)]
    RefreshCookie = Annotated[str | None, Cookie(alias=REFRESH_COOKIE)]
    router = APIRouter()

    @router.post(REFRESH_PATH, responses=UNAUTHORIZED_RESPONSE)
    async def refresh_tokens(
        session: Session, request: Request, response: Response, refresh_cookie: RefreshCookie = None
    ) -> dict[str, Any]:
        # Authenticated by the refresh cookie itself: that is the credential checked here.
        if refresh_cookie is None:
            raise unauthorized()
        try:
            issued = await refresh.rotate(session, refresh_cookie)
            body = await out.pair(session, issued, response)  # reads the token version ...
            await refresh.ensure_live(session, issued.token)  # ... then the family, again
        except InvalidToken as refused_token:
            if isinstance(refused_token, RefreshReuse):
                # The one event a security team wants paged on: someone replayed a token.
                if refused_token.user_id is not None:  # its family was just revoked
                    settings.forget_user(refused_token.user_id)
                await out.audit(
                    session,
                    AuditEventType.REFRESH_TOKEN_REUSED,
                    user_id=refused_token.user_id,
                    client_ip=client_ip(request),
                )
            refused = unauthorized("invalid_token")
            headers = {**(refused.headers or {}), "Set-Cookie": EXPIRED_REFRESH_COOKIE}
            raise HTTPException(401, refused.detail, headers=headers) from None
        await out.audit(
            session,
            AuditEventType.TOKEN_REFRESHED,
            user_id=issued.user_id,
            client_ip=client_ip(request),
        )
        return body

    @router.delete(REFRESH_PATH, status_code=204, responses=UNAUTHORIZED_RESPONSE)
    async def logout(
        claims: Annotated[dict[str, Any], Depends(access_claims)],
        request: Request,
        session: Session,
        response: Response,
        refresh_cookie: RefreshCookie = None,
    ) -> None:
        """Log this device out: deny its access token, revoke its refresh family."""
        user_id = int(claims["sub"])
        await deny(session, claims)
        if refresh_cookie is not None:
            try:
                await refresh.revoke(session, refresh_cookie, user_id=user_id)
            except InvalidToken:
                pass  # an invalid cookie refreshes nothing anyway; still clear it
        # This token is denied and a family revoked: forget the user's cached tokens (all of
        # them, simply; the other devices' next requests just ask the database again).
        settings.forget_user(user_id)
        response.delete_cookie(
            REFRESH_COOKIE, path=REFRESH_PATH, secure=True, httponly=True, samesite="strict"
        )
        await out.audit(
            session, AuditEventType.LOGOUT, user_id=user_id, client_ip=client_ip(request)
        )

    return router


def account_router(settings: TokenAppSettings, access_claims: AccessDependency) -> APIRouter:
    """``POST /auth/logout-everywhere`` and ``GET /me``, behind an access token."""
    Session = Annotated[AsyncSession, Depends(settings.db.session)]
    Claims = Annotated[dict[str, Any], Depends(access_claims)]
    out = TokenResponses(settings)
    router = APIRouter(responses=UNAUTHORIZED_RESPONSE)

    @router.post("/auth/logout-everywhere", status_code=204)
    async def logout_everywhere(claims: Claims, request: Request, session: Session) -> None:
        """Every token this user holds, on every device, stops working now."""
        user_id = int(claims["sub"])
        await end_all_sessions(session, user_id, "logout everywhere")
        settings.forget_user(user_id)  # after the commits: see CredentialCache.ticket
        await out.audit(
            session, AuditEventType.LOGOUT_EVERYWHERE, user_id=user_id, client_ip=client_ip(request)
        )

    @router.get("/me")
    async def me(claims: Claims, session: Session) -> dict[str, Any]:
        user = await session.get(User, int(claims["sub"]))
        if user is None:
            raise unauthorized("invalid_token")
        return {"id": user.id, "email": user.email, "display_name": user.display_name}

    return router


def token_routes(settings: TokenAppSettings) -> APIRouter:
    """Login, refresh, logout, log out everywhere, and ``/me``, on one router."""
    access_claims = require_access_token(settings.tokens, settings.db, settings.revocation_cache)
    router = APIRouter()
    router.include_router(login_router(settings))
    router.include_router(refresh_router(settings, access_claims))
    router.include_router(account_router(settings, access_claims))
    return router


def create_token_app(settings: TokenAppSettings) -> FastAPI:
    app = FastAPI(title="CloudDocs (JWT)")
    app.include_router(token_routes(settings))
    # Headers, no-store on credentialed responses, a body limit, 422s that never echo input,
    # and a 405 whose Allow lists every method a path serves (POST and DELETE /auth/refresh).
    return harden(app)
