"""Authorization servers: what the provider itself must refuse.

The app under test is the provider (``Target.provider`` describes a client registered
there and a user who can approve it). Each probe runs the authorization code flow itself,
as the client and the user's browser, and then tries what an attacker would: another
redirect URI, no PKCE or ``plain`` PKCE, a code twice or late, a spent refresh token, an
anonymous introspection request.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx2

from authcourse.audit.context import Context
from authcourse.audit.framework import NotApplicable, Verdict, failed, passed, probe
from authcourse.audit.hostile_provider import query
from authcourse.audit.target import AuthorizationServer
from authcourse.idp import sign_in


@dataclass
class Code:
    """The end of the front channel: the provider's answer and the code it carried, if any."""

    answer: httpx2.Response
    code: str | None
    verifier: str | None


class Flow:
    """The client and the user's browser, for one probe."""

    def __init__(self, ctx: Context, server: AuthorizationServer, metadata: Mapping[str, Any],
                 browser: httpx2.AsyncClient) -> None:
        self.ctx, self.server, self.metadata, self.browser = ctx, server, metadata, browser

    def endpoint(self, name: str) -> str:
        value = self.metadata.get(name)
        if not isinstance(value, str):
            raise NotApplicable(f"the discovery document names no {name}")
        return value

    async def code(self, label: str, *, redirect_uri: str | None = None,
                   pkce: str | None = "S256", **extra: str | None) -> Code:
        """Ask for a code as the client (with ``pkce`` "S256", "plain", "absent" or None for
        none); ``extra`` parameters are added, None removes one."""
        verifier = secrets.token_urlsafe(48)
        parameters: dict[str, str | None] = {
            "response_type": "code",
            "client_id": self.server.client_id,
            "redirect_uri": redirect_uri or self.server.redirect_uri,
            "scope": self.server.scope,
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "resource": self.server.resource,
        }
        if pkce == "S256":
            digest = hashlib.sha256(verifier.encode()).digest()
            parameters["code_challenge"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            parameters["code_challenge_method"] = "S256"
        elif pkce in ("plain", "absent"):
            # RFC 7636 §4.3: without code_challenge_method the server must assume "plain".
            parameters["code_challenge"] = verifier
            parameters["code_challenge_method"] = "plain" if pkce == "plain" else None
        parameters |= extra
        sent = {k: v for k, v in parameters.items() if v is not None}
        endpoint = self.endpoint("authorization_endpoint")
        url = f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(sent)}"
        answer = await self._authorize(url)
        self.ctx.cite(answer, f"{label}: the provider's last answer")
        location = answer.headers.get("location", "")
        target = redirect_uri or self.server.redirect_uri
        code = query(location).get("code") if answer.is_redirect and location.startswith(
            target) else None
        self.ctx.remember(code, verifier)
        return Code(answer, code, verifier if pkce is not None else None)

    async def _authorize(self, url: str) -> httpx2.Response:
        if self.server.authorize is not None:
            return await self.server.authorize(self.ctx, url)
        user = self.server.user
        self.ctx.remember(user.password)
        return await sign_in(self.browser, url, username=user.username, password=user.password)

    async def token(self, label: str, form: Mapping[str, str | None], *,
                    auth: tuple[str, str] | None = None) -> httpx2.Response:
        """POST to the token endpoint as the client (or with ``auth``)."""
        credentials = auth or (self.server.client_id, self.server.client_secret)
        data = {k: v for k, v in form.items() if v is not None}
        response = await self.ctx.client().post(self.endpoint("token_endpoint"), data=data,
                                                auth=credentials)
        self.ctx.cite(response, label)
        if response.is_success:
            self.ctx.remember(*_strings(response, "access_token", "refresh_token", "id_token"))
        return response

    async def redeem(self, label: str, code: Code, *, verifier: str | None = "same",
                     ) -> httpx2.Response:
        """Trade ``code`` for tokens (with its own verifier, another one, or None)."""
        sent = code.verifier if verifier == "same" else verifier
        return await self.token(label, {
            "grant_type": "authorization_code", "code": code.code,
            "redirect_uri": self.server.redirect_uri, "code_verifier": sent,
        })

    async def tokens(self, label: str) -> dict[str, Any]:
        """A normal flow, code to tokens; NotApplicable when it fails."""
        code = await self.code(f"{label}: authorization")
        if code.code is None:
            raise NotApplicable(
                f"a normal authorization request got no code ({code.answer.status_code}); "
                "check Target.provider (client, redirect URI, user)"
            )
        answer = await self.redeem(f"{label}: redeeming the code", code)
        body = _json(answer)
        if answer.status_code != 200 or not isinstance(body.get("access_token"), str):
            raise NotApplicable(f"redeeming a fresh code failed ({answer.status_code})")
        return body

    async def refresh(self, label: str, refresh_token: str) -> httpx2.Response:
        return await self.token(label, {"grant_type": "refresh_token",
                                        "refresh_token": refresh_token})


@contextlib.asynccontextmanager
async def flow(ctx: Context) -> AsyncIterator[Flow]:
    server = ctx.target.provider
    if server is None:
        raise NotApplicable("the target is no authorization server (Target.provider)")
    ctx.remember(server.client_secret)
    answer = await ctx.client().get(server.metadata_path)
    metadata = _json(answer)
    if answer.status_code != 200 or not metadata:
        ctx.cite(answer, "the discovery document")
        raise NotApplicable(f"no discovery document at {server.metadata_path} "
                            f"({answer.status_code}); check AuthorizationServer.metadata_path")
    if ctx.app is not None and ctx.url is None:
        transport = httpx2.ASGITransport(app=ctx.app, client=(ctx.client_ip, 50000),
                                         raise_app_exceptions=False)
        browser = httpx2.AsyncClient(transport=transport, base_url=ctx.target.origin)
    else:
        browser = httpx2.AsyncClient(base_url=ctx.url or ctx.target.origin)
    try:
        yield Flow(ctx, server, metadata, browser)
    finally:
        await browser.aclose()


def _json(response: httpx2.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _strings(response: httpx2.Response, *names: str) -> list[str]:
    body = _json(response)
    return [body[name] for name in names if isinstance(body.get(name), str)]


def _redirect_variants(uri: str) -> dict[str, str]:
    """Redirect URIs an attacker would try instead of the registered one."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    port = 8443 if parts.port != 8443 else 9443
    joiner = "&" if parts.query else "?"
    return {
        "a longer path sharing the prefix": urlunsplit(parts._replace(path=parts.path + "evil")),
        "an extra path segment": urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/evil")),
        "another port": urlunsplit(parts._replace(netloc=f"{host}:{port}")),
        "an added query": uri + joiner + "next=https%3A%2F%2Fevil.test",
        "another host ending in the same name": urlunsplit(
            parts._replace(netloc=f"{host}.evil.test")),
    }


@probe(
    "provider.redirect_uri_exact",
    "The redirect URI must match the registered one exactly (prefix, path, port, query refused)",
    "checklist: exact redirect_uri matching",
    "RFC 9700 §4.1.3",
    "RFC 6749 §10.6",
)
async def redirect_uri_exact(ctx: Context) -> Verdict:
    async with flow(ctx) as f:
        normal = await f.code("the registered redirect URI")
        if normal.code is None:
            raise NotApplicable(f"the registered redirect URI got no code "
                                f"({normal.answer.status_code}); check Target.provider")
        sent_to = []
        for label, variant in _redirect_variants(f.server.redirect_uri).items():
            attempt = await f.code(label, redirect_uri=variant)
            location = attempt.answer.headers.get("location", "")
            if attempt.answer.is_redirect and location.startswith(variant):
                sent_to.append(label)
    if sent_to:
        return failed(f"the provider redirected to {', '.join(sent_to)}: codes can be sent "
                      "to a page the attacker controls")
    return passed("prefix, extra path, other port, added query and look-alike host all refused"
                  " without a redirect")


@probe(
    "provider.pkce_required",
    "An authorization request without PKCE never yields tokens",
    "checklist: PKCE",
    "RFC 9700 §2.1.1",
    "RFC 7636 §4.4.1",
)
async def pkce_required(ctx: Context) -> Verdict:
    async with flow(ctx) as f:
        await f.tokens("a normal flow with PKCE")
        attempt = await f.code("no code_challenge", pkce=None)
        if attempt.code is None:
            return passed(f"refused at the authorization endpoint ({_outcome(attempt.answer)})")
        answer = await f.redeem("redeeming the code without a verifier", attempt)
    if answer.is_success:
        return failed("a code requested without PKCE was redeemed: a stolen code is usable")
    return passed(f"a code was issued without PKCE, but redeeming it failed ({answer.status_code})")


@probe(
    "provider.pkce_s256_only",
    "PKCE 'plain' (or no method) is refused: S256 only",
    "checklist: PKCE downgrade refused",
    "RFC 7636 §4.2",
    "RFC 9700 §2.1.1",
)
async def pkce_s256_only(ctx: Context) -> Verdict:
    accepted = []
    async with flow(ctx) as f:
        await f.tokens("a normal flow with S256")
        for pkce, label in (("plain", "code_challenge_method=plain"),
                            ("absent", "a code_challenge without a method (plain)")):
            attempt = await f.code(label, pkce=pkce)
            if attempt.code is not None:
                answer = await f.redeem(f"{label}: redeeming with the verifier", attempt)
                if answer.is_success:
                    accepted.append(label)
    if accepted:
        return failed(f"tokens were issued for {' and '.join(accepted)}: whoever sees the "
                      "authorization request knows the verifier")
    return passed("plain PKCE, and a challenge without a method, are refused")


@probe(
    "provider.pkce_verifier_checked",
    "The token endpoint refuses a wrong or missing code_verifier",
    "RFC 7636 §4.6",
)
async def pkce_verifier_checked(ctx: Context) -> Verdict:
    accepted = []
    async with flow(ctx) as f:
        await f.tokens("a normal flow")
        for label, verifier in (("a wrong verifier", secrets.token_urlsafe(48)),
                                ("no verifier", None)):
            attempt = await f.code(f"a code for {label}")
            if attempt.code is None:
                raise NotApplicable("a second authorization request got no code")
            answer = await f.redeem(f"redeeming with {label}", attempt, verifier=verifier)
            if answer.is_success:
                accepted.append(label)
    if accepted:
        return failed(f"a code was redeemed with {' and '.join(accepted)}: PKCE protects nothing")
    return passed("a wrong verifier and a missing one are both refused")


@probe(
    "provider.code_single_use",
    "An authorization code works once",
    "checklist: single-use authorization codes",
    "RFC 6749 §4.1.2",
    "RFC 9700 §4.5",
)
async def code_single_use(ctx: Context) -> Verdict:
    async with flow(ctx) as f:
        code = await f.code("authorization")
        if code.code is None:
            raise NotApplicable("a normal authorization request got no code")
        first = await f.redeem("redeeming the code", code)
        if not first.is_success:
            raise NotApplicable(f"redeeming a fresh code failed ({first.status_code})")
        again = await f.redeem("redeeming the same code again", code)
    if again.is_success:
        return failed("the same code was redeemed twice: a stolen code keeps working")
    return passed(f"the second redemption is refused ({again.status_code})")


@probe(
    "provider.code_redirect_uri_checked",
    "A code is redeemed only with the redirect URI it was issued for",
    "RFC 6749 §4.1.3",
)
async def code_redirect_uri_checked(ctx: Context) -> Verdict:
    async with flow(ctx) as f:
        await f.tokens("a normal flow")
        code = await f.code("authorization")
        if code.code is None:
            raise NotApplicable("a second authorization request got no code")
        other = _redirect_variants(f.server.redirect_uri)["an extra path segment"]
        answer = await f.token("redeeming the code with another redirect URI", {
            "grant_type": "authorization_code", "code": code.code, "redirect_uri": other,
            "code_verifier": code.verifier,
        })
    if answer.is_success:
        return failed("a code was redeemed with a redirect URI it was not issued for: a code "
                      "leaked through one URI can be injected through another")
    return passed(f"refused ({answer.status_code})")


@probe(
    "provider.code_replay_revokes",
    "Replaying a used code revokes the tokens issued from it",
    "RFC 6749 §4.1.2",
    "RFC 9700 §4.5",
)
async def code_replay_revokes(ctx: Context) -> Verdict:
    async with flow(ctx) as f:
        code = await f.code("authorization")
        if code.code is None:
            raise NotApplicable("a normal authorization request got no code")
        first = _json(await f.redeem("redeeming the code", code))
        refresh_token = first.get("refresh_token")
        if not isinstance(refresh_token, str):
            raise NotApplicable("the code's tokens include no refresh token: nothing long-lived "
                                "to revoke")
        await f.redeem("the attacker replays the code", code)
        after = await f.refresh("the refresh token issued from the code, after the replay",
                                refresh_token)
    if after.is_success:
        return failed("after the code was replayed, the refresh token issued from it still "
                      "works (RFC 6749 §4.1.2: the server SHOULD revoke them)")
    return passed(f"the refresh token issued from the code is revoked ({after.status_code}); "
                  "a JWT access token already issued still verifies until its exp")


@probe(
    "provider.code_short_lived",
    "An authorization code expires within minutes",
    "RFC 6749 §4.1.2",
)
async def code_short_lived(ctx: Context) -> Verdict:
    clock = ctx.target.clock
    if clock is None:
        raise NotApplicable("the target gives no clock to move (Target.clock)")
    async with flow(ctx) as f:
        limit = f.server.max_code_seconds
        code = await f.code("authorization")
        if code.code is None:
            raise NotApplicable("a normal authorization request got no code")
        clock.advance(seconds=limit + 1)
        ctx.note(f"clock moved forward {limit + 1} s")
        late = await f.redeem("redeeming the code late", code)
    if late.is_success:
        return failed(f"a code was redeemed {limit + 1} s after it was issued "
                      f"(the limit is {limit} s)")
    return passed(f"refused {limit + 1} s after it was issued ({late.status_code})")


async def _refresh_pair(f: Flow) -> tuple[str, str]:
    """A refresh token, spent once: (the spent one, the one it was exchanged for)."""
    tokens = await f.tokens("a normal flow")
    first = tokens.get("refresh_token")
    if not isinstance(first, str):
        raise NotApplicable("the provider issued no refresh token to this client")
    answer = await f.refresh("refreshing", first)
    if not answer.is_success:
        raise NotApplicable(f"refreshing with a fresh refresh token failed ({answer.status_code})")
    second = _json(answer).get("refresh_token")
    return first, second if isinstance(second, str) else ""


@probe(
    "provider.refresh_rotation",
    "Each refresh hands out a new refresh token and spends the old one",
    "checklist: rotation invalidates old refresh tokens",
    "RFC 9700 §4.14.2",
)
async def refresh_rotation(ctx: Context) -> Verdict:
    async with flow(ctx) as f:
        first, second = await _refresh_pair(f)
        if not second or second == first:
            return failed("the refresh answer hands back no new refresh token: no rotation")
        replay = await f.refresh("the spent refresh token again", first)
    if replay.is_success:
        return failed("a spent refresh token refreshed again: it is not single-use")
    return passed(f"rotated; the spent token is refused ({replay.status_code})")


@probe(
    "provider.refresh_reuse_revokes",
    "Replaying a spent refresh token revokes the whole grant",
    "checklist: refresh-token reuse revokes the family",
    "RFC 9700 §4.14.2",
)
async def refresh_reuse_revokes(ctx: Context) -> Verdict:
    async with flow(ctx) as f:
        first, second = await _refresh_pair(f)
        if not second or second == first:
            raise NotApplicable("refresh tokens are not rotated (see provider.refresh_rotation)")
        await f.refresh("the attacker replays the spent refresh token", first)
        after = await f.refresh("the legitimate client's current refresh token", second)
    if after.is_success:
        return failed("after a replay the current refresh token still works: the thief and "
                      "the client both keep access")
    return passed(f"after the replay the current refresh token is refused ({after.status_code})")


@probe(
    "provider.introspection_protected",
    "Introspection answers authenticated resource servers only",
    "RFC 7662 §2.1",
    "RFC 7662 §4",
)
async def introspection_protected(ctx: Context) -> Verdict:
    async with flow(ctx) as f:
        endpoint = f.metadata.get("introspection_endpoint")
        if not isinstance(endpoint, str):
            raise NotApplicable("the provider announces no introspection endpoint")
        token = (await f.tokens("a normal flow"))["access_token"]
        http = ctx.client()
        callers: dict[str, tuple[str, str] | None] = {
            "an anonymous caller": None,
            "a wrong secret": (f.server.client_id, secrets.token_urlsafe(16)),
            "the client itself (not a resource server)":
                (f.server.client_id, f.server.client_secret),
        }
        leaked = []
        for label, auth in callers.items():
            answer = ctx.cite(await http.post(endpoint, data={"token": token}, auth=auth)
                              if auth else await http.post(endpoint, data={"token": token}),
                              f"introspection by {label}")
            if answer.is_success and _json(answer).get("active") is True:
                leaked.append(label)
        baseline = ""
        rs = f.server.resource_server
        if rs is not None:
            ctx.remember(rs.password)
            answer = ctx.cite(await http.post(endpoint, data={"token": token},
                                              auth=(rs.username, rs.password)),
                              "introspection by the resource server")
            if _json(answer).get("active") is not True:
                raise NotApplicable("the resource server's own introspection request was not "
                                    f"answered active ({answer.status_code}); check "
                                    "AuthorizationServer.resource_server and .resource")
            baseline = "; the resource server's own request is answered"
    if leaked:
        return failed(f"the endpoint described a live token to {', '.join(leaked)}: token "
                      "scanning and data leaks")
    return passed("anonymous callers, a wrong secret and a plain client learn nothing"
                  + baseline)


@probe(
    "provider.access_token_lifetime",
    "Access tokens live at most 15 minutes",
    "checklist: access tokens ≤ 15 min",
)
async def access_token_lifetime(ctx: Context) -> Verdict:
    async with flow(ctx) as f:
        limit = f.server.max_access_token_seconds
        tokens = await f.tokens("a normal flow")
    lifetimes = []
    expires_in = tokens.get("expires_in")
    if isinstance(expires_in, int | float):
        lifetimes.append(("expires_in", float(expires_in)))
    claims = _jwt_claims(str(tokens["access_token"]))
    if isinstance(claims.get("exp"), int | float) and isinstance(claims.get("iat"), int | float):
        lifetimes.append(("exp - iat", float(claims["exp"] - claims["iat"])))
    if not lifetimes:
        return failed("neither expires_in nor a readable exp: the client cannot know when the "
                      "token ends, and nothing shows it does")
    too_long = [f"{name} = {value:.0f} s" for name, value in lifetimes if value > limit]
    if too_long:
        return failed(f"{', '.join(too_long)}: longer than {limit} s, so a stolen access token "
                      "stays usable that long")
    shown = ", ".join(f"{name} = {value:.0f} s" for name, value in lifetimes)
    return passed(f"{shown} (limit {limit} s)")


def _jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT access token without verifying it (we only read its lifetime)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    with contextlib.suppress(ValueError):
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return payload if isinstance(payload, dict) else {}
    return {}


def _outcome(answer: httpx2.Response) -> str:
    location = answer.headers.get("location")
    if answer.is_redirect and location:
        return f"redirected with error={query(location).get('error', '?')}"
    return f"answered {answer.status_code} without a code"
