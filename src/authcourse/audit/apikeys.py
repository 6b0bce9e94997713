"""API keys: header only (never the URL), scopes enforced, expiry, per-key limits,
revocation that takes effect at once, and a recognisable prefix."""

from __future__ import annotations

import re

import httpx2

from authcourse.audit.checks import accepted, require
from authcourse.audit.context import Context
from authcourse.audit.framework import Verdict, failed, passed, probe
from authcourse.audit.target import ApiKeys, IssuedKey, Route

#: A prefix people and secret scanners recognise: letters, an underscore, then the secret.
PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9]{1,15}_")


def _keys(ctx: Context) -> ApiKeys:
    keys = ctx.target.api_keys
    require(keys, "the target names no API keys (Target.api_keys)")
    assert keys is not None
    return keys


def _route(ctx: Context) -> Route:
    keys = _keys(ctx)
    return keys.scoped_route or ctx.target.protected


def _scopes(keys: ApiKeys) -> list[str]:
    return [keys.needed_scope] if keys.needed_scope else []


async def _issue(ctx: Context, scopes: list[str]) -> IssuedKey:
    issued = await _keys(ctx).issue(ctx, scopes)
    ctx.remember(issued.key)
    return issued


def _header(keys: ApiKeys, key: str) -> dict[str, str]:
    return {keys.header: f"{keys.scheme} {key}" if keys.scheme else key}


async def _call(ctx: Context, key: str, label: str, client_ip: str | None = None) -> httpx2.Response:
    route = _route(ctx)
    response = await ctx.request(
        route.method, route.path, headers=_header(_keys(ctx), key), client_ip=client_ip
    )
    return ctx.cite(response, label) if client_ip is None else response


async def _working_key(ctx: Context) -> IssuedKey:
    issued = await _issue(ctx, _scopes(_keys(ctx)))
    response = await _call(ctx, issued.key, "a fresh key")
    require(accepted(response), f"a freshly issued key was refused ({response.status_code})")
    return issued


@probe(
    "apikeys.not_in_query",
    "An API key in the query string is refused",
    "checklist: API key in a header, never the query string",
    "ASVS 5.0 14.2.1",
)
async def not_in_query(ctx: Context) -> Verdict:
    issued = await _working_key(ctx)
    route = _route(ctx)
    for name in ("api_key", "apikey", "key"):
        url = httpx2.URL(route.path).copy_merge_params({name: issued.key})
        response = await ctx.request(route.method, str(url))
        if accepted(response):
            ctx.cite(response, f"the key in ?{name}=")
            return failed(f"the key was accepted from ?{name}=: URLs end up in logs")
    return passed("keys in the URL are refused")


@probe(
    "apikeys.scope_enforced",
    "A key without the route's scope is refused with 403",
    "checklist: least-privilege scopes",
)
async def scope_enforced(ctx: Context) -> Verdict:
    keys = _keys(ctx)
    require(keys.scoped_route and keys.needed_scope and keys.other_scope,
            "Target.api_keys names no scoped_route, needed_scope and other_scope")
    await _working_key(ctx)
    narrow = await _issue(ctx, [keys.other_scope or ""])
    response = await _call(ctx, narrow.key, f"a key with only {keys.other_scope}")
    if accepted(response):
        return failed(f"a key with only {keys.other_scope} reached a route needing {keys.needed_scope}")
    if response.status_code != 403:
        return failed(f"refused with {response.status_code}; a valid key lacking a scope gets 403")
    return passed(f"403 for a key without {keys.needed_scope}")


@probe(
    "apikeys.expiry",
    "Keys expire (by default within a quarter)",
    "checklist: expiry (or quarterly review)",
    order=800,  # moves the clock: after the probes that rely on long-lived credentials
)
async def expiry(ctx: Context) -> Verdict:
    clock = ctx.target.clock
    require(clock, "the target exposes no clock (Target.clock)")
    assert clock is not None
    issued = await _working_key(ctx)
    days = _keys(ctx).max_lifetime_days + 1
    clock.advance(days=days)
    response = await _call(ctx, issued.key, f"the same key {days:.0f} days later")
    if accepted(response):
        return failed(f"a key still works {days:.0f} days after it was issued: it never expires")
    return passed(f"refused after {days:.0f} days ({response.status_code})")


@probe(
    "apikeys.revocation_instant",
    "A revoked key is refused on the very next request",
    "checklist: revocation instant",
)
async def revocation_instant(ctx: Context) -> Verdict:
    keys = _keys(ctx)
    require(keys.revoke, "Target.api_keys names no revoke hook")
    assert keys.revoke is not None
    issued = await _working_key(ctx)
    await keys.revoke(ctx, issued)
    response = await _call(ctx, issued.key, "the key right after revocation")
    if accepted(response):
        return failed("a revoked key still works (a cache, or the revocation is not checked)")
    return passed(f"refused right after revocation ({response.status_code})")


@probe(
    "apikeys.per_key_limit",
    "One key sending many requests from many addresses gets 429",
    "checklist: per-key rate limit",
)
async def per_key_limit(ctx: Context) -> Verdict:
    issued = await _working_key(ctx)
    burst = _keys(ctx).burst
    for attempt in range(1, burst + 2):
        # Spread over addresses: only a limit counted per key can notice.
        response = await _call(ctx, issued.key, "", client_ip=f"10.{attempt // 250}.{attempt % 250}.7")
        if response.status_code == 429:
            ctx.cite(response, f"request {attempt} with one key")
            return passed(f"429 after {attempt} requests with one key")
    ctx.note(f"{burst + 1} requests with one key from many addresses: never a 429")
    return failed(f"{burst + 1} requests with one key and no 429: a leaked key is unlimited")


@probe(
    "apikeys.prefix",
    "Keys carry a recognisable prefix (secret scanners can find leaks)",
    "checklist: a recognisable prefix",
)
async def prefix(ctx: Context) -> Verdict:
    issued = await _issue(ctx, _scopes(_keys(ctx)))
    shown = issued.key[:4] + "…"
    if not PREFIX.match(issued.key):
        return failed(f"the key ({shown}) has no prefix like 'cdk_live_': scanners cannot spot it")
    return passed(f"prefix {issued.key.split('_')[0]}_")
