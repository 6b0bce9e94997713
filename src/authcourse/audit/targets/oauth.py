"""Audit targets for the OAuth / OpenID Connect parts of the course.

* ``build_bff()``: chapter 5's backend-for-frontend (``clouddocs.bff``), an OAuth client.
* ``build_sso()``: chapter 6's SSO app (``clouddocs.sso_app``), an OpenID relying party
  with account linking.
* ``build_provider()``: the course's own provider, ``authcourse.idp``.

The two clients are audited as ``RelyingParty`` targets: ``connect`` builds the app again
around the audit's own (misbehaving) provider. Their main ``app`` is wired to a well-behaved
course provider, as in the chapters. For the command line::

    python -m authcourse audit authcourse.audit.targets.oauth:sso.app \\
        --target authcourse.audit.targets.oauth:sso.target --only oauth_client
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2

from authcourse.audit.context import Context, set_cookies
from authcourse.audit.framework import NotApplicable
from authcourse.audit.target import (
    Account,
    Auth,
    AuthorizationServer,
    ClientRegistration,
    RelyingParty,
    Role,
    Route,
    SignIn,
    Target,
)
from authcourse.clock import FrozenClock
from authcourse.idp import IdentityProvider
from authcourse.idp import sign_in as idp_sign_in

WEB = "https://clouddocs.test"
API = "https://api.clouddocs.test"
IDP = "https://idp.test"
CALLBACK = WEB + "/auth/callback"
#: Test credentials of the in-process providers below (nothing real).
WEB_SECRET = "audit-web-secret-0123456789"
API_SECRET = "audit-api-secret-0123456789"
PASSWORD = "audit correct horse battery staple"
CSRF_HEADER = "X-CSRF-Token"
EXISTING = ("bob@acme.test", "bob's own long password for the audit")


@dataclass
class AuditedOAuth:
    """An ASGI app, the target describing it, and the clock both share."""

    app: Any
    target: Target
    clock: FrozenClock


def _course_provider(clock: FrozenClock) -> IdentityProvider:
    idp = IdentityProvider(IDP, clock=clock)
    idp.add_user("alice", PASSWORD, email="alice@acme.test", email_verified=True)
    idp.add_user("carol", PASSWORD, email="carol@acme.test", email_verified=True)
    idp.add_resource_server(API, client_id="docs-api", secret=API_SECRET)
    idp.add_client("clouddocs-web", secret=WEB_SECRET, redirect_uris=[CALLBACK],
                   scope="openid email profile groups docs:read", resources=[API])
    return idp


#: The course provider's users the sign-in hooks play: "user" and "other" (no admin here).
PEOPLE = {"user": "alice", "other": "carol"}


def _signs_in_through(idp: IdentityProvider, login_path: str, session_cookie: str,
                      csrf: Callable[[str], str] | None = None) -> SignIn:
    """``Target.sign_in`` for an app that signs users in at ``idp``: the whole code flow,
    the app's side through the audit's client and the provider's through a browser."""

    async def sign_in_as(ctx: Context, role: Role) -> Auth:
        if role not in PEOPLE:
            raise NotApplicable(f"the course provider has no {role} account for this app")
        start = await ctx.request("GET", login_path)
        pending = {c.name: c.value for c in set_cookies(start) if not c.deleted}
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=idp.app),
                                      base_url=IDP) as browser:
            answer = await idp_sign_in(browser, start.headers.get("location", ""),
                                       username=PEOPLE[role], password=PASSWORD)
        back = httpx2.URL(answer.headers.get("location", ""))
        callback = await ctx.request("GET", back.raw_path.decode(), cookies=pending)
        session = {c.name: c.value for c in set_cookies(callback) if not c.deleted}
        if session_cookie not in session:
            ctx.cite(callback, f"signing in as {role} through the course provider")
            raise NotApplicable(f"signing in as {role} through the provider failed "
                                f"({callback.status_code})")
        value = session[session_cookie]
        headers = {CSRF_HEADER: csrf(value)} if csrf is not None else {}
        return Auth(headers=headers, cookies={session_cookie: value})

    return sign_in_as


def build_provider() -> AuditedOAuth:
    """``authcourse.idp`` as an authorization server, with a web client and an API."""
    clock = FrozenClock()
    idp = _course_provider(clock)
    target = Target(
        name="authcourse.idp (the course's provider)",
        origin=IDP,
        protected=Route("GET", "/userinfo"),
        # OAuth endpoints authenticate clients (or users) themselves; the provider probes
        # check that they refuse what they must.
        public_routes=frozenset({
            "GET /.well-known/openid-configuration", "GET /jwks", "GET /authorize",
            "POST /authorize", "GET /logout", "POST /logout", "POST /token", "POST /revoke",
            "POST /introspect",
        }),
        max_body_bytes=16 * 1024,  # authcourse.idp.requests.MAX_BODY_BYTES
        clock=clock,
        provider=AuthorizationServer(
            client_id="clouddocs-web",
            client_secret=WEB_SECRET,
            redirect_uri=CALLBACK,
            user=Account("alice", PASSWORD),
            scope="openid email",
            resource_server=Account("docs-api", API_SECRET),
            resource=API,
        ),
    )
    return AuditedOAuth(idp.app, target, clock)


def build_bff() -> AuditedOAuth:
    """Chapter 5's BFF: Authlib's Starlette client, tokens kept server side."""
    import jwt
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import StaticPool

    from clouddocs.bff import SESSION_COOKIE, BffSettings, create_bff_app, create_tables
    from clouddocs.resource_server import JwtAccessTokens, create_docs_api

    # Authlib checks ID token times against the wall clock: start the frozen clock now.
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    idp = _course_provider(clock)
    # One in-memory database for every app built here (sessions are keyed by random ids).
    engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool,
                                 connect_args={"check_same_thread": False})

    # The API the BFF calls, trusting the course provider's keys (JWT access tokens).
    verifier = JwtAccessTokens(issuer=IDP, audience=API, jwks=jwt.PyJWKSet.from_dict(idp.jwks),
                               clock=clock)
    api = httpx2.ASGITransport(app=create_docs_api(verifier.verify))

    def bff(issuer: str, client_id: str, secret: str, redirect_uri: str,
            transport: httpx2.AsyncBaseTransport) -> Any:
        app = create_bff_app(BffSettings(
            issuer=issuer, client_id=client_id, client_secret=secret, redirect_uri=redirect_uri,
            api_base_url=API, state_secret="audit-state-secret-" + "s" * 32, engine=engine,
            idp_transport=transport, api_transport=api, clock=clock,
        ))

        @contextlib.asynccontextmanager
        async def tables(_app: Any) -> AsyncIterator[None]:
            await create_tables(engine)
            yield

        app.router.lifespan_context = tables
        return app

    async def connect(registration: ClientRegistration) -> Any:
        return bff(registration.issuer, registration.client_id, registration.client_secret,
                   registration.redirect_uri, registration.transport)

    app = bff(IDP, "clouddocs-web", WEB_SECRET, CALLBACK, httpx2.ASGITransport(app=idp.app))
    target = Target(
        name="chapter 5 BFF (clouddocs.bff)",
        origin=WEB,
        protected=Route("GET", "/api/me"),
        logout=Route("POST", "/logout"),
        public_routes=frozenset({"GET /login", "GET /auth/callback"}),
        session_cookie=SESSION_COOKIE,
        clock=clock,
        sign_in=_signs_in_through(idp, "/login", SESSION_COOKIE),
        relying_party=RelyingParty(connect=connect, session_cookie=SESSION_COOKIE,
                                   scope="openid docs:read", resource=API),
    )
    return AuditedOAuth(app, target, clock)


def build_sso() -> AuditedOAuth:
    """Chapter 6's SSO app: ``clouddocs.oidc`` relying party, accounts by (iss, sub)."""
    from clouddocs.accounts import register_user
    from clouddocs.csrf import csrf_token_for
    from clouddocs.db import Database, Tenant
    from clouddocs.oidc import RelyingParty as OidcClient
    from clouddocs.passwords import TEST_ARGON2, PasswordHasher
    from clouddocs.sessions import SESSION_COOKIE
    from clouddocs.sso_app import SsoAppSettings, TenantProvider, create_sso_app

    clock = FrozenClock()
    idp = _course_provider(clock)
    database = Database()
    hasher = PasswordHasher(TEST_ARGON2)

    async def seed() -> None:
        await database.create_all()
        async with database.sessions() as session:
            if await session.get(Tenant, 1) is None:
                session.add(Tenant(id=1, name="Acme"))
                await session.commit()
                await register_user(session, tenant_id=1, email=EXISTING[0], display_name="Bob",
                                    password=EXISTING[1], hasher=hasher)

    def sso(tenant: str, issuer: str, client_id: str, secret: str, redirect_uri: str,
            transport: httpx2.AsyncBaseTransport) -> Any:
        client = OidcClient(issuer=issuer, client_id=client_id, client_secret=secret,
                            redirect_uri=redirect_uri, clock=clock,
                            http_client=httpx2.AsyncClient(transport=transport),
                            scope="openid email profile")
        app = create_sso_app(SsoAppSettings(
            database=database, providers={tenant: TenantProvider(1, client)}, hasher=hasher,
            clock=clock, origin=WEB))

        @contextlib.asynccontextmanager
        async def seeded(_app: Any) -> AsyncIterator[None]:
            await seed()
            yield

        app.router.lifespan_context = seeded
        return app

    async def connect(registration: ClientRegistration) -> Any:
        return sso("audit", registration.issuer, registration.client_id,
                   registration.client_secret, registration.redirect_uri, registration.transport)

    app = sso("acme", IDP, "clouddocs-web", WEB_SECRET, CALLBACK,
              httpx2.ASGITransport(app=idp.app))
    target = Target(
        name="chapter 6 SSO app (clouddocs.sso_app)",
        origin=WEB,
        protected=Route("GET", "/me"),
        logout=Route("POST", "/logout"),
        # /auth/link is reached mid-login, before any session: the pending link (a
        # single-use flow cookie) and the account's password are its credentials.
        public_routes=frozenset({"GET /login/{tenant}", "GET /auth/callback",
                                 "POST /auth/link"}),
        session_cookie=SESSION_COOKIE,
        clock=clock,
        sign_in=_signs_in_through(idp, "/login/acme", SESSION_COOKIE, csrf_token_for),
        relying_party=RelyingParty(
            connect=connect, session_cookie=SESSION_COOKIE, login=Route("GET", "/login/audit"),
            scope="openid email profile", me=Route("GET", "/me"), existing_email=EXISTING[0]),
    )
    return AuditedOAuth(app, target, clock)


_BUILDERS = {"bff": build_bff, "sso": build_sso, "provider": build_provider}


def __getattr__(name: str) -> AuditedOAuth:
    # ``module:sso.app`` on the command line builds the app on first access.
    if name in _BUILDERS:
        built = _BUILDERS[name]()
        globals()[name] = built
        return built
    raise AttributeError(name)
