"""Chapter 1 lab checks: scopes, owner checks, security headers, route inventory, spoofing.

Each case builds its own small app and in-memory database, calls the learner's code for
real, and says in plain words what it tried. The vulnerable ``X-User`` app the learner
attacks in exercise 01.5 lives here too, so the lab can import it instead of copying it.
"""

# Endpoints built inside functions declare their dependencies as defaults (`= Depends(x)`),
# not in `Annotated[...]`: the grader may compile this module with postponed (string)
# annotations, and a string cannot name a local variable.

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import httpx2
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPBearer, OAuth2PasswordBearer, SecurityScopes
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authcourse.checks import exercise, expect, expect_equal
from authcourse.checks.core import Namespace
from authcourse.client import asgi_client
from clouddocs.db import Database, Document, Tenant, User
from clouddocs.security import FASTAPI_DOCS_ROUTES, Principal, unprotected_routes

# --------------------------------------------------------------------------------------
# Shared fixtures: a seeded CloudDocs database, demo tokens, the vulnerable X-User app.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoData:
    """Who and what the demo database holds (ids are stable: rows are inserted in order)."""

    alice: User  # Acme, owns documents 1 and 2
    alice_lookalike: User  # Acme, a different person whose email differs only in case
    bob: User  # Acme, owns document 3
    mallory: User  # Globex, owns document 4
    alice_document_id: int
    mallory_document_id: int


async def demo_database() -> tuple[Database, DemoData]:
    """A fresh in-memory CloudDocs database with two tenants, four users, four documents."""
    db = Database()
    await db.create_all()
    async with db.sessions() as session:
        acme, globex = Tenant(name="Acme"), Tenant(name="Globex")
        session.add_all([acme, globex])
        await session.flush()
        users = [
            User(tenant_id=acme.id, email="alice@acme.test", display_name="Alice"),
            User(tenant_id=acme.id, email="Alice@acme.test", display_name="Alice Other"),
            User(tenant_id=acme.id, email="bob@acme.test", display_name="Bob"),
            User(tenant_id=globex.id, email="mallory@globex.test", display_name="Mallory"),
        ]
        session.add_all(users)
        await session.flush()
        alice, lookalike, bob, mallory = users
        documents = [
            Document(tenant_id=acme.id, owner_id=alice.id, title="Acquisition plan"),
            Document(tenant_id=acme.id, owner_id=alice.id, title="Board deck"),
            Document(tenant_id=acme.id, owner_id=bob.id, title="Offsite agenda"),
            Document(tenant_id=globex.id, owner_id=mallory.id, title="Globex price list"),
        ]
        session.add_all(documents)
        await session.commit()
        data = DemoData(alice, lookalike, bob, mallory, documents[0].id, documents[3].id)
    return db, data


def token_verifier(
    tokens: dict[str, Principal],
) -> Callable[[str], Awaitable[Principal | None]]:
    """A verifier over fixed tokens (test scaffolding; real verifiers come in ch. 3-4)."""

    async def verify(token: str) -> Principal | None:
        return tokens.get(token)

    return verify


def naive_clouddocs_app(db: Database) -> FastAPI:
    """The vulnerable CloudDocs v0 of chapter 1: it believes the ``X-User`` header."""

    async def user_from_header(
        x_user: str = Header(),
        session: AsyncSession = Depends(db.session),  # noqa: B008 (see the note at the top)
    ) -> User:
        user = await session.scalar(select(User).where(User.email == x_user))
        if user is None:
            raise HTTPException(status_code=401, detail="Unknown user")
        return user

    app = FastAPI(title="CloudDocs v0 (naive)")

    @app.get("/documents")
    async def list_my_documents(
        user: User = Depends(user_from_header),  # noqa: B008 (see the note at the top)
        session: AsyncSession = Depends(db.session),  # noqa: B008 (see the note at the top)
    ) -> list[dict[str, object]]:
        rows = await session.scalars(
            select(Document).where(Document.owner_id == user.id).order_by(Document.id)
        )
        return [{"id": document.id, "title": document.title} for document in rows]

    return app


_ERROR_PARAM = re.compile(r'error="([^"]*)"')
_SCOPE_PARAM = re.compile(r'scope="([^"]*)"')


def _challenge(response: httpx2.Response) -> str:
    return response.headers.get("WWW-Authenticate", "")


def _status_line(response: httpx2.Response) -> str:
    challenge = _challenge(response)
    shown = f" with WWW-Authenticate: {challenge}" if challenge else " with no WWW-Authenticate"
    return f"{response.status_code}{shown}"


# --------------------------------------------------------------------------------------
# 01.1 A scope dependency with exact 401s and 403s
# --------------------------------------------------------------------------------------

ex1 = exercise(
    "01.1",
    "A scope dependency: exact 401s, and 403 insufficient_scope",
    points=2,
    needs=("require_scope",),
    hints=(
        "Start from `bearer_auth(verify)` (in clouddocs.security): it already answers the 401s. "
        "Your dependency depends on it and only adds the scope check.",
        "Scopes are a set of exact strings: test `scope in principal.scopes`, never a substring.",
        "The 403 is an HTTPException(403, headers={'WWW-Authenticate': bearer_challenge("
        "'insufficient_scope', scope=scope)}) (RFC 6750 §3.1).",
    ),
)

_SCOPE_TOKENS = {
    "token-writer": Principal("1", frozenset({"docs:read", "docs:write"})),
    "token-reader": Principal("2", frozenset({"docs:read", "docs:write-drafts"})),
}


async def _call_scoped_route(ns: Namespace, headers: dict[str, str]) -> httpx2.Response:
    dependency = ns["require_scope"](token_verifier(_SCOPE_TOKENS), "docs:write")
    app = FastAPI()

    @app.post("/documents")
    async def create(principal: Any = Depends(dependency)) -> dict[str, str]:  # noqa: B008
        return {"subject": principal.subject}

    async with asgi_client(app) as client:
        return await client.post("/documents", headers=headers)


@ex1.case("no credentials: 401 with a Bearer challenge and no error code")
async def _(ns: Namespace) -> None:
    response = await _call_scoped_route(ns, {})
    tried = "POST /documents with no Authorization header"
    expect(response.status_code == 401, tried, "a 401", _status_line(response))
    challenge = _challenge(response)
    expect(
        challenge.startswith("Bearer"),
        tried,
        "a WWW-Authenticate header starting with Bearer",
        _status_line(response),
    )
    expect(
        "error=" not in challenge,
        tried,
        "no error code in the challenge (RFC 6750 §3.1: none when no credentials were sent)",
        challenge,
    )


@ex1.case('a token that does not verify: 401 with error="invalid_token"')
async def _(ns: Namespace) -> None:
    response = await _call_scoped_route(ns, {"Authorization": "Bearer made-up"})
    tried = "POST /documents with an unknown bearer token"
    expect(response.status_code == 401, tried, "a 401", _status_line(response))
    errors = _ERROR_PARAM.findall(_challenge(response))
    expect(
        errors == ["invalid_token"],
        tried,
        'WWW-Authenticate: Bearer ... error="invalid_token"',
        _status_line(response),
    )


@ex1.case("a Basic credential is not a bearer token: 401, not 403 or 500")
async def _(ns: Namespace) -> None:
    response = await _call_scoped_route(ns, {"Authorization": "Basic dXNlcjpwYXNz"})
    tried = "POST /documents with Authorization: Basic ..."
    expect(response.status_code == 401, tried, "a 401", _status_line(response))
    expect(
        _challenge(response).startswith("Bearer"),
        tried,
        "a Bearer challenge",
        _status_line(response),
    )


@ex1.case('a valid token without the scope: 403 with error="insufficient_scope"')
async def _(ns: Namespace) -> None:
    response = await _call_scoped_route(ns, {"Authorization": "Bearer token-reader"})
    tried = "POST /documents needing docs:write, token holding docs:read and docs:write-drafts"
    expect(
        response.status_code == 403,
        tried,
        "a 403 (the caller is authenticated; asking again will not help)",
        _status_line(response),
    )
    challenge = _challenge(response)
    expect(
        challenge.startswith("Bearer")
        and _ERROR_PARAM.findall(challenge) == ["insufficient_scope"],
        tried,
        'WWW-Authenticate: Bearer ... error="insufficient_scope"',
        _status_line(response),
    )
    expect(
        _SCOPE_PARAM.findall(challenge) == ["docs:write"],
        tried,
        'the challenge naming the missing scope: scope="docs:write"',
        challenge,
    )


@ex1.case("a valid token with the scope reaches the handler as its principal")
async def _(ns: Namespace) -> None:
    response = await _call_scoped_route(ns, {"Authorization": "Bearer token-writer"})
    tried = "POST /documents with a token holding docs:write"
    expect(response.status_code == 200, tried, "a 200", _status_line(response))
    expect_equal(response.json(), {"subject": "1"}, tried + " (the handler's principal)")


# --------------------------------------------------------------------------------------
# 01.2 A tenant-aware owner check: 403 or 404 by policy
# --------------------------------------------------------------------------------------

ex2 = exercise(
    "01.2",
    "An owner check that answers 403 or 404 by policy",
    points=2,
    needs=("fetch_document",),
    hints=(
        "Load the row with `await session.get(Document, document_id)`; None means `raise not_found()`.",
        "Another tenant's document must look exactly like a missing one: `raise not_found()` "
        "whatever the policy.",
        "Compare ids (`document.owner_id == user.id`), never emails or names: two people can "
        "have emails that differ only in case.",
    ),
)


async def _fetch_outcome(
    ns: Namespace, document_id: int, who: str, *, hide_existence: bool
) -> tuple[int, object]:
    """Run the learner's fetch_document; return (200, title) or (status, detail)."""
    db, data = await demo_database()
    try:
        async with db.sessions() as session:
            user = getattr(data, who)
            try:
                document = await ns["fetch_document"](
                    session, document_id, user, hide_existence=hide_existence
                )
            except HTTPException as refusal:
                return refusal.status_code, refusal.detail
            expect(
                isinstance(document, Document),
                f"fetch_document(session, {document_id}, {who}, hide_existence={hide_existence})",
                "a Document or an HTTPException",
                f"a {type(document).__name__}",
            )
            return 200, document.title
    finally:
        await db.dispose()


@ex2.case("the owner gets their document")
async def _(ns: Namespace) -> None:
    outcome = await _fetch_outcome(ns, 1, "alice", hide_existence=True)
    expect_equal(outcome, (200, "Acquisition plan"), "Alice fetching her own document 1")


@ex2.case("a document that does not exist: 404 under both policies")
async def _(ns: Namespace) -> None:
    for hide in (False, True):
        outcome = await _fetch_outcome(ns, 999, "alice", hide_existence=hide)
        expect_equal(
            outcome[0], 404, f"Alice fetching document 999 (missing), hide_existence={hide}"
        )


@ex2.case("same tenant, not the owner: 403 when honest, a not-found 404 when hiding")
async def _(ns: Namespace) -> None:
    honest = await _fetch_outcome(ns, 1, "bob", hide_existence=False)
    expect_equal(
        honest[0], 403, "Bob (same tenant) fetching Alice's document, hide_existence=False"
    )
    hidden = await _fetch_outcome(ns, 1, "bob", hide_existence=True)
    missing = await _fetch_outcome(ns, 999, "bob", hide_existence=True)
    expect(
        hidden == missing,
        "Bob fetching Alice's document with hide_existence=True, compared with a missing document",
        f"exactly the answer for a missing document {missing}",
        repr(hidden),
    )


@ex2.case("another tenant's document: a not-found 404 even when the policy is honest")
async def _(ns: Namespace) -> None:
    cross = await _fetch_outcome(ns, 1, "mallory", hide_existence=False)
    missing = await _fetch_outcome(ns, 999, "mallory", hide_existence=False)
    expect(
        cross == missing and cross[0] == 404,
        "Mallory (Globex) fetching Acme's document 1, hide_existence=False",
        f"the same 404 as a missing document {missing}",
        repr(cross),
    )


@ex2.case("a user whose email differs from the owner's only in case is not the owner")
async def _(ns: Namespace) -> None:
    outcome = await _fetch_outcome(ns, 1, "alice_lookalike", hide_existence=False)
    expect(
        outcome[0] == 403,
        "Alice@acme.test (a different user) fetching the document of alice@acme.test",
        "a 403",
        f"{outcome[0]} {outcome[1]!r}",
    )


# --------------------------------------------------------------------------------------
# 01.3 A security-headers middleware
# --------------------------------------------------------------------------------------

ex3 = exercise(
    "01.3",
    "A security-headers middleware",
    points=2,
    needs=("security_headers",),
    hints=(
        "`response = await call_next(request)`, then set headers on `response.headers` and return it.",
        "HSTS: `max-age` of at least a year (31536000), e.g. `max-age=63072000; includeSubDomains`.",
        "no-store when the request has an Authorization or Cookie header, the response sets a "
        "cookie, or the status is 401 or 403. Never add Access-Control-Allow-Origin.",
    ),
)

ONE_YEAR = 31_536_000
_MAX_AGE = re.compile(r"max-age=(\d+)")


def _headers_app(ns: Namespace) -> FastAPI:
    app = FastAPI()
    app.middleware("http")(ns["security_headers"])

    @app.get("/public")
    async def public() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me")
    async def me(request: Request) -> dict[str, str]:
        if "authorization" not in request.headers:
            # A bare challenge, without the no-store that unauthorized() adds: the
            # middleware must add it.
            raise HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
        return {"subject": "1"}

    @app.get("/admin")
    async def admin() -> dict[str, str]:
        # Refused without any credential in the request (say, an IP allow-list): only the
        # status tells the middleware that this answer is about access.
        raise HTTPException(403, "Forbidden")

    @app.post("/login")
    async def login() -> Response:
        response = JSONResponse({"ok": True})
        response.set_cookie("__Host-session", "s3cr3t", secure=True, httponly=True)
        return response

    return app


async def _headers_exchanges(ns: Namespace) -> dict[str, httpx2.Response]:
    app = _headers_app(ns)
    async with asgi_client(app) as client:
        return {
            "GET /public": await client.get("/public"),
            "GET /missing (404)": await client.get("/missing"),
            "GET /me with a token": await client.get("/me", headers={"Authorization": "Bearer t"}),
            "GET /me without a token (401)": await client.get("/me"),
            "GET /admin without credentials (403)": await client.get("/admin"),
            "POST /login (sets a cookie)": await client.post("/login"),
            "GET /public with a cookie": await client.get("/public", headers={"Cookie": "a=b"}),
        }


@ex3.case("HSTS with max-age of at least a year on every response, errors included")
async def _(ns: Namespace) -> None:
    for tried, response in (await _headers_exchanges(ns)).items():
        hsts = response.headers.get("Strict-Transport-Security", "")
        match = _MAX_AGE.search(hsts)
        expect(
            match is not None and int(match.group(1)) >= ONE_YEAR,
            tried,
            f"Strict-Transport-Security with max-age >= {ONE_YEAR}",
            hsts or "no Strict-Transport-Security header",
        )


@ex3.case("X-Content-Type-Options: nosniff on every response")
async def _(ns: Namespace) -> None:
    for tried, response in (await _headers_exchanges(ns)).items():
        value = response.headers.get("X-Content-Type-Options")
        expect(value == "nosniff", tried, "X-Content-Type-Options: nosniff", repr(value))


@ex3.case("Cache-Control: no-store whenever credentials are sent, set or refused")
async def _(ns: Namespace) -> None:
    exchanges = await _headers_exchanges(ns)
    for tried, response in exchanges.items():
        if tried in ("GET /public", "GET /missing (404)"):
            continue
        value = response.headers.get("Cache-Control", "")
        expect("no-store" in value, tried, "Cache-Control: no-store", value or "no Cache-Control")


@ex3.case("no CORS wildcard and no reflected Origin")
async def _(ns: Namespace) -> None:
    app = _headers_app(ns)
    async with asgi_client(app) as client:
        response = await client.get(
            "/me", headers={"Origin": "https://evil.test", "Authorization": "Bearer t"}
        )
    allowed = response.headers.get("Access-Control-Allow-Origin")
    expect(
        allowed is None,
        "GET /me from Origin: https://evil.test",
        "no Access-Control-Allow-Origin (CORS belongs to an explicit allow-list, not this middleware)",
        f"Access-Control-Allow-Origin: {allowed}",
    )


@ex3.case("responses are otherwise untouched")
async def _(ns: Namespace) -> None:
    exchanges = await _headers_exchanges(ns)
    expected = {
        "GET /public": (200, {"status": "ok"}),
        "GET /me with a token": (200, {"subject": "1"}),
        "GET /me without a token (401)": (401, {"detail": "Not authenticated"}),
        "GET /admin without credentials (403)": (403, {"detail": "Forbidden"}),
    }
    for tried, (status, body) in expected.items():
        response = exchanges[tried]
        expect_equal((response.status_code, response.json()), (status, body), tried)
    challenge = exchanges["GET /me without a token (401)"].headers.get("WWW-Authenticate")
    expect_equal(challenge, "Bearer", "the 401's WWW-Authenticate header")


# --------------------------------------------------------------------------------------
# 01.4 A route inventory
# --------------------------------------------------------------------------------------

ex4 = exercise(
    "01.4",
    "A route inventory that finds unprotected endpoints",
    points=3,
    needs=("find_unprotected_routes",),
    hints=(
        "`fastapi.routing.iter_route_contexts(app.routes)` lists every route, included routers "
        "expanded; each has `.path`, `.methods` and, for API routes, `.dependant`.",
        "A route is protected when some node of its dependant tree (`.dependencies`, recursively) "
        "has a `.call` that is an instance of `fastapi.security.base.SecurityBase`.",
        "Routes without a `.dependant` (FastAPI's /docs, /openapi.json) are unprotected unless "
        'allow-listed. Compare "METHOD /path" keys exactly, never by prefix.',
    ),
)

_bearer = HTTPBearer(auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)
_oauth2 = OAuth2PasswordBearer(tokenUrl="/token", auto_error=False)


async def _current_user(credentials: Annotated[Any, Depends(_bearer)]) -> str:
    return "someone"


async def _scoped_user(
    scopes: SecurityScopes, token: Annotated[str | None, Depends(_oauth2)]
) -> str:
    return "someone"


async def _x_user(x_user: Annotated[str, Header()]) -> str:
    return x_user


def _inventory_app() -> FastAPI:
    """Protected and unprotected routes in every shape the inventory must handle."""
    app = FastAPI()

    async def ok() -> dict[str, bool]:
        return {"ok": True}

    async def direct(credentials: Annotated[Any, Depends(_bearer)]) -> None: ...
    async def nested(user: Annotated[str, Depends(_current_user)]) -> None: ...
    async def with_key(key: Annotated[str | None, Depends(_api_key)]) -> None: ...
    async def scoped(
        user: Annotated[str, Security(_scoped_user, scopes=["docs:write"])],
    ) -> None: ...
    async def header_only(user: Annotated[str, Depends(_x_user)]) -> None: ...

    app.add_api_route("/health", ok, methods=["GET"])
    app.add_api_route("/health", ok, methods=["POST"])  # same path, not allow-listed
    app.add_api_route("/documents", direct, methods=["GET"])
    app.add_api_route("/me", nested, methods=["GET"])
    app.add_api_route("/integrations", with_key, methods=["GET"])
    app.add_api_route("/documents", scoped, methods=["POST"])
    app.add_api_route("/whoami", header_only, methods=["GET"])

    admin = APIRouter(prefix="/admin", dependencies=[Depends(_current_user)])
    admin.add_api_route("/users", ok, methods=["GET"])
    app.include_router(admin)
    app.add_api_route("/admin/export", ok, methods=["GET"])  # under /admin, but unguarded

    # An included router with no dependencies. Recent FastAPI keeps it as one entry of
    # app.routes, so an inventory that only loops over app.routes never sees this route.
    reports = APIRouter(prefix="/reports")
    reports.add_api_route("/export", ok, methods=["GET"])
    app.include_router(reports)
    return app


_INVENTORY_PUBLIC = frozenset({"GET /health", *FASTAPI_DOCS_ROUTES})


def _inventory(ns: Namespace, public: Iterable[str] = _INVENTORY_PUBLIC) -> list[str]:
    found = ns["find_unprotected_routes"](_inventory_app(), frozenset(public))
    expect(
        isinstance(found, list) and all(isinstance(key, str) for key in found),
        "find_unprotected_routes(app, public)",
        'a list of "METHOD /path" strings',
        repr(found),
    )
    return list(found)


@ex4.case("routes whose dependency tree holds a security scheme are protected")
def _(ns: Namespace) -> None:
    found = _inventory(ns)
    for key in ("GET /documents", "GET /me", "GET /integrations", "POST /documents"):
        expect(
            key not in found,
            f"inventory of an app where {key} uses HTTPBearer, APIKeyHeader or Security(...) "
            "directly or through another dependency",
            f"{key} not reported",
            f"it was reported: {found}",
        )


@ex4.case("included routers are inspected: their dependencies protect, their open routes show")
def _(ns: Namespace) -> None:
    found = _inventory(ns)
    expect(
        "GET /admin/users" not in found,
        "inventory of an app whose /admin router has dependencies=[Depends(current_user)]",
        "GET /admin/users not reported",
        f"it was reported: {found}",
    )
    expect(
        "GET /reports/export" in found,
        "inventory of an app that includes a /reports router with no dependencies",
        "GET /reports/export reported (a route of an included router is still a route)",
        f"not reported: {found}",
    )


@ex4.case("a dependency that reads a plain header is not authentication")
def _(ns: Namespace) -> None:
    found = _inventory(ns)
    expect(
        "GET /whoami" in found,
        "inventory of an app where GET /whoami depends only on an X-User header",
        "GET /whoami reported as unprotected",
        f"not reported: {found}",
    )


@ex4.case("paths are judged one route at a time, never by prefix")
def _(ns: Namespace) -> None:
    found = _inventory(ns)
    expect(
        "GET /admin/export" in found,
        "inventory of an app with a guarded /admin router plus an unguarded GET /admin/export",
        "GET /admin/export reported",
        f"not reported: {found}",
    )


@ex4.case("the allow-list is exact: method and path")
def _(ns: Namespace) -> None:
    expect_equal(
        sorted(_inventory(ns)),
        ["GET /admin/export", "GET /reports/export", "GET /whoami", "POST /health"],
        'the whole inventory with public={"GET /health", *FASTAPI_DOCS_ROUTES}',
    )
    without_docs = _inventory(ns, public={"GET /health"})
    expect(
        "GET /openapi.json" in without_docs and "GET /docs" in without_docs,
        'the inventory with public={"GET /health"} only',
        "FastAPI's own /docs and /openapi.json reported (they are routes too)",
        repr(without_docs),
    )


# --------------------------------------------------------------------------------------
# 01.5 Attack then fix: the X-User header
# --------------------------------------------------------------------------------------

ex5 = exercise(
    "01.5",
    "Break the X-User app, then fix it",
    points=2,
    needs=("impersonation_headers", "build_fixed_app"),
    hints=(
        "The naive app looks the caller up by the email in X-User. What would you send to be Alice?",
        "In build_fixed_app, get the caller from `bearer_auth(verify)` only; do not read X-User at all.",
        "Keep GET /health public and give GET /documents the dependency; "
        "`unprotected_routes(app, public=...)` tells you if something is left open.",
    ),
)

_ALICE_TOKEN = "token-of-alice"
_MALLORY_TOKEN = "token-of-mallory"


async def _fixed_app_exchange(ns: Namespace, headers: dict[str, str]) -> httpx2.Response:
    db, data = await demo_database()
    verify = token_verifier(
        {
            _ALICE_TOKEN: Principal(str(data.alice.id), frozenset({"docs:read"})),
            _MALLORY_TOKEN: Principal(str(data.mallory.id), frozenset({"docs:read"})),
        }
    )
    try:
        async with asgi_client(ns["build_fixed_app"](db, verify)) as client:
            return await client.get("/documents", headers=headers)
    finally:
        await db.dispose()


@ex5.case("the attack: your headers read Alice's documents on the naive app")
async def _(ns: Namespace) -> None:
    headers = ns["impersonation_headers"]("alice@acme.test")
    db, _data = await demo_database()
    try:
        async with asgi_client(naive_clouddocs_app(db)) as client:
            response = await client.get("/documents", headers=dict(headers))
    finally:
        await db.dispose()
    titles = [row["title"] for row in response.json()] if response.status_code == 200 else []
    expect(
        titles == ["Acquisition plan", "Board deck"],
        f"GET /documents on the naive app with headers {dict(headers)}",
        "Alice's two documents",
        f"{response.status_code} {response.text}",
    )


@ex5.case("the fix: X-User alone gets a 401 with a Bearer challenge")
async def _(ns: Namespace) -> None:
    response = await _fixed_app_exchange(ns, {"X-User": "alice@acme.test"})
    expect(
        response.status_code == 401 and _challenge(response).startswith("Bearer"),
        "GET /documents on your fixed app with only X-User: alice@acme.test",
        "401 with WWW-Authenticate: Bearer ...",
        _status_line(response),
    )


@ex5.case("the fix: identity comes from the token, X-User is ignored")
async def _(ns: Namespace) -> None:
    response = await _fixed_app_exchange(
        ns, {"X-User": "alice@acme.test", "Authorization": f"Bearer {_MALLORY_TOKEN}"}
    )
    expect(
        response.status_code == 200
        and [row.get("title") for row in response.json()] == ["Globex price list"],
        "GET /documents with Mallory's valid token plus X-User: alice@acme.test",
        "Mallory's own document only",
        f"{response.status_code} {response.text}",
    )
    alice = await _fixed_app_exchange(ns, {"Authorization": f"Bearer {_ALICE_TOKEN}"})
    expect(
        alice.status_code == 200
        and [row.get("title") for row in alice.json()] == ["Acquisition plan", "Board deck"],
        "GET /documents with Alice's token",
        "Alice's two documents",
        f"{alice.status_code} {alice.text}",
    )


@ex5.case("the fix: every route is guarded by a dependency or allow-listed")
async def _(ns: Namespace) -> None:
    db, _data = await demo_database()
    try:
        app = ns["build_fixed_app"](db, token_verifier({}))
        async with asgi_client(app) as client:
            health = await client.get("/health")
    finally:
        await db.dispose()
    expect_equal(health.status_code, 200, "GET /health (public) on your fixed app")
    open_routes = unprotected_routes(app, public={"GET /health", *FASTAPI_DOCS_ROUTES})
    expect(
        open_routes == [],
        'unprotected_routes(your_app, public={"GET /health", *FASTAPI_DOCS_ROUTES})',
        "no unprotected route (checks belong in dependencies, not handler bodies)",
        repr(open_routes),
    )
