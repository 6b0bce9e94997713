# Generated from notebooks/02_passwords_sessions.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""The CloudDocs web app with passwords and sessions, assembled from this chapter's parts.

Public routes (``/register``, ``/login``) sit behind the same-origin check and the
per-IP login limit; every other route needs a live session, and every state-changing
one also the CSRF check.
"""

import secrets
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from clouddocs.accounts import (
    EmailAlreadyRegistered,
    RegistrationError,
    authenticate,
    register_user,
)
from clouddocs.audit_log import AuditEventType, record_event
from clouddocs.clock import Clock, SystemClock
from clouddocs.csrf import CsrfProtection, SameOriginCheck, csrf_token_for
from clouddocs.db import Database, Document, User
from clouddocs.lockout import AccountLockout, LockoutPolicy
from clouddocs.password_policy import MAX_PASSWORD_LENGTH, PasswordPolicy
from clouddocs.passwords import PasswordHasher
from clouddocs.ratelimit import RateLimiter, too_many_requests
from clouddocs.security import hide_rejected_input
from clouddocs.sessions import CurrentSession, SessionManager, SessionPolicy

PUBLIC_ROUTES = frozenset({"/register", "/login"})
LOGIN_FAILED = "email or password is incorrect"
SIGNUP_ACCEPTED = "if this address can be registered, we have sent it a link to finish signing up"


@dataclass
class SessionAppSettings:
    database: Database
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    clock: Clock = field(default_factory=SystemClock)
    origin: str = "https://clouddocs.test"
    signup_tenant_id: int = 1
    login_rate_per_ip: str = "20/minute"
    rate_limit_storage: str = "memory://"
    session_policy: SessionPolicy = field(default_factory=SessionPolicy)
    lockout_policy: LockoutPolicy = field(default_factory=LockoutPolicy)
    password_policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    #: HMAC key for lockout counters and audit events (see ``AccountLockout``): random per
    #: process by default; several workers on one database must share one from a secret store.
    lockout_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)


class Credentials(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    # Longer than any password we accept at registration: refuse early (422), before hashing.
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class Registration(Credentials):
    display_name: str = Field(min_length=1, max_length=200)


def create_session_app(settings: SessionAppSettings) -> FastAPI:
    """Build the app; the caller owns the database (``create_all`` before first use)."""
    db_session = settings.database.session
    sessions = SessionManager(
        settings.database, clock=settings.clock, policy=settings.session_policy
    )
    lockout = AccountLockout(
        clock=settings.clock, policy=settings.lockout_policy, key=settings.lockout_key
    )
    login_limiter = RateLimiter(
        settings.login_rate_per_ip, settings.rate_limit_storage, scope="login-ip"
    )
    same_origin = SameOriginCheck([settings.origin])
    csrf = CsrfProtection([settings.origin], cookie_name=sessions.cookie_name)
    hasher, clock = settings.hasher, settings.clock

    public = APIRouter(dependencies=[Depends(same_origin)])

    @public.post("/register", status_code=status.HTTP_202_ACCEPTED)
    async def register(
        body: Registration, db: Annotated[AsyncSession, Depends(db_session)]
    ) -> dict[str, str]:
        try:
            user = await register_user(
                db,
                tenant_id=settings.signup_tenant_id,
                email=body.email,
                password=body.password,
                display_name=body.display_name,
                hasher=hasher,
                policy=settings.password_policy,
            )
        except EmailAlreadyRegistered:
            # Same answer as a new sign-up; the owner of the address gets an email instead.
            return {"detail": SIGNUP_ACCEPTED}
        except RegistrationError as refused:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=refused.problems) from None
        await record_event(db, AuditEventType.REGISTERED, clock=clock, user_id=user.id)
        return {"detail": SIGNUP_ACCEPTED}

    @public.post("/login")
    async def login(
        body: Credentials,
        request: Request,
        response: Response,
        db: Annotated[AsyncSession, Depends(db_session)],
    ) -> dict[str, object]:
        client_ip = _ip(request)
        key = lockout.account_key(body.email)  # an HMAC, never the email itself
        decision = await login_limiter.hit_async(client_ip)
        if not decision.allowed:
            await record_event(
                db,
                AuditEventType.LOGIN_RATE_LIMITED,
                clock=clock,
                account_key=key,
                client_ip=client_ip,
            )
            raise too_many_requests(decision)
        # Counted before the password is checked, so parallel guesses cannot slip past.
        attempt = await lockout.begin_attempt(db, body.email)
        if attempt.locked_now:
            await record_event(
                db, AuditEventType.ACCOUNT_LOCKED, clock=clock, account_key=key, client_ip=client_ip
            )
        if not attempt.allowed:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail="too many failed logins for this account; try again later",
                headers={"Retry-After": str(attempt.retry_after)},
            )
        user = await authenticate(db, email=body.email, password=body.password, hasher=hasher)
        if user is None:
            await record_event(
                db, AuditEventType.LOGIN_FAILED, clock=clock, account_key=key, client_ip=client_ip
            )
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail=LOGIN_FAILED,
                headers={
                    "WWW-Authenticate": 'Cookie realm="clouddocs", cookie-name="__Host-session"'
                },
            )
        await lockout.record_success(db, body.email)
        # A fresh id at every login; whatever id the browser brought is destroyed (fixation).
        session_id = await sessions.start(
            db, user.id, replacing=request.cookies.get(sessions.cookie_name)
        )
        sessions.set_cookie(response, session_id)
        response.headers["Cache-Control"] = "no-store"
        await record_event(
            db, AuditEventType.LOGIN_SUCCEEDED, clock=clock, user_id=user.id, client_ip=client_ip
        )
        return {"user_id": user.id, "csrf_token": csrf_token_for(session_id)}

    private = APIRouter(dependencies=[Depends(sessions.require_session), Depends(csrf)])
    Caller = Annotated[CurrentSession, Depends(sessions.require_session)]

    @private.get("/session")
    async def session_info(caller: Caller, response: Response) -> dict[str, object]:
        response.headers["Cache-Control"] = "no-store"
        return {"user_id": caller.user_id, "csrf_token": csrf_token_for(caller.session_id)}

    @private.get("/me")
    async def me(
        caller: Caller, db: Annotated[AsyncSession, Depends(db_session)]
    ) -> dict[str, object]:
        user = await db.get(User, caller.user_id)
        assert user is not None  # sessions reference users by foreign key
        return {"id": user.id, "email": user.email, "display_name": user.display_name}

    @private.post("/documents", status_code=status.HTTP_201_CREATED)
    async def create_document(
        caller: Caller,
        title: Annotated[str, Form(max_length=300)],
        db: Annotated[AsyncSession, Depends(db_session)],
    ) -> dict[str, object]:
        user = await db.get(User, caller.user_id)
        assert user is not None
        document = Document(tenant_id=user.tenant_id, owner_id=user.id, title=title)
        db.add(document)
        await db.commit()
        return {"id": document.id, "title": document.title}

    @private.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
    async def logout(
        caller: Caller, request: Request, db: Annotated[AsyncSession, Depends(db_session)]
    ) -> Response:
        await sessions.end(db, caller.session_id)
        await record_event(
            db, AuditEventType.LOGOUT, clock=clock, user_id=caller.user_id, client_ip=_ip(request)
        )
        response = Response(status_code=status.HTTP_204_NO_CONTENT)
        sessions.clear_cookie(response)
        return response

    @private.post("/logout-everywhere")
    async def logout_everywhere(
        caller: Caller,
        request: Request,
        response: Response,
        db: Annotated[AsyncSession, Depends(db_session)],
    ) -> dict[str, int]:
        ended = await sessions.end_all(db, caller.user_id)
        await record_event(
            db,
            AuditEventType.LOGOUT_EVERYWHERE,
            clock=clock,
            user_id=caller.user_id,
            client_ip=_ip(request),
        )
        sessions.clear_cookie(response)
        return {"sessions_ended": ended}

    app = FastAPI(title="CloudDocs (passwords and sessions)")
    app.include_router(public)
    app.include_router(private)
    hide_rejected_input(app)  # 422s name the field, never echo the password sent
    return app


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
