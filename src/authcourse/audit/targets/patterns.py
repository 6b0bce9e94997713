"""Audit targets for chapter 8's four production-pattern apps (``clouddocs.patterns``).

Each ``build_*()`` returns an ``AuditedPattern``: the app, freshly seeded (in-memory
database, FrozenClock), the ``Target`` describing it, and the pattern's own handles
(``world``) for tests. Everything is imported directly from ``clouddocs``:

- ``startup_saas``: password login, JWT access + rotating refresh tokens, RBAC on ``/team``;
- ``api_platform``: API keys and OAuth access tokens (from ``authcourse.idp``) on one API,
  per-caller limits, signed webhooks; the user and the other user call with OAuth tokens
  of two tenants (so the JWT probes run), the admin with a ``keys:manage`` key;
- ``enterprise``: OIDC SSO through each tenant's provider (``authcourse.idp``), RBAC from
  IdP groups, ABAC labels, tenant-filtered documents; each sign-in runs the real flow;
- ``microservices``: the billing service, every in-process request arriving as if over
  an mTLS connection from the ``gateway`` service (the audit speaks HTTP, not TLS).

For the command line (``make audit`` runs all four)::

    python -m authcourse audit authcourse.audit.targets.patterns:microservices.app \\
        --target authcourse.audit.targets.patterns:microservices.target
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx2
import jwt
from sqlalchemy import insert

from authcourse.audit.context import Context
from authcourse.audit.framework import NotApplicable
from authcourse.audit.target import (
    Account,
    ApiKeys,
    AuditEvents,
    Auth,
    ClientRegistration,
    Collection,
    IssuedKey,
    Login,
    ObjectRoute,
    Refresh,
    Role,
    Route,
    SecondTenant,
    Target,
    WhoAmI,
)
from authcourse.audit.target import RelyingParty as AuditedRelyingParty
from authcourse.audit.targets.clouddocs import CountingHasher
from authcourse.clock import FrozenClock
from authcourse.tls import CertificateAuthority, WithTLSExtension, tls_extension

ORIGIN = "https://clouddocs.test"
GATEWAY = "https://gateway.clouddocs.test"
IDP = "https://idp.test"
API = "https://api.clouddocs.test"
PASSWORD = {
    "user": "amber falcon quietly sings at dawn",
    "other": "violet otter builds a paper bridge",
    "admin": "seven lanterns drift over the harbour",
    "spare": "granite moth reads the old almanac",
    "victim": "copper kettle hums beside the window",
}


@dataclass
class AuditedPattern:
    """An ASGI app, the target describing it, the clock both share, the pattern's handles."""

    app: Any
    target: Target
    clock: FrozenClock
    world: dict[str, Any] = field(default_factory=dict)


def _events(database: Any) -> AuditEvents:
    from sqlalchemy import select

    from clouddocs.audit_log import AuditEvent

    async def read() -> list[dict[str, Any]]:
        async with database.sessions() as session:
            rows = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
        return [{c.name: getattr(row, c.name) for c in AuditEvent.__table__.columns} for row in rows]

    return AuditEvents(read=read)


# --- startup SaaS ------------------------------------------------------------------------


def build_startup_saas() -> AuditedPattern:
    """Passwords + JWT + RBAC: ada (member) and cy (member) of Acme, bob of Globex, root
    Acme's admin; dee is the member the admin route (``DELETE /team/{id}``) removes."""
    from clouddocs.accounts import register_user
    from clouddocs.db import Database, Tenant
    from clouddocs.jwt_tokens import KeyRing, TokenService, TokenSettings, new_hs256_key
    from clouddocs.patterns import startup_saas_app
    from clouddocs.rbac import Membership
    from clouddocs.refresh_tokens import RefreshTokens
    from clouddocs.token_app import TokenAppSettings

    clock, database = FrozenClock(), Database()
    hasher: Any = CountingHasher()  # a PasswordHasher in all but name
    key = new_hs256_key("saas-audit")
    tokens = TokenService(KeyRing(key), TokenSettings(ORIGIN, API), clock)
    app = startup_saas_app(
        TokenAppSettings(db=database, tokens=tokens, refresh=RefreshTokens(tokens), hasher=hasher)
    )
    people = {
        "user": ("ada@acme.test", 1, "member"),
        "spare": ("cy@acme.test", 1, "member"),
        "other": ("bob@globex.test", 2, "member"),
        "admin": ("root@acme.test", 1, "admin"),
        "victim": ("dee@acme.test", 1, "member"),
    }
    ids: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def seeded(_app: Any) -> AsyncIterator[None]:
        await database.create_all()
        if not ids:
            async with database.sessions() as session:
                session.add_all([Tenant(id=1, name="Acme"), Tenant(id=2, name="Globex")])
                await session.commit()
                for role, (email, tenant_id, _) in people.items():
                    user = await register_user(
                        session, tenant_id=tenant_id, email=email, display_name=role,
                        password=PASSWORD[role], hasher=hasher,
                    )
                    ids[role] = user.id
            async with database.engine.begin() as connection:
                await connection.execute(insert(Membership), [
                    {"tenant_id": tenant_id, "user_id": ids[role], "role": rbac_role}
                    for role, (_, tenant_id, rbac_role) in people.items()
                ])
        yield

    app.router.lifespan_context = seeded

    def sign(claims: Mapping[str, Any], header: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), key.private_key, algorithm="HS256", headers=dict(header))

    def account(role: str) -> Account:
        return Account(people[role][0], PASSWORD[role])

    target = Target(
        name="startup SaaS pattern",
        origin=ORIGIN,
        protected=Route("GET", "/team"),
        user=account("user"),
        other_user=account("other"),
        admin=account("admin"),
        spare=account("spare"),
        login=Login("/auth/login", username_field="email"),
        refresh=Refresh("/auth/refresh", cookie="__Secure-refresh"),
        logout=Route("DELETE", "/auth/refresh"),
        # The victim is seeded fifth: user id 5. The admin removes them; a member may not.
        admin_route=Route("DELETE", "/team/5"),
        events=_events(database),
        clock=clock,
        sign=sign,
        public_routes=frozenset({"POST /auth/login", "POST /auth/refresh"}),
        meter=lambda: float(hasher.calls),
    )
    return AuditedPattern(app, target, clock, {"db": database, "tokens": tokens, "ids": ids})


# --- API platform --------------------------------------------------------------------------

#: OAuth clients of the platform's provider, each linked to a CloudDocs user of a tenant.
PARTNERS = {"user": ("partner-acme", 1), "other": ("partner-globex", 2)}
PARTNER_SECRET = "partner-secret-0123456789"


def build_api_platform(*, key_rate: str = "600/minute", oauth_rate: str = "600/minute") -> AuditedPattern:
    """Keys and OAuth tokens on one API. Acme and Globex each have a user linked to an OAuth
    client (client-credentials tokens, scopes ``docs:read docs:write``); Acme's admin key
    holds every scope. Webhooks are delivered in-process to ``world["receiver"]``."""
    from authcourse.idp import IdentityProvider
    from clouddocs.apikeys import ApiKeyGuard, KeyLimiter, issue_api_key
    from clouddocs.db import Database, Tenant, User
    from clouddocs.patterns import ApiPlatformSettings, api_platform_app
    from clouddocs.resource_server import JwtAccessTokens
    from clouddocs.sso import ExternalIdentity

    clock, database = FrozenClock(), Database()
    idp = IdentityProvider(issuer=IDP, clock=clock)
    idp.add_resource_server(API, client_id="docs-api", secret="docs-api-secret-0123456789")
    for client_id, _ in PARTNERS.values():
        idp.add_client(client_id, secret=PARTNER_SECRET, grant_types=["client_credentials"],
                       scope="docs:read docs:write", default_resource=API)
    idp.add_client("partner-unlinked", secret=PARTNER_SECRET, grant_types=["client_credentials"],
                   scope="docs:read docs:write", default_resource=API)
    verifier = JwtAccessTokens(issuer=IDP, audience=API, jwks=jwt.PyJWKSet.from_dict(idp.jwks), clock=clock)
    guard = ApiKeyGuard(database, clock, limiter=KeyLimiter(key_rate))
    deliveries: list[httpx2.Request] = []
    receivers: dict[str, Any] = {}

    async def route_to_receiver(request: httpx2.Request) -> httpx2.Response:
        deliveries.append(request)
        receiver = receivers.get(request.headers["host"])
        if receiver is None:
            return httpx2.Response(404)
        transport = httpx2.ASGITransport(app=receiver)
        return await transport.handle_async_request(request)

    async def public_resolver(host: str, port: int) -> list[str]:
        # Test names resolve to a documentation address (public); "internal" ones to a private one.
        return ["10.0.0.7"] if host.startswith("internal.") else ["93.184.215.14"]

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(route_to_receiver))
    settings = ApiPlatformSettings(db=database, keys=guard, oauth=verifier.verify, issuer=IDP,
                                   oauth_limiter=KeyLimiter(oauth_rate), webhook_http=http,
                                   resolve=public_resolver, clock=clock)
    app = api_platform_app(settings)
    keys: dict[str, str] = {}

    @contextlib.asynccontextmanager
    async def seeded(_app: Any) -> AsyncIterator[None]:
        await database.create_all()
        if not keys:
            async with database.sessions() as session:
                session.add_all([Tenant(id=1, name="Acme"), Tenant(id=2, name="Globex")])
                for role, (client_id, tenant_id) in PARTNERS.items():
                    user = User(tenant_id=tenant_id, email=f"{role}@partners.test", display_name=client_id)
                    session.add(user)
                    await session.flush()
                    session.add(ExternalIdentity(issuer=IDP, subject=client_id, user_id=user.id))
                await session.commit()
                admin = await issue_api_key(session, tenant_id=1, name="admin", clock=clock,
                                            scopes=["keys:manage", "docs:read", "docs:write", "docs:share"])
                keys["admin"] = admin.plaintext
        yield

    app.router.lifespan_context = seeded

    async def oauth_token(client_id: str, scope: str = "docs:read docs:write") -> str:
        transport = httpx2.ASGITransport(app=idp.app)
        async with httpx2.AsyncClient(transport=transport, base_url=IDP) as provider:
            answer = await provider.post("/token", data={"grant_type": "client_credentials", "scope": scope},
                                         auth=(client_id, PARTNER_SECRET))
        if answer.status_code != 200:
            raise NotApplicable(f"the provider refused a token for {client_id} ({answer.status_code})")
        return str(answer.json()["access_token"])

    async def sign_in(ctx: Context, role: Role) -> Auth:
        if role == "admin":
            auth = Auth.bearer(keys["admin"])
            auth.api_key = keys["admin"]
            return auth
        return Auth.bearer(await oauth_token(PARTNERS[role][0]))

    async def issue_key(ctx: Context, scopes: Sequence[str]) -> IssuedKey:
        response = await ctx.request("POST", "/api-keys", auth=Auth.bearer(keys["admin"]),
                                     json_body={"name": "audit", "scopes": list(scopes)})
        if response.status_code != 201:
            ctx.cite(response, "minting a key through POST /api-keys")
            raise NotApplicable(f"minting an API key failed ({response.status_code})")
        body = response.json()
        return IssuedKey(str(body["api_key"]), str(body["id"]))

    async def revoke_key(ctx: Context, issued: IssuedKey) -> None:
        await ctx.request("DELETE", f"/api-keys/{issued.key_id}", auth=Auth.bearer(keys["admin"]))

    def sign(claims: Mapping[str, Any], header: Mapping[str, Any]) -> str:
        # The provider's own key (alg and kid set by it), so the claim probes (exp, nbf, aud,
        # iss, typ) run on OAuth tokens.
        return idp.sign(dict(header), dict(claims))

    target = Target(
        name="API platform pattern",
        origin=API,
        protected=Route("GET", "/documents"),
        admin_route=Route("GET", "/api-keys"),
        sign_in=sign_in,
        sign=sign,
        api_keys=ApiKeys(issue=issue_key, revoke=revoke_key, scoped_route=Route("GET", "/documents"),
                         needed_scope="docs:read", other_scope="docs:write",
                         burst=_burst(key_rate)),
        # Chapter 4's key events (created, revoked, refused): searched for leaked credentials.
        events=AuditEvents(read=_events(database).read, login_succeeded=None, login_failed=None,
                           logout=None, refreshed=None),
        clock=clock,
    )
    world = {"db": database, "idp": idp, "keys": keys, "oauth_token": oauth_token, "settings": settings,
             "deliveries": deliveries, "receivers": receivers, "http": http}
    return AuditedPattern(app, target, clock, world)


def _burst(rate: str) -> int:
    """A little more than the per-minute limit: the request that must answer 429."""
    return int(rate.split("/")[0]) + 50


# --- enterprise B2B -----------------------------------------------------------------------

ACME_IDP, GLOBEX_IDP = "https://login.acme.test", "https://login.globex.test"
EXISTING_EMAIL = "eve@acme.test"
SSO_SECRET = "clouddocs-sso-secret-0123456789"
CALLBACK = ORIGIN + "/auth/callback"


def build_enterprise() -> AuditedPattern:
    """Acme and Globex each sign in through their own provider. ada is an Acme member
    (clearance CONFIDENTIAL, EU), bob a Globex member; root is in Acme's ``docs-admins``
    group. Document 1 is ada's (INTERNAL, EU)."""
    from authcourse.client import browser
    from authcourse.idp import IdentityProvider
    from authcourse.idp import sign_in as idp_sign_in
    from clouddocs.accounts import register_user
    from clouddocs.db import Database, Document, Tenant
    from clouddocs.oidc import RelyingParty
    from clouddocs.patterns import DocumentLabel, SubjectProfile, enterprise_app
    from clouddocs.sso_app import SsoAppSettings, TenantProvider

    clock, database = FrozenClock(), Database()
    hasher: Any = CountingHasher()
    providers = {"acme": IdentityProvider(ACME_IDP, clock=clock),
                 "globex": IdentityProvider(GLOBEX_IDP, clock=clock)}
    people = {"user": ("acme", "ada", ["everyone"]), "spare": ("acme", "cy", ["everyone"]),
              "admin": ("acme", "root", ["docs-admins", "everyone"]),
              # Globex, the second tenant: "other" for the basic probes, "outsider(_admin)" for access models.
              "other": ("globex", "bob", ["everyone"]), "outsider": ("globex", "bob", ["everyone"]),
              "outsider_admin": ("globex", "gwen", ["docs-admins", "everyone"])}
    for tenant, username, groups in {person[1]: person for person in people.values()}.values():
        providers[tenant].add_user(username, PASSWORD["user"], email=f"{username}@{tenant}.test",
                                   email_verified=True, groups=groups)
    for provider in providers.values():
        provider.add_client("clouddocs", secret=SSO_SECRET, redirect_uris=[CALLBACK],
                            scope="openid email profile groups", first_party=True)
    sites = {ACME_IDP: providers["acme"].app, GLOBEX_IDP: providers["globex"].app}
    backchannel = httpx2.AsyncClient(transport=_SiteRouter(sites))

    def party(issuer: str) -> RelyingParty:
        return RelyingParty(issuer=issuer, client_id="clouddocs", client_secret=SSO_SECRET,
                            redirect_uri=CALLBACK, http_client=backchannel, clock=clock,
                            scope="openid email profile groups")

    roles = {"docs-admins": "admin", "everyone": "member"}
    settings = SsoAppSettings(
        database=database, hasher=hasher, clock=clock, origin=ORIGIN,
        providers={"acme": TenantProvider(1, party(ACME_IDP), roles),
                   "globex": TenantProvider(2, party(GLOBEX_IDP), roles)},
        login_rate_per_ip="10000/minute",
    )
    seeded_once: list[bool] = []

    @contextlib.asynccontextmanager
    async def seeded(_app: Any) -> AsyncIterator[None]:
        await database.create_all()
        if not seeded_once:
            seeded_once.append(True)
            async with database.sessions() as session:
                session.add_all([Tenant(id=1, name="Acme"), Tenant(id=2, name="Globex")])
                await session.commit()
                # A password account, for the probe that an unverified IdP email never links to it.
                await register_user(session, tenant_id=1, email=EXISTING_EMAIL, display_name="Eve",
                                    password=PASSWORD["spare"], hasher=hasher)
        yield

    def with_seeding(built_app: Any) -> Any:
        built_app.router.lifespan_context = seeded
        return built_app

    app = with_seeding(enterprise_app(settings))

    async def connect(registration: ClientRegistration) -> Any:
        # The same app around the audit's own (misbehaving) provider, for the oauth_client probes.
        client = RelyingParty(issuer=registration.issuer, client_id=registration.client_id,
                              client_secret=registration.client_secret, redirect_uri=registration.redirect_uri,
                              http_client=httpx2.AsyncClient(transport=registration.transport), clock=clock,
                              scope="openid email profile")
        audited = replace(settings, providers={"audit": TenantProvider(1, client, roles)})
        return with_seeding(enterprise_app(audited))
    addresses = itertools.count()

    async def sign_in(ctx: Context, role: Role) -> Auth:
        tenant, username, _ = people[role]
        async with browser({ORIGIN: app, **sites}, client_ip=f"203.0.113.{next(addresses) % 250 + 1}") as user:
            start = await user.get(f"{ORIGIN}/login/{tenant}")
            if start.status_code != 303:
                raise NotApplicable(f"starting the SSO login failed ({start.status_code})")
            answer = await idp_sign_in(user, start.headers["location"], username=username, password=PASSWORD["user"])
            welcome = await user.get(answer.headers["location"])
            if welcome.status_code != 200:
                raise NotApplicable(f"the SSO callback failed ({welcome.status_code})")
            session_id = user.cookies.get("__Host-session", domain="clouddocs.test")
            if session_id is None:
                raise NotApplicable("the SSO login set no session cookie")
            csrf = (await user.get(f"{ORIGIN}/session/csrf")).json()["csrf_token"]
        await _ensure_profile_and_document(database, welcome.json()["user_id"], role)
        return Auth(headers={"X-CSRF-Token": csrf}, cookies={"__Host-session": session_id}, csrf=csrf)

    async def _ensure_profile_and_document(db: Any, user_id: int, role: str) -> None:
        # Attributes an enterprise keeps (HR sync): written once, when the user first appears.
        async with db.sessions() as session:
            if await session.get(SubjectProfile, user_id) is None:
                session.add(SubjectProfile(user_id=user_id, clearance=2, region="eu"))
                if role == "user":
                    document = Document(tenant_id=1, owner_id=user_id, title="Q1 plan", body="numbers")
                    session.add(document)
                    await session.flush()
                    session.add(DocumentLabel(document_id=document.id, classification=1, region="eu"))
                await session.commit()

    target = Target(
        name="enterprise B2B pattern",
        origin=ORIGIN,
        protected=Route("GET", "/documents"),
        object_route=ObjectRoute("GET", "/documents/{id}", object_id="1"),
        admin_route=Route("GET", "/members"),
        logout=Route("POST", "/logout"),
        sign_in=sign_in,
        session_cookie="__Host-session",
        second_tenant=SecondTenant(tenant_id="1"),
        collection=Collection("/documents", "/documents/{id}", create_body={"title": "audit document"},
                              update_body={"title": "edited by the audit"}, deletable=False),
        whoami=WhoAmI("/me", role_field="role", tenant_field=None),
        relying_party=AuditedRelyingParty(connect=connect, session_cookie="__Host-session",
                                          login=Route("GET", "/login/audit"), scope="openid email profile",
                                          me=Route("GET", "/me"), existing_email=EXISTING_EMAIL),
        clock=clock,
        public_routes=frozenset({"GET /login/{tenant}", "GET /auth/callback", "POST /auth/link"}),
        meter=lambda: float(hasher.calls),
    )
    return AuditedPattern(app, target, clock, {"db": database, "providers": providers, "sites": sites})


class _SiteRouter(httpx2.AsyncBaseTransport):
    """Routes each request to the in-process app of its origin (the providers' back channel)."""

    def __init__(self, sites: Mapping[str, Any]) -> None:
        self._transports = {origin: httpx2.ASGITransport(app=app) for origin, app in sites.items()}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        origin = f"{request.url.scheme}://{request.url.host}"
        transport = self._transports.get(origin)
        if transport is None:
            return httpx2.Response(502)
        return await transport.handle_async_request(request)


# --- microservices --------------------------------------------------------------------------


def build_microservices() -> AuditedPattern:
    """The billing service: mTLS caller (as ``gateway``), RS256 gateway JWT, per-service scopes."""
    from clouddocs.jwks import jwks_document, keys_from_jwks, new_rsa_key
    from clouddocs.jwt_tokens import KeyRing, TokenService, TokenSettings
    from clouddocs.patterns import ServiceSettings, microservice_app

    clock = FrozenClock()
    key = new_rsa_key("gw-1")
    ring = KeyRing(key)
    service = microservice_app(
        ServiceSettings(name="billing", issuer=GATEWAY, gateway_keys=keys_from_jwks(jwks_document(ring)),
                        callers=frozenset({"gateway"}), clock=clock)
    )
    caller = CertificateAuthority.create("audit CA").issue_client("gateway")
    app = WithTLSExtension(service, tls_extension(caller.certificate))
    tokens = TokenService(ring, TokenSettings(GATEWAY, "billing"), clock=clock)

    async def sign_in(context: object, role: Role) -> Auth:
        subject = "user-2" if str(role) == "other" else "user-1"
        token = tokens.issue(subject, claims={"scope": "billing:read billing:write"})
        return Auth(headers={"Authorization": f"Bearer {token}"}, access_token=token)

    def sign(claims: Mapping[str, Any], header: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), key.private_key, algorithm="RS256", headers=dict(header))

    target = Target(
        name="microservices pattern (billing service)",
        origin="https://billing.internal.test",
        protected=Route("GET", "/invoices"),
        user=Account("user-1", "unused: the gateway signs users in"),
        other_user=Account("user-2", "unused: the gateway signs users in"),
        sign_in=sign_in,
        sign=sign,
        clock=clock,
    )
    return AuditedPattern(app, target, clock, {"service": service, "tokens": tokens})


#: Pattern name → builder, in the order the chapter presents them (``make audit`` uses it).
BUILDERS: dict[str, Callable[[], AuditedPattern]] = {
    "startup_saas": build_startup_saas,
    "api_platform": build_api_platform,
    "enterprise": build_enterprise,
    "microservices": build_microservices,
}
_built: dict[str, AuditedPattern] = {}


def __getattr__(name: str) -> AuditedPattern:
    # ``module:microservices.app`` on the command line builds the app on first access.
    if name in BUILDERS:
        if name not in _built:
            _built[name] = BUILDERS[name]()
        return _built[name]
    raise AttributeError(name)



# --- stored reports (``make audit``) -----------------------------------------------------------

#: Where ``make audit`` keeps the full reports, one Markdown file per pattern.
REPORT_DIR = "docs/audit"
_MARK = {"pass": "✅ pass", "fail": "❌ fail", "n/a": "➖ n/a", "error": "💥 error"}


def markdown_report(name: str, report: Any) -> str:
    """The full report as Markdown, with nothing that changes from run to run (no timings,
    no evidence: exchanges carry rate-limit reset times). Failures keep their evidence."""
    from authcourse.audit.framework import GROUPS

    counts = report.counts
    lines = [
        "<!-- Generated by `make audit` (authcourse.audit.targets.patterns); do not edit. -->",
        f"# Audit of the {report.name}",
        "",
        f"Built by `authcourse.audit.targets.patterns.build_{name}()`; every registered probe group ran.",
        f"**{counts['pass']} passed, {counts['fail']} failed, {counts['n/a']} not applicable,"
        f" {counts['error']} crashed** ({len(report.results)} probes).",
        "",
        "`n/a` is not a pass: the probe needs something this app does not have, or that its"
        " target does not describe, and says which.",
    ]
    group = None
    for result in report.grouped():
        if result.group != group:
            group = result.group
            lines += ["", f"## {GROUPS[group]}", "", "| result | probe | what it found | enforces |", "|---|---|---|---|"]
        summary = result.summary.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {_MARK[result.status.value]} | `{result.id}` {result.title} | {summary} | {'; '.join(result.refs)} |")
    for result in report.failures:
        lines += ["", f"### {result.id}: evidence", "", "```", *result.evidence, "```"]
    return "\n".join(lines) + "\n"


def markdown_index(reports: Mapping[str, Any]) -> str:
    """``docs/audit/README.md``: one line per pattern, linking its full report."""
    lines = [
        "<!-- Generated by `make audit` (authcourse.audit.targets.patterns); do not edit. -->",
        "# Pre-launch audit of chapter 8's pattern apps",
        "",
        "The full audit (every registered probe group) against each production pattern of",
        "[chapter 8](../../notebooks/08_decision_framework.ipynb). `make audit` rewrites these files",
        "and exits 1 if any probe fails; `tests/ch08/test_pattern_audits.py` fails when they are stale.",
        "",
        "| pattern | passed | failed | not applicable | crashed |",
        "|---|---|---|---|---|",
    ]
    lines += [index_row(name, report) for name, report in reports.items()]
    return "\n".join(lines) + "\n"


def index_row(name: str, report: Any) -> str:
    counts = report.counts
    return f"| [{report.name}]({name}.md) | {counts['pass']} | {counts['fail']} | {counts['n/a']} | {counts['error']} |"


async def audit_all(names: Sequence[str] = ()) -> dict[str, Any]:
    """Each pattern's full audit report (all patterns by default), by pattern name."""
    from authcourse.audit.runner import audit

    reports: dict[str, Any] = {}
    for name in names or list(BUILDERS):
        built = BUILDERS[name]()
        reports[name] = await audit(built.app, built.target)
    return reports


async def write_reports(directory: str = REPORT_DIR, names: Sequence[str] = ()) -> int:
    """Audit each pattern (all by default), write ``<directory>/<pattern>.md`` (and, for all
    four, the index ``README.md``); return 1 if any probe failed or crashed."""
    from pathlib import Path

    Path(directory).mkdir(parents=True, exist_ok=True)
    reports = await audit_all(names)
    for name, report in reports.items():
        (Path(directory) / f"{name}.md").write_text(markdown_report(name, report), encoding="utf-8")
        print(report.headline().rsplit(" (", 1)[0] + f" -> {directory}/{name}.md")
    if set(reports) == set(BUILDERS):
        (Path(directory) / "README.md").write_text(markdown_index(reports), encoding="utf-8")
    return max(int(report.exit_code) for report in reports.values())


if __name__ == "__main__":
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(description="Audit chapter 8's pattern apps; store the reports as Markdown.")
    parser.add_argument("--write", default=REPORT_DIR, metavar="DIR", help=f"where to write them (default {REPORT_DIR})")
    parser.add_argument("patterns", nargs="*", help=f"which of {', '.join(BUILDERS)} (default: all)")
    arguments = parser.parse_args()
    unknown = sorted(set(arguments.patterns) - set(BUILDERS))
    if unknown:
        parser.error(f"no pattern called {', '.join(unknown)}")
    raise SystemExit(asyncio.run(write_reports(arguments.write, arguments.patterns)))
