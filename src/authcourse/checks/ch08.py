"""Chapter 8 lab: recommend, a session-or-JWT dependency, mTLS identity, hardening under audit.

Every case runs the learner's code for real: ``recommend`` against the scenario table by
features, the dual dependency inside an app with a real session and a real access token,
the identity dependency behind a connection that presents a certificate (the ASGI TLS
extension, as ``authcourse.tls`` fills it), and the fixed app under the audit's own probes.

No ``from __future__ import annotations``: see ``ch08_support``.
"""

from typing import Any

from authcourse.audit import audit
from authcourse.checks import exercise, expect, expect_equal
from authcourse.checks.ch08_support import (
    PROXY,
    ROWS,
    certificates,
    dual_world,
    forged_header,
    plain,
    whoami,
)
from authcourse.checks.core import Namespace
from authcourse.client import asgi_client
from clouddocs.decisions import Actor, Client, Method, Model, Requirements, Sharing
from clouddocs.token_revocation import deny

# --------------------------------------------------------------------------- 08.1

choose = exercise(
    "08.1",
    "recommend: the decision tree as a function",
    points=3,
    needs=("recommend",),
    hints=(
        "Build two lists, methods and models, walking the tree branch by branch; append a "
        "reason string each time you add a part.",
        "People first (by identity_source, then by client), then each machine actor, then "
        "authorization: ReBAC for per-resource sharing, is_admin for ≤ 2 levels without "
        "attribute rules, else RBAC; + ABAC; + SCOPES when machines call or a gateway forwards.",
        "Raise ValueError at the top for an empty actors set or permission_levels < 1.",
    ),
)

EXPECTED = {
    "blog with admin panel": ({Method.PASSWORD, Method.SESSION}, {Model.IS_ADMIN}),
    "SPA with accounts": ({Method.PASSWORD, Method.JWT}, {Model.RBAC}),
    "mobile app": ({Method.OAUTH_PKCE, Method.JWT}, {Model.RBAC}),
    "public API": ({Method.API_KEYS, Method.OAUTH}, {Model.SCOPES}),
    "enterprise SaaS": ({Method.OIDC}, {Model.RBAC, Model.ABAC}),
    "collaboration platform": ({Method.OIDC, Method.PASSWORD}, {Model.REBAC}),
    "microservices": ({Method.JWT, Method.MTLS}, {Model.SCOPES}),
    "internal tools": ({Method.OIDC}, {Model.RBAC}),
}


def _rows(ns: Namespace, names: list[str]) -> None:
    recommend = plain(ns, "recommend")
    for name in names:
        stack = recommend(ROWS[name])
        authn, authz = EXPECTED[name]
        expect_equal({str(m) for m in stack.authentication}, {str(m) for m in authn},
                     f"recommend() for the '{name}' row (authentication)")
        expect_equal({str(m) for m in stack.authorization}, {str(m) for m in authz},
                     f"recommend() for the '{name}' row (authorization)")


@choose.case("the people rows: blog, SPA, mobile app, internal tools", positive=True)
def _(ns: Namespace) -> None:
    _rows(ns, ["blog with admin panel", "SPA with accounts", "mobile app", "internal tools"])


@choose.case("customer IdPs, attribute rules and per-document sharing: enterprise SaaS, collaboration")
def _(ns: Namespace) -> None:
    _rows(ns, ["enterprise SaaS", "collaboration platform"])


@choose.case("machines: public API (keys + OAuth, scopes) and microservices (JWT + mTLS, scopes)")
def _(ns: Namespace) -> None:
    _rows(ns, ["public API", "microservices"])


@choose.case("combinations in no table: SPA + partners; per-document sharing with compliance rules")
def _(ns: Namespace) -> None:
    recommend = plain(ns, "recommend")
    mixed = recommend(Requirements(actors=frozenset({Actor.PEOPLE, Actor.PARTNERS}),
                                   clients=frozenset({Client.SPA}), permission_levels=4))
    expect_equal({str(m) for m in mixed.authentication}, {"password", "JWT", "API keys"},
                 "recommend() for a SPA whose customers also run partner scripts")
    expect_equal({str(m) for m in mixed.authorization}, {"RBAC", "scopes"},
                 "recommend() for a SPA whose customers also run partner scripts (authorization)")
    shared = recommend(Requirements(sharing=Sharing.PER_RESOURCE, attribute_rules=True))
    expect_equal({str(m) for m in shared.authorization}, {"ReBAC", "ABAC"},
                 "recommend() for per-document sharing with classification rules")


@choose.case("instant revocation adds a denylist note to a JWT stack, not to a session stack")
def _(ns: Namespace) -> None:
    recommend = plain(ns, "recommend")
    spa = recommend(Requirements(clients=frozenset({Client.SPA}), permission_levels=3, instant_revocation=True))
    expect(any("denylist" in note for note in spa.notes),
           "recommend() for a SPA whose users must lose access at once",
           "a note mentioning the denylist (JWTs are not revoked by expiry alone)", list(spa.notes))
    blog = recommend(Requirements(instant_revocation=True))
    expect(not any("denylist" in note for note in blog.notes),
           "recommend() for server-rendered pages with instant revocation",
           "no denylist note: sessions are revoked by deleting them", list(blog.notes))


@choose.case("every part of the stack comes with a reason")
def _(ns: Namespace) -> None:
    recommend = plain(ns, "recommend")
    for name in ("SPA with accounts", "public API", "enterprise SaaS"):
        stack = recommend(ROWS[name])
        parts = len(stack.authentication) + len(stack.authorization)
        reasons = [r for r in stack.reasons if isinstance(r, str) and r.strip()]
        expect(len(reasons) >= parts - 1, f"recommend() for the '{name}' row",
               f"a reason for (nearly) every one of its {parts} parts", f"{len(reasons)} reasons")


@choose.case("no actors, or fewer than one level of access, is refused with ValueError")
def _(ns: Namespace) -> None:
    recommend = plain(ns, "recommend")
    for bad, what in [(Requirements(actors=frozenset()), "no actors"),
                      (Requirements(permission_levels=0), "permission_levels=0")]:
        try:
            recommend(bad)
        except ValueError:
            continue
        expect(False, f"recommend() with {what}", "a ValueError: the requirements are a mistake", "an answer")


# --------------------------------------------------------------------------- 08.2

dual = exercise(
    "08.2",
    "Sessions and JWTs side by side",
    points=3,
    needs=("session_or_jwt",),
    hints=(
        "`credentials` is None when no Authorization header was sent: only then look at the cookie.",
        "Wrap tokens.verify in try/except InvalidToken and raise unauthorized('invalid_token'); "
        "then `if await is_revoked(db.engine, claims)` raise the same.",
        "Join both challenges with a comma in one WWW-Authenticate header.",
    ),
)


async def _me(world: Any, headers: dict[str, str]) -> Any:
    async with asgi_client(world.app) as http:
        return await http.get("/me", headers=headers)


@dual.case("a session cookie and a bearer JWT both get in, each named", positive=True)
async def _(ns: Namespace) -> None:
    async with dual_world(ns) as world:
        by_cookie = await _me(world, world.cookie)
        by_token = await _me(world, world.bearer)
    expect_equal(by_cookie.status_code, 200, "GET /me with a live session cookie")
    expect_equal(by_cookie.json(), {"user_id": "7", "via": "session"}, "GET /me with a live session cookie")
    expect_equal(by_token.status_code, 200, "GET /me with a valid access token")
    expect_equal(by_token.json(), {"user_id": "7", "via": "jwt"}, "GET /me with a valid access token")


@dual.case("a bad token next to a good cookie is a 401, never a fallback to the cookie")
async def _(ns: Namespace) -> None:
    async with dual_world(ns) as world:
        response = await _me(world, {"Authorization": "Bearer not.a.token", **world.cookie})
    expect_equal(response.status_code, 401, "GET /me with a forged bearer token and a valid session cookie")


@dual.case("a revoked token is refused")
async def _(ns: Namespace) -> None:
    async with dual_world(ns) as world:
        claims = world.tokens.verify(world.bearer["Authorization"].removeprefix("Bearer "))
        async with world.db.sessions() as s:
            await deny(s, claims)
            await s.commit()
        response = await _me(world, world.bearer)
    expect_equal(response.status_code, 401, "GET /me with an access token that was logged out (its jti denied)")


@dual.case("with neither, a 401 carrying both challenges (Bearer and Cookie)")
async def _(ns: Namespace) -> None:
    async with dual_world(ns) as world:
        response = await _me(world, {})
    expect_equal(response.status_code, 401, "GET /me with no credentials")
    challenge = response.headers.get("www-authenticate", "")
    expect("Bearer" in challenge and "Cookie" in challenge, "GET /me with no credentials",
           "a WWW-Authenticate header naming both Bearer and Cookie, so each client learns how to log in",
           challenge or "no WWW-Authenticate header")


# --------------------------------------------------------------------------- 08.3

identity = exercise(
    "08.3",
    "Attack then fix: service identity from the certificate, not a header",
    points=3,
    needs=("service_identity",),
    hints=(
        "`(request.scope.get('extensions') or {}).get('tls') or {}` is the TLS extension; its "
        "`client_cert_chain` is a list of PEM strings (the caller's certificate first).",
        "Only when the connection has no certificate, and request.client.host is a trusted "
        "proxy, read X-Client-Cert and unquote it.",
        "ClientCertificate.from_pem raises ValueError for garbage: turn that into the 401.",
    ),
)


@identity.case("the certificate on the connection names the service", positive=True)
async def _(ns: Namespace) -> None:
    response = await whoami(ns, certificates().billing, {}, "203.0.113.7")
    expect_equal(response.status_code, 200, "GET /whoami over a connection presenting billing's certificate")
    expect_equal(response.json(), {"service": "billing"}, "GET /whoami over a connection presenting billing's certificate")


@identity.case("from a trusted proxy, the X-Client-Cert header names the service", positive=True)
async def _(ns: Namespace) -> None:
    response = await whoami(ns, None, forged_header(certificates().billing), PROXY)
    expect_equal(response.status_code, 200, f"GET /whoami from the trusted proxy {PROXY} with billing's certificate in X-Client-Cert")
    expect_equal(response.json(), {"service": "billing"}, "GET /whoami from the trusted proxy")


@identity.case("the forged header from an ordinary client is refused (401 with a challenge)")
async def _(ns: Namespace) -> None:
    response = await whoami(ns, None, forged_header(certificates().billing), "203.0.113.7")
    expect_equal(response.status_code, 401,
                 "GET /whoami from 203.0.113.7 (not a proxy) with billing's certificate pasted into X-Client-Cert")
    expect("www-authenticate" in response.headers, "the 401 for a forged header",
           "a WWW-Authenticate header", "none")


@identity.case("the connection's certificate wins over a header, even from the proxy")
async def _(ns: Namespace) -> None:
    response = await whoami(ns, certificates().reports, forged_header(certificates().billing), PROXY)
    expect_equal(response.json() if response.status_code == 200 else response.status_code, {"service": "reports"},
                 "GET /whoami over reports' connection with billing's certificate in the header")


@identity.case("no certificate, or garbage in the header, is a 401, never a 500")
async def _(ns: Namespace) -> None:
    none = await whoami(ns, None, {}, "203.0.113.7")
    expect_equal(none.status_code, 401, "GET /whoami with no certificate at all")
    garbage = await whoami(ns, None, {"X-Client-Cert": "not-a-certificate"}, PROXY)
    expect_equal(garbage.status_code, 401, "GET /whoami from the proxy with a header that is not a certificate")


# --------------------------------------------------------------------------- 08.4

fix = exercise(
    "08.4",
    "Attack then fix: harden a flawed app until the audit passes",
    points=3,
    needs=("build_fixed_app",),
    hints=(
        "Start from build_flawed_app's body; `return harden(app)` at the end fixes four probes.",
        "CORSMiddleware(allow_origins=['https://app.clouddocs.test']) instead of ['*'].",
        "Read the token from the Authorization header only: drop request.query_params.",
    ),
)


def _fixed_app(ns: Namespace) -> Any:
    app = plain(ns, "build_fixed_app")()
    expect(callable(app), "calling build_fixed_app()", "an ASGI app (FastAPI)", type(app).__name__)
    return app


async def _probe(ns: Namespace, probes: list[str], what: str) -> None:
    from authcourse.checks.ch08_support import lab_target

    report = await audit(_fixed_app(ns), lab_target(), only=probes)
    for result in report.results:
        expect(str(result.status) == "pass", f"the audit probe {result.id} ({what})",
               "pass", f"{result.status}: {result.summary}")


@fix.case("the token still works in the Authorization header; none is a 401 with a challenge", positive=True)
async def _(ns: Namespace) -> None:
    from authcourse.checks.ch08_support import LAB_TOKEN

    async with asgi_client(_fixed_app(ns)) as http:
        ok = await http.get("/me", headers={"Authorization": f"Bearer {LAB_TOKEN}"})
        anonymous = await http.get("/me")
    expect_equal(ok.status_code, 200, "GET /me with the lab token in the Authorization header")
    expect_equal(anonymous.status_code, 401, "GET /me with no token")
    expect("www-authenticate" in anonymous.headers, "GET /me with no token",
           "a WWW-Authenticate header on the 401", "none")


@fix.case("HSTS and nosniff on every https response (transport.hsts, transport.nosniff)")
async def _(ns: Namespace) -> None:
    await _probe(ns, ["transport.hsts", "transport.nosniff"], "security headers")


@fix.case("no-store on credentialed answers (transport.no_store_authenticated)")
async def _(ns: Namespace) -> None:
    await _probe(ns, ["transport.no_store_authenticated"], "caching of authenticated answers")


@fix.case("a body past 1 MiB is refused with 413 (transport.body_limit)")
async def _(ns: Namespace) -> None:
    await _probe(ns, ["transport.body_limit"], "request size")


@fix.case("CORS never allows every origin (transport.cors_no_wildcard, transport.cors_no_reflection)")
async def _(ns: Namespace) -> None:
    await _probe(ns, ["transport.cors_no_wildcard", "transport.cors_no_reflection"], "CORS")


@fix.case("the token is refused in the URL (transport.credentials_not_in_query)")
async def _(ns: Namespace) -> None:
    await _probe(ns, ["transport.credentials_not_in_query"], "credentials in URLs")
