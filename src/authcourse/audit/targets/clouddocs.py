"""Audit targets for the CloudDocs apps of chapters 2–4 and 7, each with a freshly seeded app.

``build_ch02()``, ``build_ch03()`` and ``build_ch04()`` return an ``Audited`` (app + target)
with an in-memory database that the app's lifespan creates and seeds: three users (or
API keys), a FrozenClock the audit may move, a hasher that counts its work (the timing
probes' meter) and a reader for the audit log. For the command line, ``ch02``, ``ch03``
and ``ch04`` are built on first access::

    python -m authcourse audit authcourse.audit.targets.clouddocs:ch03.app \\
        --target authcourse.audit.targets.clouddocs:ch03.target

CloudDocs names are looked up across ``clouddocs.*`` modules, so a module split (say,
``clouddocs.tokens`` into several modules) does not break these targets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import pkgutil
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
import jwt
from fastapi import Depends, FastAPI
from sqlalchemy import select

from authcourse.audit.context import Context
from authcourse.audit.framework import NotApplicable
from authcourse.audit.target import (
    Account,
    ApiKeys,
    AuditEvents,
    Auth,
    Collection,
    IssuedKey,
    Login,
    MemberRoles,
    ObjectRoute,
    Refresh,
    Registration,
    Role,
    Route,
    SecondTenant,
    Sharing,
    Target,
    WhoAmI,
)
from authcourse.clock import FrozenClock

ORIGIN = "https://clouddocs.test"
ISSUER, AUDIENCE = "https://clouddocs.test", "https://api.clouddocs.test"
PEOPLE = {
    "user": ("ada@acme.test", "ada correct horse battery staple"),
    "other": ("bob@acme.test", "bob correct horse battery staple"),
    "spare": ("cy@acme.test", "cy correct horse battery staple"),
}


def find(name: str) -> Any:
    """``name`` from whichever ``clouddocs`` module defines it now."""
    import clouddocs

    for module in ("clouddocs.tokens", *(f"clouddocs.{m.name}" for m in pkgutil.iter_modules(clouddocs.__path__))):
        try:
            found = importlib.import_module(module)
        except ImportError:
            continue
        if hasattr(found, name):
            return getattr(found, name)
    raise LookupError(f"no clouddocs module defines {name}")


@dataclass
class Audited:
    """An app, the target that describes it, and the clock both share."""

    app: FastAPI
    target: Target
    clock: FrozenClock


class CountingHasher:
    """Chapter 2's hasher (test profile) counting its work: the timing probes' meter."""

    def __init__(self) -> None:
        from clouddocs.passwords import TEST_ARGON2, PasswordHasher

        self.inner = PasswordHasher(TEST_ARGON2)
        self.calls = 0
        self.dummy_hash = self.inner.dummy_hash

    def hash(self, password: str) -> str:
        self.calls += 1
        return str(self.inner.hash(password))

    def verify(self, stored_hash: str, password: str) -> bool:
        self.calls += 1
        return bool(self.inner.verify(stored_hash, password))

    def needs_rehash(self, stored_hash: str) -> bool:
        return bool(self.inner.needs_rehash(stored_hash))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _accounts() -> dict[str, Account]:
    return {role: Account(email, password) for role, (email, password) in PEOPLE.items()}


def _seed_users(app: FastAPI, database: Any, hasher: CountingHasher) -> None:
    """Replace the app's lifespan: create the tables, one tenant, the three people."""

    @contextlib.asynccontextmanager
    async def seeded(_app: Any) -> AsyncIterator[None]:
        await database.create_all()
        async with database.sessions() as session:
            if await session.scalar(select(find("Tenant").id)) is None:
                session.add(find("Tenant")(id=1, name="Acme"))
                await session.commit()
                for email, password in PEOPLE.values():
                    await find("register_user")(
                        session, tenant_id=1, email=email, password=password,
                        display_name=email.split("@")[0], hasher=hasher,
                    )
        yield

    app.router.lifespan_context = seeded


def _events(database: Any) -> AuditEvents:
    async def read() -> list[dict[str, Any]]:
        event_table = find("AuditEvent")
        async with database.sessions() as session:
            rows = (await session.scalars(select(event_table).order_by(event_table.id))).all()
        return [
            {column.name: getattr(row, column.name) for column in event_table.__table__.columns}
            for row in rows
        ]

    return AuditEvents(read=read)


def build_ch02() -> Audited:
    """Chapter 2: passwords and server-side sessions (``clouddocs.session_app``).

    Where sign-up is verified (a link by email, then the password), the target reads the
    link from an in-memory outbox and finishes the sign-up: ``Registration.complete``.
    """
    clock, hasher, database = FrozenClock(), CountingHasher(), find("Database")()
    options: dict[str, Any] = {"database": database, "hasher": hasher, "clock": clock, "origin": ORIGIN}
    settings_class = find("SessionAppSettings")
    outbox = None
    if "outbox" in {f.name for f in dataclasses.fields(settings_class)}:
        outbox = options["outbox"] = find("MemoryOutbox")()
    app = find("create_session_app")(settings_class(**options))
    _seed_users(app, database, hasher)
    people = _accounts()

    async def activate(ctx: Context, username: str, password: str) -> httpx2.Response | None:
        assert outbox is not None
        links = [m.token for m in outbox.messages if m.to == username and m.token]
        if not links:
            return None  # a taken address gets a "you already have an account" mail
        return await ctx.request(
            "POST",
            "/signup/activate",
            json_body={"token": links[-1], "password": password, "display_name": "Audit"},
        )

    target = Target(
        name="CloudDocs chapter 2 (passwords and sessions)",
        origin=ORIGIN,
        protected=Route("GET", "/me"),
        user=people["user"],
        other_user=people["other"],
        spare=people["spare"],
        login=Login("/login", username_field="email", token_field=None, csrf_field="csrf_token"),
        registration=Registration(
            "/register",
            extra={"display_name": "Audit"},
            complete=activate if outbox is not None else None,
        ),
        logout=Route("POST", "/logout"),
        events=_events(database),
        clock=clock,
        public_routes=frozenset({"POST /register", "POST /login", "POST /signup/activate"}),
        meter=lambda: float(hasher.calls),
    )
    return Audited(app, target, clock)


def build_ch03() -> Audited:
    """Chapter 3: JWT access tokens and rotating refresh tokens (``clouddocs.tokens``)."""
    clock, hasher, database = FrozenClock(), CountingHasher(), find("Database")()
    key = find("new_hs256_key")("hs-audit")
    tokens = find("TokenService")(find("KeyRing")(key), find("TokenSettings")(ISSUER, AUDIENCE), clock)
    settings = find("TokenAppSettings")(
        db=database, tokens=tokens, refresh=find("RefreshTokens")(tokens), hasher=hasher
    )
    app = find("create_token_app")(settings)
    _seed_users(app, database, hasher)
    people = _accounts()

    def sign(claims: Any, header: Any) -> str:
        # The app's own key, so the claim probes (exp, nbf, aud, iss, typ) can be run.
        return jwt.encode(dict(claims), key.private_key, algorithm="HS256", headers=dict(header))

    target = Target(
        name="CloudDocs chapter 3 (JWT)",
        origin=ORIGIN,
        protected=Route("GET", "/me"),
        user=people["user"],
        other_user=people["other"],
        spare=people["spare"],
        login=Login("/auth/login", username_field="email"),
        refresh=Refresh("/auth/refresh", cookie="__Secure-refresh"),
        logout=Route("DELETE", "/auth/refresh"),
        events=_events(database),
        clock=clock,
        sign=sign,
        public_routes=frozenset({"POST /auth/login", "POST /auth/refresh"}),
        meter=lambda: float(hasher.calls),
    )
    return Audited(app, target, clock)


def build_ch04() -> Audited:
    """Chapter 4: API keys with scopes (``clouddocs.apikeys``), assembled as the chapter does.

    Roles are keys: the user and the other user hold ``docs:read`` keys of two tenants,
    the admin a ``keys:manage`` key. The per-key limit is the chapter's: its guard's own
    default limiter when it has one, else the chapter's ``RateLimiter`` at 100/minute.
    """
    clock, database = FrozenClock(), find("Database")()
    try:
        find("KeyLimiter")  # the guard limits every key by default (600/minute)
        guard, burst = find("ApiKeyGuard")(database, clock), 650
    except LookupError:
        limiter = find("RateLimiter")("100/minute", scope="audit-api-key")
        guard, burst = find("ApiKeyGuard")(database, clock, limiter=limiter), 150
    app = FastAPI(title="CloudDocs API (chapter 4)")
    find("harden")(app)
    app.include_router(find("api_keys_router")(guard))
    # Defaults, not Annotated: this module's annotations are strings, and the guard is local.
    async def list_documents(key: Any = Depends(guard.require("docs:read"))) -> dict[str, object]:  # noqa: B008
        return {"tenant_id": key.tenant_id, "documents": ["Q1 plan", "Onboarding guide"]}

    async def create_document(key: Any = Depends(guard.require("docs:write"))) -> dict[str, str]:  # noqa: B008
        return {"created_by": key.name}

    declared = find("KEY_AUTH_RESPONSES")  # the 401 and 403 a key-guarded route can give
    app.add_api_route("/documents", list_documents, methods=["GET"], responses=declared)
    app.add_api_route(
        "/documents", create_document, methods=["POST"], status_code=201, responses=declared
    )
    keys: dict[str, str] = {}

    @contextlib.asynccontextmanager
    async def seeded(_app: Any) -> AsyncIterator[None]:
        await database.create_all()
        issue = find("issue_api_key")
        async with database.sessions() as session:
            if not keys:
                for tenant_id, name in ((1, "Acme"), (2, "Globex")):
                    session.add(find("Tenant")(id=tenant_id, name=name))
                await session.commit()
                plan = {
                    "user": (1, ["docs:read"]),
                    "other": (2, ["docs:read"]),
                    "admin": (1, ["keys:manage", "docs:read", "docs:write", "docs:share"]),
                }
                for role, (tenant_id, scopes) in plan.items():
                    issued = await issue(session, tenant_id=tenant_id, name=role, scopes=scopes, clock=clock)
                    keys[role] = issued.plaintext
        yield

    app.router.lifespan_context = seeded

    async def sign_in(ctx: Context, role: Role) -> Auth:
        auth = Auth.bearer(keys[role])
        auth.api_key = keys[role]
        return auth

    async def issue_key(ctx: Context, scopes: Sequence[str]) -> IssuedKey:
        admin = await sign_in(ctx, "admin")
        response = await ctx.request(
            "POST", "/api-keys", auth=admin, json_body={"name": "audit", "scopes": list(scopes)}
        )
        if response.status_code != 201:
            ctx.cite(response, "minting a key through POST /api-keys")
            raise NotApplicable(f"minting an API key failed ({response.status_code})")
        body = response.json()
        return IssuedKey(str(body["api_key"]), str(body["id"]))

    async def revoke_key(ctx: Context, issued: IssuedKey) -> None:
        admin = await sign_in(ctx, "admin")
        await ctx.request("DELETE", f"/api-keys/{issued.key_id}", auth=admin)

    target = Target(
        name="CloudDocs chapter 4 (API keys)",
        origin=ORIGIN,
        protected=Route("GET", "/documents"),
        admin_route=Route("GET", "/api-keys"),
        sign_in=sign_in,
        api_keys=ApiKeys(
            issue=issue_key,
            revoke=revoke_key,
            scoped_route=Route("GET", "/documents"),
            needed_scope="docs:read",
            other_scope="docs:write",
            burst=burst,
        ),
        clock=clock,
    )
    return Audited(app, target, clock)


#: Chapter 7's people: (user id, tenant id, role there). Acme is tenant 1, Globex tenant 2.
CH07_PEOPLE: dict[Role, tuple[int, int, str]] = {
    "user": (1, 1, "member"),
    "admin": (2, 1, "admin"),
    "other": (3, 2, "member"),
    "outsider": (4, 2, "member"),
    "outsider_admin": (5, 2, "admin"),
}


def build_ch07() -> Audited:
    """Chapter 7: the tenant-scoped document API with roles and sharing (``clouddocs.tenancy``).

    Every member of a tenant reads its documents, so the "other" user who must not reach
    the user's document lives in the second tenant (Globex), next to the outsiders. There
    is no login route: the target signs people in with the chapter's token service (a
    chapter 3 access token naming the user and the tenant), and hands the audit that
    service's key for the JWT claim probes.
    """
    clock, database = FrozenClock(), find("Database")()
    key = find("new_hs256_key")("hs-audit-ch07")
    tokens = find("TokenService")(find("KeyRing")(key), find("TokenSettings")(ISSUER, AUDIENCE), clock)
    app = find("build_documents_app")(database, tokens)

    @contextlib.asynccontextmanager
    async def seeded(_app: Any) -> AsyncIterator[None]:
        await database.create_all()
        async with database.sessions() as session:
            if await session.scalar(select(find("Tenant").id)) is None:
                session.add_all([find("Tenant")(id=1, name="Acme"), find("Tenant")(id=2, name="Globex")])
                await session.flush()
                for role, (user_id, tenant_id, _) in CH07_PEOPLE.items():
                    session.add(find("User")(id=user_id, tenant_id=tenant_id, email=f"{role}@ch07.test", display_name=role))
                await session.flush()
                for user_id, tenant_id, held in CH07_PEOPLE.values():
                    session.add(find("Membership")(tenant_id=tenant_id, user_id=user_id, role=held))
                session.add(find("Document")(id=1, tenant_id=1, owner_id=1, title="Acme plan", body=""))
                await session.commit()
        yield

    app.router.lifespan_context = seeded

    async def sign_in(ctx: Context, role: Role) -> Auth:
        user_id, tenant_id, _ = CH07_PEOPLE[role]
        return Auth.bearer(tokens.issue(str(user_id), claims={find("TENANT_CLAIM"): tenant_id}))

    def sign(claims: Any, header: Any) -> str:
        return jwt.encode(dict(claims), key.private_key, algorithm="HS256", headers=dict(header))

    target = Target(
        name="CloudDocs chapter 7 (authorization)",
        origin=ORIGIN,
        protected=Route("GET", "/documents"),
        sign_in=sign_in,
        object_route=ObjectRoute("GET", "/documents/{id}", object_id="1"),
        profile_route=Route("PATCH", "/me"),
        whoami=WhoAmI("/me"),
        second_tenant=SecondTenant(tenant_id="1"),
        collection=Collection(
            "/documents", "/documents/{id}", {"title": "Audit plan", "body": ""}, {"title": "Changed by the audit"}
        ),
        member_roles=MemberRoles("/members/{id}/role", demoted="viewer"),
        sharing=Sharing(Route("POST", "/documents/{id}/shares"), Route("DELETE", "/documents/{id}/shares/{user}")),
        user_ids={role: str(user_id) for role, (user_id, _, _) in CH07_PEOPLE.items()},
        clock=clock,
        sign=sign,
    )
    return Audited(app, target, clock)


_BUILDERS = {"ch02": build_ch02, "ch03": build_ch03, "ch04": build_ch04, "ch07": build_ch07}
_built: dict[str, Audited] = {}


def __getattr__(name: str) -> Audited:
    # ``module:ch03.app`` on the command line builds the app on first access.
    if name in _BUILDERS:
        if name not in _built:
            _built[name] = _BUILDERS[name]()
        return _built[name]
    raise AttributeError(name)
