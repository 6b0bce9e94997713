"""Chapter 1 lab checks: scopes, owner checks, security headers, route inventory, spoofing.

Each case builds its own small app and in-memory database (``ch01_support``), calls the
learner's code for real, and says in plain words what it tried. Cases marked
``positive=True`` are the happy path; every other case counts only once they pass.
"""

# Endpoints built inside functions declare their dependencies as defaults (`= Depends(x)`),
# not in `Annotated[...]`: the grader may compile this module with postponed (string)
# annotations, and a string cannot name a local variable.

import re
from collections.abc import Iterable
from typing import Any

import httpx2
from fastapi import Depends, FastAPI, HTTPException

from authcourse.checks import exercise, expect, expect_equal
from authcourse.checks.ch01_support import (
    ALICE_TOKEN,
    DEMO_DATA_NOTE,
    DEMO_PEOPLE,
    ERROR_PARAM,
    INVENTORY_UNPROTECTED,
    MALLORY_TOKEN,
    SCOPE_PARAM,
    call_plain,
    challenge,
    demo_database,
    fixed_app_exchange,
    headers_app,
    headers_exchanges,
    inventory_app,
    naive_clouddocs_app,
    plain_http_exchanges,
    require_coroutine_function,
    security_headers_middleware,
    status_line,
    titles,
    token_verifier,
)
from authcourse.checks.core import Namespace
from authcourse.client import asgi_client
from clouddocs.db import Document
from clouddocs.security import FASTAPI_DOCS_ROUTES, Principal, unprotected_routes

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
    dependency = call_plain(ns, "require_scope", token_verifier(_SCOPE_TOKENS), "docs:write")
    app = FastAPI()

    @app.post("/documents")
    async def create(principal: Any = Depends(dependency)) -> dict[str, str]:  # noqa: B008
        return {"subject": principal.subject}

    async with asgi_client(app) as client:
        return await client.post("/documents", headers=headers)


@ex1.case("a valid token with the scope reaches the handler as its principal", positive=True)
async def _(ns: Namespace) -> None:
    response = await _call_scoped_route(ns, {"Authorization": "Bearer token-writer"})
    tried = "POST /documents with a token holding docs:write"
    expect(response.status_code == 200, tried, "a 200", status_line(response))
    expect_equal(response.json(), {"subject": "1"}, tried + " (the handler's principal)")


@ex1.case("no credentials: 401 with a Bearer challenge and no error code")
async def _(ns: Namespace) -> None:
    response = await _call_scoped_route(ns, {})
    tried = "POST /documents with no Authorization header"
    expect(response.status_code == 401, tried, "a 401", status_line(response))
    expect(
        challenge(response).startswith("Bearer"),
        tried,
        "a WWW-Authenticate header starting with Bearer",
        status_line(response),
    )
    expect(
        "error=" not in challenge(response),
        tried,
        "no error code in the challenge (RFC 6750 §3.1: none when no credentials were sent)",
        challenge(response),
    )


@ex1.case('a token that does not verify: 401 with error="invalid_token"')
async def _(ns: Namespace) -> None:
    response = await _call_scoped_route(ns, {"Authorization": "Bearer made-up"})
    tried = "POST /documents with an unknown bearer token"
    expect(response.status_code == 401, tried, "a 401", status_line(response))
    expect(
        ERROR_PARAM.findall(challenge(response)) == ["invalid_token"],
        tried,
        'WWW-Authenticate: Bearer ... error="invalid_token" (so the client knows to get a new token)',
        status_line(response),
    )


@ex1.case("a Basic credential is not a bearer token: 401, not 400, 403 or 500")
async def _(ns: Namespace) -> None:
    response = await _call_scoped_route(ns, {"Authorization": "Basic dXNlcjpwYXNz"})
    tried = "POST /documents with Authorization: Basic ..."
    expect(
        response.status_code == 401 and challenge(response).startswith("Bearer"),
        tried,
        "a 401 with a Bearer challenge (the caller is not authenticated; the challenge says how)",
        status_line(response),
    )


@ex1.case('a valid token without the scope: 403 with error="insufficient_scope"')
async def _(ns: Namespace) -> None:
    response = await _call_scoped_route(ns, {"Authorization": "Bearer token-reader"})
    tried = "POST /documents needing docs:write, token holding docs:read and docs:write-drafts"
    expect(
        response.status_code == 403,
        tried,
        "a 403 (the caller is authenticated; asking again will not help)",
        status_line(response),
    )
    expect(
        challenge(response).startswith("Bearer")
        and ERROR_PARAM.findall(challenge(response)) == ["insufficient_scope"],
        tried,
        'WWW-Authenticate: Bearer ... error="insufficient_scope"',
        status_line(response),
    )
    expect(
        SCOPE_PARAM.findall(challenge(response)) == ["docs:write"],
        tried,
        'the challenge naming the missing scope: scope="docs:write"',
        challenge(response),
    )


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


_AWAITS_THE_DATABASE = "it reads the database, and the check awaits it"


def _fetching(who: str, document_id: int, hide_existence: bool) -> str:
    document = "document 999 (no such document)" if document_id == 999 else "document 1"
    return (
        f"{DEMO_DATA_NOTE}, {DEMO_PEOPLE[who]} fetching {document}"
        f" with hide_existence={hide_existence}"
    )


async def _fetch_outcome(
    ns: Namespace, document_id: int, who: str, *, hide_existence: bool
) -> tuple[int, object]:
    """Run the learner's fetch_document; return (200, title) or (status, detail)."""
    fetch_document = require_coroutine_function(ns, "fetch_document", _AWAITS_THE_DATABASE)
    db, data = await demo_database()
    try:
        async with db.sessions() as session:
            try:
                document = await fetch_document(
                    session, document_id, getattr(data, who), hide_existence=hide_existence
                )
            except HTTPException as refusal:
                return refusal.status_code, refusal.detail
            expect(
                isinstance(document, Document),
                f"your fetch_document, {_fetching(who, document_id, hide_existence)}",
                "a Document or an HTTPException",
                f"a {type(document).__name__}",
            )
            return 200, document.title
    finally:
        await db.dispose()


@ex2.case("the owner gets their document", positive=True)
async def _(ns: Namespace) -> None:
    outcome = await _fetch_outcome(ns, 1, "alice", hide_existence=True)
    expect_equal(outcome, (200, "Acquisition plan"), _fetching("alice", 1, True))


@ex2.case("a document that does not exist: 404 under both policies")
async def _(ns: Namespace) -> None:
    for hide in (False, True):
        status, detail = await _fetch_outcome(ns, 999, "alice", hide_existence=hide)
        expect(status == 404, _fetching("alice", 999, hide), "a 404", f"{status} {detail!r}")


@ex2.case("same tenant, not the owner: 403 when honest, a not-found 404 when hiding")
async def _(ns: Namespace) -> None:
    honest = await _fetch_outcome(ns, 1, "bob", hide_existence=False)
    expect(honest[0] == 403, _fetching("bob", 1, False), "a 403", f"{honest[0]} {honest[1]!r}")
    hidden = await _fetch_outcome(ns, 1, "bob", hide_existence=True)
    missing = await _fetch_outcome(ns, 999, "bob", hide_existence=True)
    expect(
        hidden == missing,
        _fetching("bob", 1, True) + ", compared with a missing document",
        f"exactly the answer for a missing document {missing}",
        repr(hidden),
    )


@ex2.case("another tenant's document: a not-found 404 even when the policy is honest")
async def _(ns: Namespace) -> None:
    cross = await _fetch_outcome(ns, 1, "mallory", hide_existence=False)
    missing = await _fetch_outcome(ns, 999, "mallory", hide_existence=False)
    expect(
        cross == missing and cross[0] == 404,
        _fetching("mallory", 1, False),
        f"the same 404 as a missing document {missing} (another customer's ids are never confirmed)",
        repr(cross),
    )


@ex2.case("a user whose email differs from the owner's only in case is not the owner")
async def _(ns: Namespace) -> None:
    status, detail = await _fetch_outcome(ns, 1, "alice_lookalike", hide_existence=False)
    expect(
        status == 403,
        _fetching("alice_lookalike", 1, False),
        "a 403 (compare user ids, not emails)",
        f"{status} {detail!r}",
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
        "HSTS only when `request.url.scheme == 'https'`, with a `max-age` of at least a year "
        "(31536000), e.g. `max-age=63072000; includeSubDomains`.",
        "no-store when the request has an Authorization, Cookie or X-API-Key header, the response "
        "sets a cookie, or the status is 401 or 403 — and only then. Never add "
        "Access-Control-Allow-Origin.",
    ),
)

ONE_YEAR = 31_536_000
_MAX_AGE = re.compile(r"max-age=(\d+)")
_ANONYMOUS = ("GET /public", "GET /missing (404)")


@ex3.case("HSTS with max-age of at least a year on every HTTPS response", positive=True)
async def _(ns: Namespace) -> None:
    for tried, response in (await headers_exchanges(ns)).items():
        hsts = response.headers.get("Strict-Transport-Security", "")
        match = _MAX_AGE.search(hsts)
        expect(
            match is not None and int(match.group(1)) >= ONE_YEAR,
            tried + " over HTTPS",
            f"Strict-Transport-Security with max-age >= {ONE_YEAR}",
            hsts or "no Strict-Transport-Security header",
        )


@ex3.case("X-Content-Type-Options: nosniff on every response", positive=True)
async def _(ns: Namespace) -> None:
    exchanges = {**await headers_exchanges(ns), **await plain_http_exchanges(ns)}
    for tried, response in exchanges.items():
        value = response.headers.get("X-Content-Type-Options")
        expect(value == "nosniff", tried, "X-Content-Type-Options: nosniff", repr(value))


@ex3.case("Cache-Control: no-store whenever credentials are sent, set or refused", positive=True)
async def _(ns: Namespace) -> None:
    for tried, response in (await headers_exchanges(ns)).items():
        if tried in _ANONYMOUS:
            continue
        value = response.headers.get("Cache-Control", "")
        expect("no-store" in value, tried, "Cache-Control: no-store", value or "no Cache-Control")


@ex3.case("no HSTS over plain HTTP (RFC 6797 §7.2)")
async def _(ns: Namespace) -> None:
    for tried, response in (await plain_http_exchanges(ns)).items():
        hsts = response.headers.get("Strict-Transport-Security")
        expect(
            hsts is None,
            tried,
            "no Strict-Transport-Security header (over plain HTTP anyone on the path could strip"
            " or forge it, so RFC 6797 §7.2 forbids sending it; check request.url.scheme)",
            f"Strict-Transport-Security: {hsts}",
        )


@ex3.case("anonymous responses stay cacheable: no no-store without credentials")
async def _(ns: Namespace) -> None:
    exchanges = await headers_exchanges(ns)
    for tried in _ANONYMOUS:
        value = exchanges[tried].headers.get("Cache-Control", "")
        expect(
            "no-store" not in value,
            tried + " (no credentials sent, no cookie set)",
            "no Cache-Control: no-store (public responses stay cacheable; no-store is for"
            " responses that carry or answer credentials)",
            f"Cache-Control: {value}",
        )


@ex3.case("no CORS wildcard and no reflected Origin")
async def _(ns: Namespace) -> None:
    app = headers_app(security_headers_middleware(ns))
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
    exchanges = await headers_exchanges(ns)
    expected = {
        "GET /public": (200, {"status": "ok"}),
        "GET /me with a token": (200, {"subject": "1"}),
        "GET /me without a token (401)": (401, {"detail": "Not authenticated"}),
        "GET /admin without credentials (403)": (403, {"detail": "Forbidden"}),
    }
    for tried, (status, body) in expected.items():
        response = exchanges[tried]
        expect_equal((response.status_code, response.json()), (status, body), tried)
    refused = exchanges["GET /me without a token (401)"].headers.get("WWW-Authenticate")
    expect_equal(refused, "Bearer", "the 401's WWW-Authenticate header")


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

_INVENTORY_PUBLIC = frozenset({"GET /health", *FASTAPI_DOCS_ROUTES})
_INVENTORY_APP = "an app with guarded, open and half-guarded routes"


def _inventory(ns: Namespace, public: Iterable[str] = _INVENTORY_PUBLIC) -> list[str]:
    found = call_plain(ns, "find_unprotected_routes", inventory_app(), frozenset(public))
    expect(
        isinstance(found, list) and all(isinstance(key, str) for key in found),
        "find_unprotected_routes(app, public)",
        'a list of "METHOD /path" strings',
        repr(found),
    )
    return list(found)


def _reported(found: list[str]) -> str:
    return f"a list that includes it: {found}"


def _missing(found: list[str]) -> str:
    return f"a list without it: {found}"


@ex4.case("the inventory lists exactly the unguarded routes", positive=True)
def _(ns: Namespace) -> None:
    expect_equal(
        sorted(_inventory(ns)),
        INVENTORY_UNPROTECTED,
        f'the inventory of {_INVENTORY_APP}, public={{"GET /health", *FASTAPI_DOCS_ROUTES}}',
    )


@ex4.case("routes whose dependency tree holds a security scheme are protected")
def _(ns: Namespace) -> None:
    found = _inventory(ns)
    for key in ("GET /documents", "GET /me", "GET /integrations", "POST /documents"):
        expect(
            key not in found,
            f"inventory of an app where {key} uses HTTPBearer, APIKeyHeader or Security(...) "
            "directly or through another dependency",
            f"{key} left out",
            _reported(found),
        )


@ex4.case("included routers are inspected: their dependencies protect, their open routes show")
def _(ns: Namespace) -> None:
    found = _inventory(ns)
    expect(
        "GET /admin/users" not in found,
        "inventory of an app whose /admin router has dependencies=[Depends(current_user)]",
        "GET /admin/users left out",
        _reported(found),
    )
    expect(
        "GET /reports/export" in found,
        "inventory of an app that includes a /reports router with no dependencies",
        "GET /reports/export reported (a route of an included router is still a route)",
        _missing(found),
    )


@ex4.case("a dependency that reads a plain header is not authentication")
def _(ns: Namespace) -> None:
    found = _inventory(ns)
    expect(
        "GET /whoami" in found,
        "inventory of an app where GET /whoami depends only on an X-User header",
        "GET /whoami reported as unprotected",
        _missing(found),
    )


@ex4.case("paths are judged one route at a time, never by prefix")
def _(ns: Namespace) -> None:
    found = _inventory(ns)
    expect(
        "GET /admin/export" in found,
        "inventory of an app with a guarded /admin router plus an unguarded GET /admin/export",
        "GET /admin/export reported",
        _missing(found),
    )


@ex4.case("the allow-list is exact: method and path")
def _(ns: Namespace) -> None:
    found = _inventory(ns)
    expect(
        "POST /health" in found,
        'inventory with public={"GET /health", ...} of an app that also serves POST /health',
        "POST /health reported (allowing GET /health says nothing about POST)",
        _missing(found),
    )


@ex4.case("FastAPI's own /docs and /openapi.json are routes too")
def _(ns: Namespace) -> None:
    found = _inventory(ns, public={"GET /health"})
    expect(
        "GET /openapi.json" in found and "GET /docs" in found,
        'the inventory with public={"GET /health"} only',
        "GET /docs and GET /openapi.json reported (they are routes, not allow-listed here)",
        repr(found),
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
        "your inventory from 01.4 tells you if something is left open.",
    ),
)


@ex5.case("the attack: your headers read Alice's documents on the naive app", positive=True)
async def _(ns: Namespace) -> None:
    headers = call_plain(ns, "impersonation_headers", "alice@acme.test")
    db, _data = await demo_database()
    try:
        async with asgi_client(naive_clouddocs_app(db)) as client:
            response = await client.get("/documents", headers=dict(headers))
    finally:
        await db.dispose()
    expect(
        titles(response) == ["Acquisition plan", "Board deck"],
        f"GET /documents on the naive app with headers {dict(headers)}, {DEMO_DATA_NOTE}",
        "Alice's two documents",
        f"{response.status_code} {response.text}",
    )


@ex5.case("the fix: a valid token lists its holder's documents; /health is public", positive=True)
async def _(ns: Namespace) -> None:
    alice = await fixed_app_exchange(ns, {"Authorization": f"Bearer {ALICE_TOKEN}"})
    expect(
        titles(alice) == ["Acquisition plan", "Board deck"],
        f"GET /documents on your fixed app with Alice's token, {DEMO_DATA_NOTE}",
        "Alice's two documents",
        f"{alice.status_code} {alice.text}",
    )
    health = await fixed_app_exchange(ns, {}, path="/health")
    expect_equal(
        (health.status_code, health.json()), (200, {"status": "ok"}), "GET /health, no token"
    )


@ex5.case("the fix: X-User alone gets a 401 with a Bearer challenge")
async def _(ns: Namespace) -> None:
    response = await fixed_app_exchange(ns, {"X-User": "alice@acme.test"})
    expect(
        response.status_code == 401 and challenge(response).startswith("Bearer"),
        "GET /documents on your fixed app with only X-User: alice@acme.test",
        "401 with WWW-Authenticate: Bearer ...",
        status_line(response),
    )


@ex5.case("the fix: identity comes from the token, X-User is ignored")
async def _(ns: Namespace) -> None:
    response = await fixed_app_exchange(
        ns, {"X-User": "alice@acme.test", "Authorization": f"Bearer {MALLORY_TOKEN}"}
    )
    expect(
        titles(response) == ["Globex price list"],
        "GET /documents with Mallory's valid token plus X-User: alice@acme.test, " + DEMO_DATA_NOTE,
        "Mallory's own document only",
        f"{response.status_code} {response.text}",
    )


@ex5.case("the fix: every route is guarded by a dependency or allow-listed")
async def _(ns: Namespace) -> None:
    db, _data = await demo_database()
    try:
        app = call_plain(ns, "build_fixed_app", db, token_verifier({}))
    finally:
        await db.dispose()
    open_routes = unprotected_routes(app, public={"GET /health", *FASTAPI_DOCS_ROUTES})
    expect(
        open_routes == [],
        'the chapter\'s unprotected_routes(your_app, public={"GET /health", *FASTAPI_DOCS_ROUTES})',
        "no unprotected route (checks belong in dependencies, not handler bodies)",
        repr(open_routes),
    )
