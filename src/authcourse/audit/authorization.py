"""Authorization basics: 401 with a challenge, every route guarded, BOLA between two users,
BFLA (admin functions, other methods), 403/404 consistency, mass assignment."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import fastapi.routing
import httpx2
from starlette.routing import Mount

from authcourse.audit.checks import accepted, require
from authcourse.audit.context import Context
from authcourse.audit.framework import Verdict, failed, passed, probe
from authcourse.audit.passwords import random_password
from authcourse.audit.target import Auth, ObjectRoute, Route

#: FastAPI's interactive docs: public unless switched off (list them in Target.public_routes
#: consciously, or set docs_url=None, redoc_url=None, openapi_url=None in production).
DOCS_ROUTES = frozenset({"GET /docs", "GET /docs/oauth2-redirect", "GET /redoc", "GET /openapi.json"})
#: Answers that show a route refused an anonymous caller (or does not exist that way).
ANONYMOUS_REFUSALS = frozenset({401, 403, 404, 405})
#: Fields a client should never be able to set on its own account.
PRIVILEGED_FIELDS: dict[str, Any] = {
    "role": "admin",
    "roles": ["admin"],
    "is_admin": True,
    "is_superuser": True,
    "admin": True,
    "scopes": ["admin"],
}
WRITE_METHODS = ("PUT", "PATCH", "DELETE", "POST")


def route_table(app: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route the app declares, mounted sub-apps included."""
    routes = getattr(app, "routes", None) if app is not None else None
    if routes is None:
        return
    expand = getattr(fastapi.routing, "iter_route_contexts", None)
    for item in list(expand(routes)) if expand is not None else list(routes):
        original = getattr(item, "original_route", item)
        if isinstance(original, Mount):
            yield from route_table(original.app, prefix + original.path)
            continue
        path, methods = getattr(item, "path", None), getattr(item, "methods", None)
        if path and methods:
            for method in sorted(set(methods) - {"HEAD"}):
                yield method, prefix + path


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


@probe(
    "authorization.challenge",
    "A request without credentials gets 401 with WWW-Authenticate",
    "RFC 9110 §11.6.1",
)
async def challenge(ctx: Context) -> Verdict:
    route = ctx.target.protected
    response = ctx.cite(await ctx.request(route.method, route.path), "no credentials")
    if response.status_code != 401:
        return failed(f"answered {response.status_code} instead of 401")
    if "www-authenticate" not in response.headers:
        return failed("401 without WWW-Authenticate: clients cannot tell how to authenticate")
    return passed(f"401, WWW-Authenticate: {response.headers['www-authenticate']}")


@probe(
    "authorization.malformed_credentials",
    "Malformed credentials get 401, never a 5xx or a success",
    "RFC 6750 §3.1",
)
async def malformed_credentials(ctx: Context) -> Verdict:
    route = ctx.target.protected
    attempts = {
        "a bearer token that is not a token": {"Authorization": "Bearer %%%not-a-token%%%"},
        "a 10,000-character bearer token": {"Authorization": "Bearer " + "A" * 10_000},
        "a three-part token of garbage": {"Authorization": "Bearer e30.e30.AAAA"},
        "a Basic header": {"Authorization": "Basic " + "Zm9vOmJhcg=="},
        "junk cookies": {"Cookie": "session=%00%ff; __Host-session=x; token=..."},
    }
    for label, headers in attempts.items():
        response = await ctx.request(route.method, route.path, headers=headers)
        if response.status_code >= 500 or accepted(response):
            ctx.cite(response, label)
            return failed(f"{label}: answered {response.status_code}")
    return passed("every malformed credential was refused")


@probe(
    "authorization.route_inventory",
    "Every route refuses anonymous callers unless listed as public",
    "checklist: an explicit check on every endpoint",
    "ASVS 5.0 8.2.1",
)
async def route_inventory(ctx: Context) -> Verdict:
    require(ctx.app is not None, "auditing by URL: pass the app too to inventory its routes")
    table = sorted(set(route_table(ctx.app)))
    require(table, "the app exposes no route table (not a Starlette/FastAPI app)")
    public = ctx.target.public_routes | DOCS_ROUTES
    open_routes = []
    for method, path in table:
        if f"{method} {path}" in public:
            continue
        response = await ctx.request(method, _fill(path), json_body={} if method in WRITE_METHODS else None)
        if response.status_code not in ANONYMOUS_REFUSALS:
            open_routes.append(f"{method} {path} → {response.status_code}")
            ctx.cite(response, f"{method} {path} without credentials")
    ctx.note(f"{len(table)} routes; public by the target: {sorted(public & {f'{m} {p}' for m, p in table})}")
    if open_routes:
        return failed(f"{len(open_routes)} route(s) answer anonymous callers: {'; '.join(open_routes)}")
    return passed(f"all {len(table)} routes refuse anonymous callers (or are listed as public)")


def _object(ctx: Context) -> ObjectRoute:
    route = ctx.target.object_route
    require(route, "the target names no object route (Target.object_route)")
    assert route is not None
    return route


async def _owner_can_read(ctx: Context, route: ObjectRoute) -> None:
    owner = await ctx.sign_in("user")
    response = await ctx.request(route.method, route.url(), auth=owner)
    ctx.cite(response, "the owner reads their object")
    require(accepted(response), f"the owner's own request failed ({response.status_code}); check Target.object_route")


@probe(
    "authorization.bola",
    "A user cannot reach another user's object by its id",
    "checklist: BOLA prevention",
    "ASVS 5.0 8.2.2",
)
async def bola(ctx: Context) -> Verdict:
    route = _object(ctx)
    await _owner_can_read(ctx, route)
    intruder = await ctx.sign_in("other")
    response = ctx.cite(await ctx.request(route.method, route.url(), auth=intruder), "another user, same id")
    if accepted(response):
        return failed(f"another user got {response.status_code} on {route.url()}: objects are reachable by id")
    return passed(f"refused ({response.status_code})")


async def _admin_route(ctx: Context) -> Route:
    route = ctx.target.admin_route
    require(route, "the target names no admin route (Target.admin_route)")
    assert route is not None
    admin = await ctx.sign_in("admin")
    response = ctx.cite(await ctx.request(route.method, route.path, auth=admin), "the admin calls it")
    require(accepted(response), f"the admin's own request failed ({response.status_code}); check Target.admin_route")
    return route


@probe(
    "authorization.bfla_admin",
    "An ordinary user cannot call the admin route",
    "checklist: admin routes not reachable by guessing",
    "ASVS 5.0 8.2.1",
)
async def bfla_admin(ctx: Context) -> Verdict:
    route = await _admin_route(ctx)
    user = await ctx.sign_in("user")
    response = ctx.cite(await ctx.request(route.method, route.path, auth=user), "an ordinary user calls it")
    if accepted(response):
        return failed(f"an ordinary user got {response.status_code} on {route}")
    return passed(f"refused ({response.status_code})")


@probe(
    "authorization.bfla_methods",
    "Other methods on the same paths are not a way around the check",
    "ASVS 5.0 8.2.1",
)
async def bfla_methods(ctx: Context) -> Verdict:
    table = set(route_table(ctx.app))
    plans: list[tuple[str, str, str, str]] = []  # (method, template, url, role)
    if ctx.target.object_route is not None:
        route = ctx.target.object_route
        plans += [(m, route.path, route.url(), "other") for m in WRITE_METHODS + ("GET",) if m != route.method.upper()]
    if ctx.target.admin_route is not None:
        route2 = ctx.target.admin_route
        plans += [(m, route2.path, route2.path, "user") for m in WRITE_METHODS + ("GET",) if m != route2.method.upper()]
    require(plans, "the target names neither an object route nor an admin route")
    tried = 0
    for method, template, url, role in plans:
        declared = any(m == method and _same(p, template) for m, p in table)
        if table and not declared:
            continue  # the app does not route this method there: nothing to swap to
        auth: Auth = await ctx.sign_in(role)  # type: ignore[arg-type]
        response = await ctx.request(method, url, auth=auth, json_body={})
        tried += 1
        if accepted(response):
            ctx.cite(response, f"{method} {url} as the {role} user")
            return failed(f"{method} {url} succeeded for a user who may not use it ({response.status_code})")
    require(tried, "no other method is routed on the object or admin paths")
    return passed(f"{tried} other method(s) on those paths refused")


def _same(declared: str, template: str) -> bool:
    pattern = re.escape(template).replace(re.escape("{id}"), r"\{[^}]+\}")
    return re.fullmatch(pattern, declared) is not None


@probe(
    "authorization.not_found_consistency",
    "Another user's object answers 403, or exactly what a missing id answers",
    "checklist: 403 unless 404 is chosen to hide existence",
    "ASVS 5.0 8.2.2",
)
async def not_found_consistency(ctx: Context) -> Verdict:
    route = _object(ctx)
    await _owner_can_read(ctx, route)
    intruder = await ctx.sign_in("other")
    theirs = ctx.cite(await ctx.request(route.method, route.url(), auth=intruder), "another user's object")
    missing = ctx.cite(await ctx.request(route.method, route.url(route.missing_id), auth=intruder), "an id nobody has")
    require(not accepted(theirs), "the object is reachable by another user (see authorization.bola)")
    if theirs.status_code == 403:
        return passed("403 for another user's object")
    if (theirs.status_code, theirs.text) == (missing.status_code, missing.text):
        return passed(f"{theirs.status_code} with the same body as a missing id: existence stays hidden")
    return failed(
        f"another user's object answers {theirs.status_code} and a missing id {missing.status_code}"
        " (or different bodies): ids can be probed for existence"
    )


@probe(
    "authorization.mass_assignment",
    "Privileged fields sent by a client (role, is_admin) are ignored",
    "checklist: mass assignment of role",
    "ASVS 5.0 8.2.3",
)
async def mass_assignment(ctx: Context) -> Verdict:
    admin_route = ctx.target.admin_route
    require(admin_route, "the target names no admin route to check the outcome (Target.admin_route)")
    assert admin_route is not None
    target = ctx.target
    auth: Auth | None = None
    if target.profile_route is not None:
        auth = await ctx.sign_in("user")
        edit = await ctx.request(target.profile_route.method, target.profile_route.path, auth=auth, json_body=PRIVILEGED_FIELDS)
        ctx.cite(edit, "the user edits their profile with privileged fields")
    elif target.registration is not None:
        password = random_password(24)
        username, signup = await ctx.register(password, extra=PRIVILEGED_FIELDS)
        ctx.cite(signup, "signing up with privileged fields")
        require(signup.is_success, f"the sign-up with extra fields was refused ({signup.status_code})")
        login = await ctx.login(username=username, password=password)
        require(login.is_success, f"logging in after sign-up failed ({login.status_code})")
        auth = ctx.auth_from(login)
    require(auth, "the target names neither a profile route nor a registration route")
    assert auth is not None
    response: httpx2.Response = await ctx.request(admin_route.method, admin_route.path, auth=auth)
    ctx.cite(response, "the same user calls the admin route")
    if accepted(response):
        return failed("a client made itself admin by sending role fields")
    return passed(f"the admin route still refuses ({response.status_code})")
