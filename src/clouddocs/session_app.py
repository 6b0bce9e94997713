# Generated from notebooks/02_passwords_sessions.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""The CloudDocs web app with passwords and sessions, assembled from this chapter's parts.

Public routes (``/register``, ``/signup/activate``, ``/login``) sit behind the same-origin
check and per-IP limits; every other route needs a live session, and every
state-changing one also the CSRF check. Error responses are declared in the OpenAPI.
"""

import secrets
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from clouddocs.clock import Clock, SystemClock
from clouddocs.credential_cache import CredentialCache
from clouddocs.db import Database
from clouddocs.lockout import LockoutPolicy
from clouddocs.password_policy import MAX_PASSWORD_LENGTH, PasswordPolicy
from clouddocs.passwords import PasswordHasher
from clouddocs.sessions import SessionEntry, SessionPolicy
from clouddocs.signup import MemoryOutbox, Outbox

LOGIN_FAILED = "email or password is incorrect"
SIGNUP_ACCEPTED = "if this address can be registered, we have sent it a link to finish signing up"
INVALID_LINK = "this link is invalid or has expired; request a new one"


@dataclass
class SessionAppSettings:
    database: Database
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    clock: Clock = field(default_factory=SystemClock)
    origin: str = "https://clouddocs.test"
    #: Where sign-up and invitation mail goes. The default keeps it in memory (a notebook
    #: reads it); production passes a sender for its mail service.
    outbox: Outbox = field(default_factory=MemoryOutbox)
    login_rate_per_ip: str = "20/minute"
    register_rate_per_ip: str = "10/hour"
    #: Mail to one address, whoever asks: stops mail-bombing a stranger through /register.
    register_rate_per_address: str = "3/hour"
    rate_limit_storage: str = "memory://"
    session_policy: SessionPolicy = field(default_factory=SessionPolicy)
    #: Off by default; see clouddocs.credential_cache for what turning it on gives away.
    session_cache: CredentialCache[SessionEntry] | None = None
    lockout_policy: LockoutPolicy = field(default_factory=LockoutPolicy)
    password_policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    #: HMAC key for lockout counters, audit events and per-address limits (see
    #: ``AccountLockout``): random per process by default; workers on one database share one.
    lockout_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)


class Credentials(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    # Longer than any password we accept at registration: refuse early (422), before hashing.
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class SignupRequest(BaseModel):
    email: str = Field(min_length=3, max_length=320)  # syntax checked by the route: a 400


class Activation(BaseModel):
    token: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    display_name: str = Field(min_length=1, max_length=200)


class Invitation(BaseModel):
    email: str = Field(min_length=3, max_length=320)


from typing import Any

from clouddocs.csrf import CsrfProtection, SameOriginCheck
from clouddocs.lockout import AccountLockout
from clouddocs.ratelimit import RateLimiter, too_many_requests
from clouddocs.sessions import SessionManager

_COOKIE_CHALLENGE = 'Cookie realm="clouddocs", cookie-name="__Host-session"'
_HEADER = {"schema": {"type": "string"}}
#: Error responses the routes may give, declared so clients (and fuzzers) know them.
ERRORS: dict[int, dict[str, Any]] = {
    400: {"description": "Refused input, explained in `detail`"},
    401: {"description": "Not logged in", "headers": {"WWW-Authenticate": _HEADER}},
    403: {"description": "Cross-origin request, or missing or invalid CSRF token"},
    429: {"description": "Too many requests", "headers": {"Retry-After": _HEADER}},
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The declared responses for ``codes``, for a router's or a route's ``responses=``."""
    return {code: ERRORS[code] for code in codes}


@dataclass
class _Parts:
    """The collaborators every router of this app shares."""

    settings: SessionAppSettings
    sessions: SessionManager
    lockout: AccountLockout
    same_origin: SameOriginCheck
    csrf: CsrfProtection
    limiter: dict[str, RateLimiter]


def _parts(settings: SessionAppSettings) -> _Parts:
    sessions = SessionManager(
        settings.database,
        clock=settings.clock,
        policy=settings.session_policy,
        cache=settings.session_cache,
    )
    store = settings.rate_limit_storage
    return _Parts(
        settings=settings,
        sessions=sessions,
        lockout=AccountLockout(
            clock=settings.clock, policy=settings.lockout_policy, key=settings.lockout_key
        ),
        same_origin=SameOriginCheck([settings.origin]),
        csrf=CsrfProtection([settings.origin], cookie_name=sessions.cookie_name),
        limiter={
            "login-ip": RateLimiter(settings.login_rate_per_ip, store, scope="login-ip"),
            "register-ip": RateLimiter(settings.register_rate_per_ip, store, scope="register-ip"),
            "register-address": RateLimiter(
                settings.register_rate_per_address, store, scope="register-address"
            ),
        },
    )


from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from clouddocs.accounts import RegistrationError, is_valid_email, normalize_email
from clouddocs.audit_log import AuditEventType, record_event
from clouddocs.signup import InvalidSignupToken, activate, request_signup


def _signup_router(parts: _Parts) -> APIRouter:
    settings, db_session = parts.settings, parts.settings.database.session
    router = APIRouter(dependencies=[Depends(parts.same_origin)], responses=errors(400, 403, 429))

    @router.post("/register", status_code=status.HTTP_202_ACCEPTED)
    async def register(
        body: SignupRequest, request: Request, db: Annotated[AsyncSession, Depends(db_session)]
    ) -> dict[str, str]:
        per_ip = await parts.limiter["register-ip"].hit_async(_ip(request))
        if not per_ip.allowed:
            raise too_many_requests(per_ip)
        email = normalize_email(body.email)
        if not is_valid_email(email):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="enter a valid email address")
        # Keyed by an HMAC of the address (never the address); over the limit, the same 202
        # and no mail: the answer must not depend on the address, the inbox must not flood.
        per_address = await parts.limiter["register-address"].hit_async(
            parts.lockout.account_key(email)
        )
        if per_address.allowed:
            await request_signup(
                db, email=email, outbox=settings.outbox, clock=settings.clock,
                base_url=settings.origin,
            )  # fmt: skip
        return {"detail": SIGNUP_ACCEPTED}

    @router.post("/signup/activate", status_code=status.HTTP_201_CREATED)
    async def activate_account(
        body: Activation, db: Annotated[AsyncSession, Depends(db_session)]
    ) -> dict[str, int]:
        try:
            user = await activate(
                db, token=body.token, password=body.password, display_name=body.display_name,
                hasher=settings.hasher, clock=settings.clock, policy=settings.password_policy,
            )  # fmt: skip
        except InvalidSignupToken:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=INVALID_LINK) from None
        except RegistrationError as refused:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=refused.problems) from None
        await record_event(db, AuditEventType.REGISTERED, clock=settings.clock, user_id=user.id)
        return {"user_id": user.id}

    return router


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


from fastapi import Response

from clouddocs.accounts import authenticate
from clouddocs.csrf import csrf_token_for


def _login_router(parts: _Parts) -> APIRouter:
    settings, db_session = parts.settings, parts.settings.database.session
    clock, lockout, sessions = settings.clock, parts.lockout, parts.sessions
    router = APIRouter(dependencies=[Depends(parts.same_origin)], responses=errors(401, 403, 429))

    @router.post("/login")
    async def login(
        body: Credentials,
        request: Request,
        response: Response,
        db: Annotated[AsyncSession, Depends(db_session)],
    ) -> dict[str, object]:
        client_ip = _ip(request)
        key = lockout.account_key(body.email)  # an HMAC, never the email itself
        decision = await parts.limiter["login-ip"].hit_async(client_ip)
        if not decision.allowed:
            await record_event(db, AuditEventType.LOGIN_RATE_LIMITED, clock=clock,
                               account_key=key, client_ip=client_ip)  # fmt: skip
            raise too_many_requests(decision)
        # Counted before the password is checked, so parallel guesses cannot slip past.
        attempt = await lockout.begin_attempt(db, body.email)
        if attempt.locked_now:
            await record_event(db, AuditEventType.ACCOUNT_LOCKED, clock=clock,
                               account_key=key, client_ip=client_ip)  # fmt: skip
        if not attempt.allowed:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail="too many failed logins for this account; try again later",
                headers={"Retry-After": str(attempt.retry_after)},
            )
        user = await authenticate(
            db, email=body.email, password=body.password, hasher=settings.hasher
        )
        if user is None:
            await record_event(db, AuditEventType.LOGIN_FAILED, clock=clock,
                               account_key=key, client_ip=client_ip)  # fmt: skip
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail=LOGIN_FAILED,
                headers={"WWW-Authenticate": _COOKIE_CHALLENGE},
            )
        await lockout.record_success(db, body.email)
        # A fresh id at every login; whatever id the browser brought is destroyed (fixation).
        session_id = await sessions.start(
            db, user.id, replacing=request.cookies.get(sessions.cookie_name)
        )
        sessions.set_cookie(response, session_id)
        response.headers["Cache-Control"] = "no-store"
        await record_event(db, AuditEventType.LOGIN_SUCCEEDED, clock=clock,
                           user_id=user.id, client_ip=client_ip)  # fmt: skip
        return {"user_id": user.id, "csrf_token": csrf_token_for(session_id)}

    return router


from fastapi import FastAPI, Form

from clouddocs.db import Document, User
from clouddocs.sessions import CurrentSession
from clouddocs.signup import invite


def _account_router(parts: _Parts) -> APIRouter:
    settings, db_session, sessions = parts.settings, parts.settings.database.session, parts.sessions
    clock = settings.clock
    router = APIRouter(
        dependencies=[Depends(sessions.require_session), Depends(parts.csrf)],
        responses=errors(401, 403),
    )
    Caller = Annotated[CurrentSession, Depends(sessions.require_session)]
    Db = Annotated[AsyncSession, Depends(db_session)]

    @router.get("/session")
    async def session_info(caller: Caller, response: Response) -> dict[str, object]:
        response.headers["Cache-Control"] = "no-store"
        return {"user_id": caller.user_id, "csrf_token": csrf_token_for(caller.session_id)}

    @router.get("/me")
    async def me(caller: Caller, db: Db) -> dict[str, object]:
        user = await db.get(User, caller.user_id)
        assert user is not None  # sessions reference users by foreign key
        return {"id": user.id, "email": user.email, "display_name": user.display_name}

    @router.post("/documents", status_code=status.HTTP_201_CREATED)
    async def create_document(
        caller: Caller, title: Annotated[str, Form(min_length=1, max_length=300)], db: Db
    ) -> dict[str, object]:
        user = await db.get(User, caller.user_id)
        assert user is not None
        document = Document(tenant_id=user.tenant_id, owner_id=user.id, title=title)
        db.add(document)
        await db.commit()
        return {"id": document.id, "title": document.title}

    @router.post("/invitations", status_code=status.HTTP_202_ACCEPTED, responses=errors(400))
    async def invite_member(caller: Caller, body: Invitation, db: Db) -> dict[str, str]:
        """Invite someone into the caller's own tenant: the only way into an existing one.
        (Chapter 7 restricts this to admins.) The answer never says whether the address
        already has an account."""
        user = await db.get(User, caller.user_id)
        assert user is not None
        try:
            await invite(db, tenant_id=user.tenant_id, email=body.email, outbox=settings.outbox,
                         clock=clock, base_url=settings.origin)  # fmt: skip
        except RegistrationError as refused:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=refused.problems) from None
        return {"detail": "invitation sent"}

    @router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
    async def logout(caller: Caller, request: Request, db: Db) -> Response:
        await sessions.end(db, caller.session_id)
        await record_event(db, AuditEventType.LOGOUT, clock=clock, user_id=caller.user_id,
                           client_ip=_ip(request))  # fmt: skip
        response = Response(status_code=status.HTTP_204_NO_CONTENT)
        sessions.clear_cookie(response)
        return response

    @router.post("/logout-everywhere")
    async def logout_everywhere(
        caller: Caller, request: Request, response: Response, db: Db
    ) -> dict[str, int]:
        ended = await sessions.end_all(db, caller.user_id)
        await record_event(db, AuditEventType.LOGOUT_EVERYWHERE, clock=clock,
                           user_id=caller.user_id, client_ip=_ip(request))  # fmt: skip
        sessions.clear_cookie(response)
        return {"sessions_ended": ended}

    return router


from clouddocs.security import harden

#: Routes anyone may call; every other route needs a live session (and the CSRF check).
PUBLIC_ROUTES = frozenset({"/register", "/signup/activate", "/login"})


def create_session_app(settings: SessionAppSettings) -> FastAPI:
    """Build the app; the caller owns the database (``create_all`` before first use)."""
    parts = _parts(settings)
    app = FastAPI(title="CloudDocs (passwords and sessions)")
    app.include_router(_signup_router(parts))
    app.include_router(_login_router(parts))
    app.include_router(_account_router(parts))
    # Chapter 1's baseline: security headers (HSTS over https only), no-store on responses
    # to credentialed requests, a 413 body limit, 422s that never echo the input.
    return harden(app)
