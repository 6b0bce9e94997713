# Generated from notebooks/06_openid_connect.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""CloudDocs with single sign-on: each tenant signs in through its own OpenID provider.

``GET /login/{tenant}`` sends the browser to the tenant's provider, ``GET /auth/callback``
finishes the login (``clouddocs.oidc``), provisions the account by (``iss``, ``sub``)
(``clouddocs.sso``), maps the user's IdP groups to a role and opens a chapter-2 session.
``POST /auth/link`` links a provider account to an existing password account once the user
proves it; ``POST /logout`` ends the session here and returns the provider's logout URL.
"""

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Float, ForeignKey, String, Text, delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.accounts import authenticate
from clouddocs.clock import Clock, SystemClock
from clouddocs.csrf import CsrfProtection, SameOriginCheck
from clouddocs.db import Base, Database, User
from clouddocs.oidc import LOGIN_TIMEOUT, OIDCError, RelyingParty, pending_issuer
from clouddocs.passwords import PasswordHasher
from clouddocs.ratelimit import RateLimiter, too_many_requests
from clouddocs.security import harden
from clouddocs.sessions import CurrentSession, SessionManager, hash_session_id, new_session_id
from clouddocs.sso import LinkRequired, link_identity, provision, role_for_groups

FLOW_COOKIE = "__Host-oidc-flow"
SIGN_IN_FAILED = "the sign-in could not be completed; start again"
log = logging.getLogger("clouddocs.sso")


class LoginFlow(Base):
    """A login in progress (state, nonce, PKCE verifier) or a link waiting for a password.

    The browser holds a random id in a cookie; the table holds its SHA-256, as for sessions.
    """

    __tablename__ = "login_flows"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[float] = mapped_column(Float)


class UserRole(Base):
    """The user's CloudDocs role, mapped from their IdP groups at every sign-in."""

    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))


class SsoSession(Base):
    """The ID token behind a session, sent back as ``id_token_hint`` at logout."""

    __tablename__ = "sso_sessions"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    id_token: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class TenantProvider:
    """One customer's provider: who signs in to ``tenant_id`` through it, groups → roles."""

    tenant_id: int
    relying_party: RelyingParty
    group_roles: Mapping[str, str] = field(default_factory=dict)
    default_role: str = "viewer"


@dataclass
class SsoAppSettings:
    database: Database
    providers: Mapping[str, TenantProvider]  # by tenant name in the URL: /login/acme
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    clock: Clock = field(default_factory=SystemClock)
    origin: str = "https://clouddocs.test"
    post_logout_redirect_uri: str | None = None
    #: Password attempts at POST /auth/link, per target account (a hostile tenant provider
    #: could otherwise use the link form to guess passwords without the login's lockout).
    link_attempts_per_account: str = "5/hour"
    login_rate_per_ip: str = "30/minute"
    rate_limit_storage: str = "memory://"


#: Declared in OpenAPI: what a route behind the session (and CSRF) checks may answer.
NOT_SIGNED_IN: dict[int | str, dict[str, Any]] = {401: {
    "description": "No live session",
    "headers": {"WWW-Authenticate": {"description": 'Cookie realm="clouddocs"',
                                     "schema": {"type": "string"}}}}}
CROSS_SITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Cross-origin request, or missing or wrong CSRF token"}}

TOO_MANY: dict[int | str, dict[str, Any]] = {429: {
    "description": "Too many attempts (logins from this address, or passwords for this account)",
    "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}}}


class FlowStore:
    """Login flows in the database, each readable once (``take`` deletes it)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def put(self, db: AsyncSession, response: Response, data: Mapping[str, Any]) -> None:
        flow_id = new_session_id()
        # Abandoned logins are swept here, so the table holds at most ten minutes of them.
        await db.execute(delete(LoginFlow).where(
            LoginFlow.created_at < self.clock.time() - LOGIN_TIMEOUT))
        db.add(LoginFlow(id_hash=hash_session_id(flow_id), data=json.dumps(dict(data)),
                         created_at=self.clock.time()))
        await db.commit()
        # SameSite=Lax: the callback is a top-level GET from the provider's site, which
        # Lax cookies accompany; Strict ones would not.
        response.set_cookie(FLOW_COOKIE, flow_id, httponly=True, secure=True,
                            samesite="lax", path="/", max_age=LOGIN_TIMEOUT)

    async def take(self, db: AsyncSession, request: Request) -> dict[str, Any]:
        flow_id = request.cookies.get(FLOW_COOKIE, "")
        row = await db.get(LoginFlow, hash_session_id(flow_id)) if flow_id else None
        if row is None:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=SIGN_IN_FAILED)
        await db.delete(row)  # single use: a replayed callback finds nothing
        await db.commit()
        if self.clock.time() - row.created_at > LOGIN_TIMEOUT:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=SIGN_IN_FAILED)
        data: dict[str, Any] = json.loads(row.data)
        return data


class LinkBody(BaseModel):
    password: str = Field(min_length=1, max_length=1024)


async def record_sign_in(db: AsyncSession, user: User, role: str, tenant: str, id_token: str,
                         sessions: SessionManager, request: Request, response: Response
                         ) -> dict[str, object]:
    """Set the role from this sign-in's groups, open a session, remember the ID token."""
    record = await db.get(UserRole, user.id)
    if record is None:
        db.add(UserRole(user_id=user.id, role=role))
    else:
        record.role = role  # groups removed at the provider take effect at the next sign-in
    await db.commit()
    # A new session id at login; the one the browser had before (if any) is ended (fixation).
    previous = request.cookies.get(sessions.cookie_name)
    session_id = await sessions.start(db, user.id, replacing=previous)
    db.add(SsoSession(session_hash=hash_session_id(session_id), tenant=tenant, id_token=id_token))
    await db.commit()
    sessions.set_cookie(response, session_id)
    # Max-Age=0 ends the flow cookie (no Expires date: nothing depends on the wall clock).
    response.set_cookie(FLOW_COOKIE, "", max_age=0, httponly=True, secure=True, samesite="lax", path="/")
    return {"user_id": user.id, "email": user.email, "role": role}


def add_login_routes(app: FastAPI, settings: SsoAppSettings, sessions: SessionManager,
                     flows: FlowStore) -> None:
    """``GET /login/{tenant}`` and ``GET /auth/callback``."""
    Db = Annotated[AsyncSession, Depends(settings.database.session)]
    by_issuer = {p.relying_party.issuer: (name, p) for name, p in settings.providers.items()}

    # Each login start writes a row: a per-IP limit keeps a flood from filling the table.
    limiter = RateLimiter(settings.login_rate_per_ip, settings.rate_limit_storage,
                          scope="sso-login-ip")

    @app.get("/login/{tenant}", status_code=303,
             responses={404: {"description": "No such tenant"}, **TOO_MANY})
    async def login(tenant: str, request: Request, db: Db) -> Response:
        decision = await limiter.hit_async(request.client.host if request.client else "?")
        if not decision.allowed:
            raise too_many_requests(decision)
        provider = settings.providers.get(tenant)
        if provider is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such tenant")
        pending: dict[str, Any] = {"tenant": tenant}
        url = await provider.relying_party.start_login(pending)
        response = Response(status_code=303, headers={"Location": url})
        await flows.put(db, response, pending)
        return response

    @app.get("/auth/callback", response_model=None,
             responses={400: {"description": "Sign-in failed"},
                        409: {"description": "Prove the existing account"}})
    async def callback(request: Request, response: Response, db: Db) -> dict[str, object] | Response:
        pending = await flows.take(db, request)
        name, provider = by_issuer.get(pending_issuer(pending) or "", ("", None))
        if provider is None or pending.get("tenant") != name:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=SIGN_IN_FAILED)
        try:
            identity = await provider.relying_party.finish_login(str(request.url), pending)
            user = await provision(db, identity.claims, tenant_id=provider.tenant_id)
        except LinkRequired as needed:
            # The provider verified the email of an existing account: the user must prove
            # that account (POST /auth/link with its password) before the two are linked.
            conflict = JSONResponse({"detail": str(needed)}, status_code=409)
            await flows.put(db, conflict, {"tenant": name, "user_id": needed.user_id,
                                           "claims": dict(identity.claims),
                                           "id_token": identity.id_token})
            return conflict
        except OIDCError as refused:
            log.warning("SSO sign-in refused: %s", refused)  # the reason, never a token
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=SIGN_IN_FAILED) from None
        role = role_for_groups(identity.groups, provider.group_roles, provider.default_role)
        return await record_sign_in(db, user, role, name, identity.id_token, sessions, request, response)


def add_account_routes(app: FastAPI, settings: SsoAppSettings, sessions: SessionManager,
                       flows: FlowStore) -> None:
    """``POST /auth/link``, ``GET /me`` and ``POST /logout``."""
    Db = Annotated[AsyncSession, Depends(settings.database.session)]
    same_origin = SameOriginCheck([settings.origin])
    csrf = CsrfProtection([settings.origin], cookie_name=sessions.cookie_name)
    link_limiter = RateLimiter(settings.link_attempts_per_account, settings.rate_limit_storage,
                               scope="sso-link")

    @app.post("/auth/link", dependencies=[Depends(same_origin)],
              responses={400: {"description": "No link waiting"},
                         403: {"description": "Wrong password, or a cross-origin request"},
                         **TOO_MANY})
    async def link(body: LinkBody, request: Request, response: Response, db: Db) -> dict[str, object]:
        waiting = await flows.take(db, request)
        name, provider = waiting.get("tenant"), settings.providers.get(str(waiting.get("tenant")))
        target = await db.get(User, waiting.get("user_id", 0)) if "claims" in waiting else None
        if provider is None or target is None:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=SIGN_IN_FAILED)
        decision = await link_limiter.hit_async(str(target.id))
        if not decision.allowed:
            raise too_many_requests(decision)
        proved = await authenticate(db, email=target.email, password=body.password,
                                    hasher=settings.hasher)
        if proved is None or proved.id != target.id:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="the password does not match")
        claims = waiting["claims"]
        try:
            await link_identity(db, claims, user=target)
        except OIDCError:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=SIGN_IN_FAILED) from None
        groups = claims.get(provider.relying_party.groups_claim)
        role = role_for_groups(groups if isinstance(groups, list) else [],
                               provider.group_roles, provider.default_role)
        return await record_sign_in(db, target, role, str(name), waiting["id_token"],
                                    sessions, request, response)

    @app.get("/me", responses=NOT_SIGNED_IN)
    async def me(current: Annotated[CurrentSession, Depends(sessions.require_session)],
                 db: Db) -> dict[str, object]:
        user = await db.get(User, current.user_id)
        role = await db.get(UserRole, current.user_id)
        return {"user_id": current.user_id, "email": user.email if user else None,
                "role": role.role if role else None}

    @app.post("/logout", dependencies=[Depends(csrf)], responses={**NOT_SIGNED_IN, **CROSS_SITE})
    async def logout(current: Annotated[CurrentSession, Depends(sessions.require_session)],
                     response: Response, db: Db) -> dict[str, str | None]:
        """End the session here; ``end_session_url`` ends it at the provider too."""
        record = await db.get(SsoSession, hash_session_id(current.session_id))
        await db.execute(delete(SsoSession).where(
            SsoSession.session_hash == hash_session_id(current.session_id)))
        await sessions.end(db, current.session_id)
        sessions.clear_cookie(response)
        provider = settings.providers.get(record.tenant) if record else None
        url = None
        if record is not None and provider is not None:
            url = await provider.relying_party.logout_url(
                record.id_token, settings.post_logout_redirect_uri)
        return {"end_session_url": url}


def create_sso_app(settings: SsoAppSettings) -> FastAPI:
    """Build the app; the caller owns the database (``create_all`` before first use)."""
    app = harden(FastAPI(title="CloudDocs SSO"))
    sessions = SessionManager(settings.database, clock=settings.clock)
    flows = FlowStore(settings.clock)
    add_login_routes(app, settings, sessions, flows)
    add_account_routes(app, settings, sessions, flows)
    return app
