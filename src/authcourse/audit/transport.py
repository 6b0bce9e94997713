"""Transport and headers: HSTS, nosniff, caching of credentials, CORS, credentials in URLs,
request-size limits."""

from __future__ import annotations

import httpx2

from authcourse.audit.checks import EVIL_ORIGIN, accepted, cache_control, require
from authcourse.audit.context import Context
from authcourse.audit.framework import Verdict, failed, passed, probe

ONE_YEAR = 31_536_000


def _max_age(value: str) -> int | None:
    for part in value.split(";"):
        name, _, number = part.strip().partition("=")
        if name.lower() == "max-age" and number.strip().strip('"').isdigit():
            return int(number.strip().strip('"'))
    return None


@probe(
    "transport.hsts",
    "HTTPS responses carry Strict-Transport-Security for at least a year",
    "checklist: HTTPS everywhere with HSTS",
    "ASVS 5.0 3.4.1",
    "RFC 6797 §6.1",
)
async def hsts(ctx: Context) -> Verdict:
    response = ctx.cite(await ctx.request(*_protected(ctx)), "an https request, no credentials")
    value = response.headers.get("strict-transport-security")
    if value is None:
        return failed("no Strict-Transport-Security header on an https response")
    age = _max_age(value)
    if age is None or age < ONE_YEAR:
        return failed(f"HSTS max-age is {age}, below one year ({ONE_YEAR} s)")
    return passed(f"Strict-Transport-Security: {value}")


@probe(
    "transport.hsts_only_https",
    "HSTS is not sent over plain http",
    "RFC 6797 §7.2",
)
async def hsts_only_https(ctx: Context) -> Verdict:
    require(ctx.url is None, "against a URL only that URL's scheme is reachable")
    method, path = _protected(ctx)
    plain = httpx2.URL(ctx.target.origin).copy_with(scheme="http").join(path)
    response = ctx.cite(await ctx.request(method, str(plain)), "the same request over http")
    if "strict-transport-security" in response.headers:
        return failed(
            "HSTS sent over http: RFC 6797 forbids it there (terminate TLS in front and"
            " tell the app the scheme, or add the header only for https)"
        )
    return passed("no HSTS header over http")


@probe(
    "transport.nosniff",
    "Responses carry X-Content-Type-Options: nosniff",
    "ASVS 5.0 3.4.4",
)
async def nosniff(ctx: Context) -> Verdict:
    response = ctx.cite(await ctx.request(*_protected(ctx)), "a request without credentials")
    if response.headers.get("x-content-type-options", "").lower() != "nosniff":
        return failed("no X-Content-Type-Options: nosniff on the response")
    return passed("X-Content-Type-Options: nosniff")


@probe(
    "transport.no_store_authenticated",
    "Authenticated responses are not cacheable (Cache-Control: no-store)",
    "ASVS 5.0 14.2.2",
    "RFC 9111 §5.2.2.5",
)
async def no_store_authenticated(ctx: Context) -> Verdict:
    auth = await ctx.sign_in("user")
    response = await ctx.request(*_protected(ctx), auth=auth)
    ctx.cite(response, "an authenticated request")
    require(accepted(response), f"the protected route refused the user ({response.status_code})")
    if "no-store" not in cache_control(response):
        return failed("an authenticated answer without Cache-Control: no-store")
    return passed("authenticated answers carry Cache-Control: no-store")


@probe(
    "transport.no_store_login",
    "Login answers that hand out credentials are not cacheable",
    "checklist: Cache-Control: no-store on token responses",
    "RFC 6749 §5.1",
)
async def no_store_login(ctx: Context) -> Verdict:
    require(ctx.target.login, "the target names no login route (Target.login)")
    response = ctx.cite(await ctx.login(ctx.account("user")), "a successful login")
    require(response.is_success, f"login failed ({response.status_code})")
    if "no-store" not in cache_control(response):
        return failed("the login answer (a credential) lacks Cache-Control: no-store")
    return passed("the login answer carries Cache-Control: no-store")


async def _cors_answers(ctx: Context) -> list[httpx2.Response]:
    auth = await ctx.sign_in("user")
    method, path = _protected(ctx)
    simple = await ctx.request(method, path, auth=auth, headers={"Origin": EVIL_ORIGIN})
    preflight = await ctx.request(
        "OPTIONS",
        path,
        headers={
            "Origin": EVIL_ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
        same_origin=False,
    )
    return [simple, preflight]


@probe(
    "transport.cors_no_wildcard",
    "CORS never answers Access-Control-Allow-Origin: * on authenticated routes",
    "checklist: CORS origin never *",
    "ASVS 5.0 3.4.2",
)
async def cors_no_wildcard(ctx: Context) -> Verdict:
    for response in await _cors_answers(ctx):
        if response.headers.get("access-control-allow-origin", "").strip() == "*":
            ctx.cite(response, "a cross-origin request from a foreign site")
            return failed("Access-Control-Allow-Origin: * on an authenticated route")
    return passed("no wildcard CORS origin")


@probe(
    "transport.cors_no_reflection",
    "CORS does not reflect an untrusted Origin",
    "checklist: CORS origin never reflected with credentials",
    "ASVS 5.0 3.4.2",
)
async def cors_no_reflection(ctx: Context) -> Verdict:
    for response in await _cors_answers(ctx):
        if response.headers.get("access-control-allow-origin", "").strip() == EVIL_ORIGIN:
            ctx.cite(response, f"a cross-origin request from {EVIL_ORIGIN}")
            with_credentials = response.headers.get("access-control-allow-credentials") == "true"
            return failed(
                f"{EVIL_ORIGIN} is reflected as an allowed origin"
                + (" with credentials: any site can read the user's data" if with_credentials else "")
            )
    return passed(f"{EVIL_ORIGIN} is not allowed")


@probe(
    "transport.credentials_not_in_query",
    "An access token in the query string is refused",
    "checklist: no credentials in query strings",
    "ASVS 5.0 14.2.1",
    "RFC 6750 §5.3",
)
async def credentials_not_in_query(ctx: Context) -> Verdict:
    auth = await ctx.sign_in("user")
    require(auth.access_token, "the user's credential is not a bearer token")
    method, path = _protected(ctx)
    url = httpx2.URL(path).copy_merge_params({"access_token": auth.access_token or ""})
    response = ctx.cite(await ctx.request(method, str(url)), "the token in ?access_token=")
    if accepted(response):
        return failed("the token was accepted from the URL, where logs and histories keep it")
    return passed(f"a token in the URL is refused ({response.status_code})")


@probe(
    "transport.body_limit",
    "Oversized request bodies are refused with 413 before they are parsed",
    "RFC 9110 §15.5.14",
)
async def body_limit(ctx: Context) -> Verdict:
    target = ctx.target
    route = target.login.path if target.login else target.protected.path
    size = 2 * target.max_body_bytes + 1
    body = b'{"username": "' + b"a" * size + b'", "password": "x"}'
    response = await ctx.request(
        "POST", route, content=body, headers={"Content-Type": "application/json"}
    )
    ctx.note(f"POST {route} with a {len(body):,}-byte JSON body → {response.status_code}")
    if response.status_code != 413:
        return failed(
            f"a {len(body):,}-byte body was read and answered {response.status_code}, not 413:"
            " without a size limit, a few such requests exhaust memory"
        )
    return passed(f"a {len(body):,}-byte body is refused with 413")


def _protected(ctx: Context) -> tuple[str, str]:
    return ctx.target.protected.method, ctx.target.protected.path
