"""Refresh tokens: kept out of scripts' reach, single-use, reuse revokes the family,
logout revokes them."""

from __future__ import annotations

from authcourse.audit.checks import accepted, require
from authcourse.audit.context import Context, json_field, set_cookies
from authcourse.audit.framework import Verdict, failed, passed, probe
from authcourse.audit.target import Auth, Refresh


def _refresh(ctx: Context) -> Refresh:
    refresh = ctx.target.refresh
    require(refresh, "the target names no refresh route (Target.refresh)")
    assert refresh is not None
    return refresh


async def _rotate(ctx: Context, auth: Auth, token: str, label: str) -> tuple[int, str | None]:
    """Spend ``token``; the status and the refresh token handed back (None if none)."""
    refresh = _refresh(ctx)
    response = ctx.cite(await ctx.use_refresh(auth, token), label)
    if refresh.cookie is not None:
        new = {c.name: c.value for c in set_cookies(response) if not c.deleted}.get(refresh.cookie)
    else:
        new = json_field(response, refresh.body_field)
    ctx.remember(new, json_field(response, refresh.token_field))
    return response.status_code, new


async def _logged_in(ctx: Context) -> tuple[Auth, str]:
    _refresh(ctx)
    auth = await ctx.sign_in("user")
    require(auth.refresh_token, "login handed out no refresh token where Target.refresh says")
    return auth, auth.refresh_token or ""


@probe(
    "refresh.cookie_flags",
    "The refresh token travels in an HttpOnly, Secure, SameSite=Strict cookie",
    "checklist: refresh tokens in HttpOnly SameSite=Strict cookies",
    "ASVS 5.0 3.3.4",
)
async def cookie_flags(ctx: Context) -> Verdict:
    refresh = _refresh(ctx)
    response = await ctx.login(ctx.account("user"))
    ctx.cite(response, "login")
    require(response.is_success, f"login failed ({response.status_code})")
    if refresh.cookie is None:
        return failed(
            f"the refresh token is in the JSON body ({refresh.body_field}): any script on the"
            " page can read and exfiltrate a long-lived credential"
        )
    cookie = next((c for c in set_cookies(response) if c.name == refresh.cookie), None)
    require(cookie, f"login set no {refresh.cookie} cookie")
    assert cookie is not None
    missing = [
        flag
        for flag, ok in (
            ("HttpOnly", "httponly" in cookie.attributes),
            ("Secure", "secure" in cookie.attributes),
            ("SameSite=Strict", cookie.attributes.get("samesite", "").lower() == "strict"),
        )
        if not ok
    ]
    if missing:
        return failed(f"{cookie.name} lacks {', '.join(missing)}")
    path = cookie.attributes.get("path", "/")
    return passed(f"{cookie.name}: HttpOnly, Secure, SameSite=Strict, Path={path}")


@probe(
    "refresh.rotation",
    "Each refresh hands out a new refresh token and spends the old one",
    "checklist: rotation invalidates old refresh tokens",
    "RFC 9700 §4.14.2",
)
async def rotation(ctx: Context) -> Verdict:
    auth, first = await _logged_in(ctx)
    status, second = await _rotate(ctx, auth, first, "first refresh")
    require(200 <= status < 300, f"refreshing with a fresh token failed ({status})")
    if second is None or second == first:
        return failed("the refresh answer hands back the same refresh token (or none): no rotation")
    replay, _ = await _rotate(ctx, auth, first, "the first refresh token again")
    if 200 <= replay < 300:
        return failed("a spent refresh token refreshed again: it is not single-use")
    return passed(f"rotated; the spent token is refused ({replay})")


@probe(
    "refresh.reuse_revokes_family",
    "Replaying a spent refresh token revokes its whole family",
    "checklist: refresh-token reuse revokes the family",
    "RFC 9700 §4.14.2",
)
async def reuse_revokes_family(ctx: Context) -> Verdict:
    auth, first = await _logged_in(ctx)
    status, second = await _rotate(ctx, auth, first, "the legitimate client refreshes")
    require(200 <= status < 300 and second, f"refreshing failed ({status}) or did not rotate")
    await _rotate(ctx, auth, first, "the attacker replays the stolen, spent token")
    after, _ = await _rotate(ctx, auth, second or "", "the legitimate client's current token")
    if 200 <= after < 300:
        return failed("after a replay the family still refreshes: the thief keeps access")
    return passed(f"the whole family is revoked after a replay ({after})")


@probe(
    "refresh.logout_revokes",
    "After logout the refresh token no longer refreshes",
    "checklist: logout really invalidates",
    "ASVS 5.0 7.4.1",
)
async def logout_revokes(ctx: Context) -> Verdict:
    logout = ctx.target.logout
    require(logout, "the target names no logout route (Target.logout)")
    assert logout is not None
    auth, token = await _logged_in(ctx)
    refresh = _refresh(ctx)
    cookies = {refresh.cookie: token} if refresh.cookie else None
    out = await ctx.request(logout.method, logout.path, auth=auth, cookies=cookies)
    ctx.cite(out, "logout")
    require(accepted(out), f"logout answered {out.status_code}")
    status, _ = await _rotate(ctx, auth, token, "the refresh token after logout")
    if 200 <= status < 300:
        return failed("the refresh token still works after logout")
    return passed(f"refused after logout ({status})")
