"""Sessions and CSRF: cookie attributes, a new id at login, logout that ends the session
on the server, cross-site requests refused, idle and absolute timeouts."""

from __future__ import annotations

import httpx2

from authcourse.audit.checks import EVIL_ORIGIN, accepted, refused, require
from authcourse.audit.context import Context, SetCookie, set_cookies
from authcourse.audit.framework import NotApplicable, Verdict, failed, passed, probe
from authcourse.audit.target import Auth


async def _session(ctx: Context) -> tuple[Auth, SetCookie, httpx2.Response]:
    """Log the user in; the session cookie it set (NotApplicable for token-only apps)."""
    require(ctx.target.login, "the target names no login route (Target.login)")
    response = await ctx.login(ctx.account("user"))
    require(response.is_success, f"login failed ({response.status_code})")
    auth = ctx.auth_from(response)
    name = ctx.session_cookie(auth)
    if name is None:
        raise NotApplicable("login sets no session cookie (a token-only app)")
    cookie = next(c for c in set_cookies(response) if c.name == name)
    return auth, cookie, response


async def _protected_with(ctx: Context, auth: Auth) -> httpx2.Response:
    return await ctx.request(ctx.target.protected.method, ctx.target.protected.path, auth=auth)


@probe(
    "sessions.cookie_secure",
    "The session cookie is Secure",
    "ASVS 5.0 3.3.1",
)
async def cookie_secure(ctx: Context) -> Verdict:
    _, cookie, response = await _session(ctx)
    ctx.cite(response, "login")
    if "secure" not in cookie.attributes:
        return failed(f"{cookie.name} lacks Secure: it would travel over plain http")
    return passed(f"{cookie.name} is Secure")


@probe(
    "sessions.cookie_httponly",
    "The session cookie is HttpOnly",
    "ASVS 5.0 3.3.4",
)
async def cookie_httponly(ctx: Context) -> Verdict:
    _, cookie, response = await _session(ctx)
    ctx.cite(response, "login")
    if "httponly" not in cookie.attributes:
        return failed(f"{cookie.name} lacks HttpOnly: any injected script can steal it")
    return passed(f"{cookie.name} is HttpOnly")


@probe(
    "sessions.cookie_samesite",
    "The session cookie is SameSite=Lax or Strict",
    "ASVS 5.0 3.3.2",
)
async def cookie_samesite(ctx: Context) -> Verdict:
    _, cookie, response = await _session(ctx)
    ctx.cite(response, "login")
    value = cookie.attributes.get("samesite", "").lower()
    if value not in ("lax", "strict"):
        return failed(f"{cookie.name} has SameSite={value or '(none)'}: sent on cross-site requests")
    return passed(f"{cookie.name} is SameSite={value}")


@probe(
    "sessions.host_prefix",
    "The session cookie uses the __Host- prefix",
    "ASVS 5.0 3.3.3",
)
async def host_prefix(ctx: Context) -> Verdict:
    _, cookie, response = await _session(ctx)
    ctx.cite(response, "login")
    if not cookie.name.startswith("__Host-"):
        return failed(
            f"{cookie.name!r} has no __Host- prefix: a sibling subdomain could set or shadow it"
        )
    return passed(f"{cookie.name} (host-only, Secure, Path=/ guaranteed by the browser)")


@probe(
    "sessions.new_id_at_login",
    "Login issues a new session id and kills the one the browser brought (fixation)",
    "checklist: new session id at login",
    "ASVS 5.0 7.2.4",
)
async def new_id_at_login(ctx: Context) -> Verdict:
    first, cookie, _ = await _session(ctx)
    # The attacker's planted id: a real session id they obtained, now in the victim's browser.
    again = await ctx.login(ctx.account("user"), cookies={cookie.name: cookie.value})
    ctx.cite(again, "logging in while the browser carries an existing session id")
    renewed = {c.name: c.value for c in set_cookies(again) if not c.deleted}
    if renewed.get(cookie.name, cookie.value) == cookie.value:
        return failed("login kept the session id the browser brought: session fixation")
    old = ctx.cite(await _protected_with(ctx, first), "the old id after the new login")
    if accepted(old):
        return failed("a new id was issued but the old one still works")
    return passed("a new id at login; the old one is dead")


@probe(
    "sessions.logout_invalidates",
    "After logout the same credentials are refused (server-side invalidation)",
    "checklist: logout really invalidates",
    "ASVS 5.0 7.4.1",
)
async def logout_invalidates(ctx: Context) -> Verdict:
    logout = ctx.target.logout
    require(logout, "the target names no logout route (Target.logout)")
    assert logout is not None
    auth = await ctx.sign_in("user")
    before = await _protected_with(ctx, auth)
    require(accepted(before), f"the protected route refused a fresh login ({before.status_code})")
    out = ctx.cite(await ctx.request(logout.method, logout.path, auth=auth), "logout")
    require(accepted(out), f"logout answered {out.status_code}")
    # The copy an attacker (or a second tab) kept: the browser's cookie is gone, not the copy.
    after = ctx.cite(await _protected_with(ctx, auth), "the same credentials after logout")
    if accepted(after):
        return failed("credentials still work after logout: the server forgot nothing")
    return passed(f"refused after logout ({after.status_code})")


@probe(
    "sessions.csrf_refused",
    "A cross-site state-changing request with the session cookie is refused",
    "ASVS 5.0 3.5.1",
)
async def csrf_refused(ctx: Context) -> Verdict:
    route = ctx.target.state_changing or ctx.target.logout
    require(route, "the target names no state-changing route (Target.state_changing)")
    assert route is not None
    auth, cookie, _ = await _session(ctx)
    forged = await ctx.request(
        route.method,
        route.path,
        cookies={cookie.name: cookie.value},
        headers={"Origin": EVIL_ORIGIN, "Content-Type": "application/x-www-form-urlencoded"},
        content=b"title=forged",
        same_origin=False,
    )
    ctx.cite(forged, f"{route} from {EVIL_ORIGIN}, cookie only, no CSRF token")
    if forged.status_code in (404, 405, 422):
        raise NotApplicable(
            f"{route} answered {forged.status_code} before any CSRF check could show: name a"
            " state-changing route that takes no body in Target.state_changing"
        )
    if not refused(forged):
        return failed(f"the forged request was answered {forged.status_code}, not refused")
    return passed(f"refused ({forged.status_code})")


async def _clock_session(ctx: Context) -> Auth:
    require(ctx.target.clock, "the target exposes no clock (Target.clock)")
    auth, _, _ = await _session(ctx)
    response = await _protected_with(ctx, auth)
    require(accepted(response), f"the protected route refused a fresh login ({response.status_code})")
    return auth


@probe(
    "sessions.idle_timeout",
    "A session unused for longer than the idle timeout is refused",
    "checklist: idle session timeout",
    "ASVS 5.0 7.3.1",
    order=800,  # moves the clock: after the probes that rely on long-lived credentials
)
async def idle_timeout(ctx: Context) -> Verdict:
    auth = await _clock_session(ctx)
    assert ctx.target.clock is not None
    idle = ctx.target.idle_timeout_seconds
    ctx.target.clock.advance(seconds=idle + 60)
    response = ctx.cite(await _protected_with(ctx, auth), f"after {idle + 60:.0f} s idle")
    if accepted(response):
        return failed(f"the session still works after {idle + 60:.0f} s without use")
    return passed(f"refused after {idle + 60:.0f} s idle ({response.status_code})")


@probe(
    "sessions.absolute_timeout",
    "A session in constant use still ends after the absolute timeout",
    "checklist: absolute session timeout",
    "ASVS 5.0 7.3.2",
    order=800,  # moves the clock: after the probes that rely on long-lived credentials
)
async def absolute_timeout(ctx: Context) -> Verdict:
    auth = await _clock_session(ctx)
    clock = ctx.target.clock
    assert clock is not None
    step = ctx.target.idle_timeout_seconds / 2
    elapsed = 0.0
    while elapsed <= ctx.target.absolute_timeout_seconds + step:
        clock.advance(seconds=step)
        elapsed += step
        response = await _protected_with(ctx, auth)
        if not accepted(response):
            ctx.cite(response, f"after {elapsed / 3600:.1f} h of activity every {step / 60:.0f} min")
            limit = ctx.target.absolute_timeout_seconds
            if elapsed <= limit:
                ctx.note(f"ended at {elapsed / 3600:.2f} h, within the {limit / 3600:.1f} h limit")
            return passed(f"the session ended after {elapsed / 3600:.1f} h")
    return failed(
        f"a session used every {step / 60:.0f} min was still alive after {elapsed / 3600:.1f} h"
    )
