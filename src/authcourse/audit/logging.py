"""Audit logging, read through the target's events hook: logins (both outcomes), logout,
refresh and authorization failures are recorded, and no credential ever is."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from authcourse.audit.checks import require
from authcourse.audit.context import Context
from authcourse.audit.framework import Verdict, failed, passed, probe
from authcourse.audit.passwords import random_password
from authcourse.audit.target import AuditEvents


def _events(ctx: Context, kind_name: str) -> tuple[AuditEvents, str]:
    events = ctx.target.events
    require(events, "the target gives no way to read audit events (Target.events)")
    assert events is not None
    kind = getattr(events, kind_name)
    require(kind, f"Target.events names no {kind_name} event kind")
    return events, str(kind)


async def _new_events(ctx: Context, action: Callable[[], Awaitable[object]]) -> list[Mapping[str, Any]]:
    events = ctx.target.events
    assert events is not None
    before = len(await events.read())
    await action()
    return list((await events.read())[before:])


async def _expect(ctx: Context, kind_name: str, action: Callable[[], Awaitable[object]], what: str) -> Verdict:
    events, kind = _events(ctx, kind_name)
    new = await _new_events(ctx, action)
    kinds = [str(event.get(events.kind_field)) for event in new]
    ctx.note(f"events recorded by {what}: {kinds or 'none'}")
    if kind not in kinds:
        return failed(f"{what} left no {kind!r} event")
    return passed(f"{what} recorded {kind!r}")


@probe(
    "logging.login_succeeded",
    "A successful login is recorded",
    "checklist: authentication events logged",
    "ASVS 5.0 16.3.1",
)
async def login_succeeded(ctx: Context) -> Verdict:
    return await _expect(ctx, "login_succeeded", lambda: ctx.sign_in("user"), "a successful login")


@probe(
    "logging.login_failed",
    "A failed login is recorded",
    "checklist: authentication events logged",
    "ASVS 5.0 16.3.1",
)
async def login_failed(ctx: Context) -> Verdict:
    user = ctx.account("user")
    return await _expect(
        ctx,
        "login_failed",
        lambda: ctx.login(username=user.username, password=random_password(20)),
        "a wrong password",
    )


@probe(
    "logging.logout",
    "A logout is recorded",
    "checklist: authentication events logged (logout)",
)
async def logout(ctx: Context) -> Verdict:
    route = ctx.target.logout
    require(route, "the target names no logout route (Target.logout)")
    assert route is not None
    auth = await ctx.sign_in("user")
    cookies = None
    if ctx.target.refresh and ctx.target.refresh.cookie and auth.refresh_token:
        cookies = {ctx.target.refresh.cookie: auth.refresh_token}

    async def log_out() -> object:
        return await ctx.request(route.method, route.path, auth=auth, cookies=cookies)

    return await _expect(ctx, "logout", log_out, "a logout")


@probe(
    "logging.refresh",
    "A token refresh is recorded",
    "checklist: authentication events logged (refresh)",
)
async def refresh(ctx: Context) -> Verdict:
    require(ctx.target.refresh, "the target names no refresh route (Target.refresh)")
    auth = await ctx.sign_in("user")
    return await _expect(ctx, "refreshed", lambda: ctx.use_refresh(auth), "a refresh")


@probe(
    "logging.authorization_failed",
    "A refused authorization (another user's object, the admin route) is recorded",
    "checklist: authorization failures logged with user and resource ids",
    "ASVS 5.0 16.3.2",
)
async def authorization_failed(ctx: Context) -> Verdict:
    _events(ctx, "authorization_failed")
    target = ctx.target
    method: str
    if target.object_route is not None:
        method, url, role = target.object_route.method, target.object_route.url(), "other"
    else:
        require(target.admin_route, "the target names neither an object route nor an admin route")
        assert target.admin_route is not None
        method, url, role = target.admin_route.method, target.admin_route.path, "user"
    auth = await ctx.sign_in(role)  # type: ignore[arg-type]
    return await _expect(
        ctx,
        "authorization_failed",
        lambda: ctx.request(method, url, auth=auth),
        f"{method} {url} by the {role} user",
    )


def _leaks(events: Sequence[Mapping[str, Any]], secrets: set[str]) -> list[str]:
    text = json.dumps([dict(event) for event in events], default=str)
    return [secret for secret in secrets if len(secret) >= 8 and secret in text]


@probe(
    "logging.no_secrets",
    "No password, token, session id or key the audit used appears in the events",
    "checklist: no passwords, tokens or keys in logs",
    "ASVS 5.0 16.2.5",
    order=1000,
)
async def no_secrets(ctx: Context) -> Verdict:
    events = ctx.target.events
    require(events, "the target gives no way to read audit events (Target.events)")
    assert events is not None
    if len(ctx.secrets) < 3:  # run alone: make some credentials worth leaking first
        user = ctx.account("user")
        await ctx.sign_in("user")
        await ctx.login(username=user.username, password=random_password(20))
    recorded = await events.read()
    leaked = _leaks(recorded, ctx.secrets)
    ctx.note(f"{len(recorded)} events searched for {len(ctx.secrets)} credentials the audit handled")
    if leaked:
        return failed(f"{len(leaked)} credential(s) the audit used appear in the audit events")
    return passed(f"none of {len(ctx.secrets)} credentials appears in {len(recorded)} events")
