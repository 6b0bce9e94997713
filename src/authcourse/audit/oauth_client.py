"""OAuth 2.0 / OpenID Connect clients: the app checks everything the provider sends back.

Each probe points the app at the audit's own provider (``hostile_provider``), signs in
once normally (that sign-in must succeed, or the probe is not applicable: a refusal means
nothing from an app that refuses everyone), then signs in again with one thing wrong and
expects the app to refuse: no session cookie from the callback.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx2
from starlette.types import ASGIApp

from authcourse.audit.context import Context, set_cookies
from authcourse.audit.framework import NotApplicable, Verdict, failed, passed, probe
from authcourse.audit.hostile_provider import (
    OTHER_ISSUER,
    REMOVE,
    HostileProvider,
    ProviderUser,
    query,
    with_query,
)
from authcourse.audit.target import RelyingParty
from authcourse.client import lifespan


@dataclass
class SignIn:
    """One sign-in attempt through the app: what the browser saw and where it ended."""

    authorization_url: str
    callback: httpx2.Response
    signed_in: bool
    #: Everything the browser was handed on the way (URLs, headers, bodies, cookies).
    seen: list[str] = field(default_factory=list)

    @property
    def parameters(self) -> dict[str, str]:
        return query(self.authorization_url)


class Harness:
    """The app (connected to a fresh hostile provider) and the user's browser."""

    def __init__(self, ctx: Context, rp: RelyingParty, provider: HostileProvider,
                 app: ASGIApp) -> None:
        self.ctx, self.rp, self.provider, self.app = ctx, rp, provider, app
        self.browser = provider.browser()
        transport = httpx2.ASGITransport(app=app, client=(ctx.client_ip, 50000),
                                         raise_app_exceptions=False)
        self.http = httpx2.AsyncClient(transport=transport, base_url=ctx.target.origin)

    async def sign_in(self, label: str, *, callback: Mapping[str, str | None] | None = None,
                      user: ProviderUser | None = None) -> SignIn:
        """Start a login at the app, sign in at the provider, deliver the callback
        (with its query changed by ``callback``: None removes a parameter)."""
        self.http.cookies.clear()
        login = self.rp.login
        start = await self.http.request(login.method, login.path)
        location = start.headers.get("location", "")
        if not start.is_redirect or not location.startswith(self.provider.issuer + "/"):
            self.ctx.cite(start, f"{label}: starting the login")
            raise NotApplicable(
                f"{login} did not redirect to the audit's provider ({start.status_code}); "
                "check RelyingParty.login and RelyingParty.connect"
            )
        seen = _visible(start)
        if user is not None:
            self.browser.cookies.clear()  # end the provider session: sign in as ``user``
        answer = await self.provider.authorize(self.browser, location, user)
        back = answer.headers.get("location", "")
        if not answer.is_redirect or not back.startswith(self.ctx.target.origin):
            self.ctx.cite(answer, f"{label}: the provider's answer")
            raise NotApplicable(
                f"the audit's provider refused the app's authorization request "
                f"({answer.status_code}): {_error_of(answer)}"
            )
        if callback:
            back = with_query(back, callback)
        url = httpx2.URL(back)
        response = await self.http.get(url.raw_path.decode())
        self.ctx.cite(response, f"{label}: the callback")
        seen += [back, *_visible(response)]
        cookie = self.rp.session_cookie
        signed_in = response.status_code < 400 and any(
            c.name == cookie and not c.deleted for c in set_cookies(response)
        )
        return SignIn(location, response, signed_in, seen)

    async def baseline(self) -> SignIn:
        """A normal sign-in; NotApplicable when it fails (then no refusal would mean a thing)."""
        normal = await self.sign_in("a normal sign-in")
        if not normal.signed_in:
            raise NotApplicable(
                f"a normal sign-in through the audit's provider did not set "
                f"{self.rp.session_cookie} (callback answered {normal.callback.status_code}); "
                "check RelyingParty.session_cookie and RelyingParty.connect"
            )
        return normal

    async def close(self) -> None:
        await self.http.aclose()
        await self.browser.aclose()


@contextlib.asynccontextmanager
async def connected(ctx: Context) -> AsyncIterator[Harness]:
    """A fresh hostile provider, the app connected to it, and a browser."""
    rp = ctx.target.relying_party
    if rp is None:
        raise NotApplicable("the target is no OAuth client (Target.relying_party)")
    if ctx.app is None or ctx.url is not None:
        raise NotApplicable("the audit's provider runs in-process: audit the app in-process")
    provider = HostileProvider(ctx.target.clock)
    registration = provider.register(ctx.target.origin + rp.callback, rp.scope, rp.resource)
    ctx.remember(provider.client_secret, provider.user.password)
    app = await rp.connect(registration)
    async with lifespan(app) if app is not ctx.app else contextlib.nullcontext():
        harness = Harness(ctx, rp, provider, app)
        try:
            yield harness
        finally:
            await harness.close()


def _visible(response: httpx2.Response) -> list[str]:
    """What a browser is handed by ``response``: headers (cookies too) and the body."""
    parts = [f"{name}: {value}" for name, value in response.headers.multi_items()]
    parts.append(response.text)
    for cookie in set_cookies(response):
        parts.extend(_decodings(cookie.value))
    return parts


def _decodings(value: str) -> list[str]:
    """A cookie value as sent, URL-decoded, and each dot-separated part base64-decoded
    (signed session cookies are base64 JSON: a secret inside is still in the browser)."""
    found = [value, unquote(value)]
    for part in unquote(value).replace('"', "").split("."):
        with contextlib.suppress(ValueError):
            found.append(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode(
                "utf-8", "replace"))
    return found


def _error_of(response: httpx2.Response) -> str:
    location = response.headers.get("location")
    if location:
        return query(location).get("error", "no error code")
    return "an error page" if response.status_code >= 400 else f"answer {response.status_code}"


class Tally:
    """The attacks a probe sent: which the app accepted, which made it crash."""

    def __init__(self) -> None:
        self.accepted: list[str] = []
        self.crashed: list[str] = []

    def add(self, label: str, attempt: SignIn) -> None:
        if attempt.signed_in:
            self.accepted.append(label)
        elif attempt.callback.status_code >= 500:
            self.crashed.append(label)

    def verdict(self, danger: str, refused: str) -> Verdict:
        if self.accepted:
            return failed(f"the app accepted {' and '.join(self.accepted)}: {danger}")
        if self.crashed:
            return failed(f"the app answered 5xx to {' and '.join(self.crashed)}: it refused, "
                          "but a bad answer from the provider deserves a clear 4xx, not a crash")
        return passed(refused)


async def _tampered(harness: Harness, tally: Tally, label: str, **changes: Any) -> None:
    """Sign in with the ID token's claims changed (``REMOVE`` deletes one)."""
    harness.provider.tamper = dict(changes)
    try:
        tally.add(label, await harness.sign_in(label))
    finally:
        harness.provider.tamper = {}


@probe(
    "oauth_client.state",
    "The callback is refused when state is missing or is not this browser's",
    "checklist: state validated",
    "RFC 6749 §10.12",
    "RFC 9700 §2.1",
)
async def state(ctx: Context) -> Verdict:
    tally = Tally()
    async with connected(ctx) as harness:
        await harness.baseline()
        for label, value in (("no state", None), ("another state", secrets.token_urlsafe(16))):
            label = f"a callback with {label}"
            tally.add(label, await harness.sign_in(label, callback={"state": value}))
    return tally.verdict(
        "a login CSRF attacker can sign victims in to the attacker's account",
        "callbacks without state or with another browser's state are refused",
    )


@probe(
    "oauth_client.nonce",
    "The app sends a nonce and refuses ID tokens without it or with another one",
    "checklist: nonce validated",
    "OpenID Connect Core 1.0 §3.1.3.7",
    "OpenID Connect Core 1.0 §15.5.2",
)
async def nonce(ctx: Context) -> Verdict:
    tally = Tally()
    async with connected(ctx) as harness:
        normal = await harness.baseline()
        if not normal.parameters.get("nonce"):
            return failed("the authorization request carries no nonce: a stolen ID token "
                          "can be replayed into another login")
        await _tampered(harness, tally, "an ID token with another nonce",
                        nonce=secrets.token_urlsafe(16))
        await _tampered(harness, tally, "an ID token without a nonce", nonce=REMOVE)
    return tally.verdict("ID tokens can be replayed into other logins",
                         "ID tokens with another nonce, or none, are refused")


@probe(
    "oauth_client.pkce",
    "The app uses PKCE with S256 and sends the verifier to the token endpoint",
    "checklist: PKCE",
    "RFC 7636 §4.2",
    "RFC 9700 §2.1.1",
)
async def pkce(ctx: Context) -> Verdict:
    async with connected(ctx) as harness:
        # The authorization request is judged first: a provider may refuse a bad one.
        attempt = await harness.sign_in("a normal sign-in")
        parameters = attempt.parameters
        challenge = parameters.get("code_challenge")
        method = parameters.get("code_challenge_method")
        if not challenge:
            return failed("the authorization request carries no code_challenge: a stolen "
                          "code can be redeemed by whoever stole it")
        if method != "S256":
            return failed(f"code_challenge_method is {method or 'absent (plain)'}, not S256: "
                          "the challenge is the verifier itself")
        if not attempt.signed_in:
            await harness.baseline()  # says why the normal sign-in failed
        requests = list(harness.provider.token_requests)
    verifier = next((r.form.get("code_verifier") for r in requests
                     if r.form.get("grant_type") == "authorization_code"), None)
    if not verifier:
        return failed("the token request carries no code_verifier")
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
        return failed("the code_verifier sent does not match the code_challenge")
    return passed("S256 challenge in the authorization request, matching verifier at /token")


@probe(
    "oauth_client.id_token_aud",
    "ID tokens addressed to another client (aud) are refused",
    "checklist: ID token aud is the client id",
    "OpenID Connect Core 1.0 §3.1.3.7",
)
async def id_token_aud(ctx: Context) -> Verdict:
    tally = Tally()
    async with connected(ctx) as harness:
        await harness.baseline()
        await _tampered(harness, tally, "an ID token for another client", aud="another-client")
    return tally.verdict("any app the user signs in to can sign in as the user here",
                         "an ID token whose aud is another client is refused")


@probe(
    "oauth_client.id_token_iss",
    "ID tokens from another issuer (iss) are refused",
    "OpenID Connect Core 1.0 §3.1.3.7",
)
async def id_token_iss(ctx: Context) -> Verdict:
    tally = Tally()
    async with connected(ctx) as harness:
        await harness.baseline()
        await _tampered(harness, tally, "an ID token naming another issuer", iss=OTHER_ISSUER)
    return tally.verdict("it trusts an issuer it never sent the user to",
                         "an ID token naming another issuer is refused")


@probe(
    "oauth_client.id_token_exp",
    "Expired ID tokens (exp) are refused",
    "OpenID Connect Core 1.0 §3.1.3.7",
)
async def id_token_exp(ctx: Context) -> Verdict:
    tally = Tally()
    async with connected(ctx) as harness:
        await harness.baseline()
        now = harness.provider.now()
        await _tampered(harness, tally, "an ID token that expired an hour ago",
                        iat=now - 7200, exp=now - 3600)
    return tally.verdict("old, leaked ID tokens stay usable forever",
                         "an ID token that expired an hour ago is refused")


@probe(
    "oauth_client.id_token_signature",
    "ID tokens not signed with the provider's published keys are refused",
    "OpenID Connect Core 1.0 §3.1.3.7",
    "RFC 8725 §3.1",
)
async def id_token_signature(ctx: Context) -> Verdict:
    tally = Tally()
    async with connected(ctx) as harness:
        await harness.baseline()
        harness.provider.foreign_key = True
        label = "an ID token signed with an unpublished key (same kid)"
        tally.add(label, await harness.sign_in(label))
    return tally.verdict("the signature is not checked, so anyone can mint ID tokens",
                         "an ID token signed with an unpublished key (same kid) is refused")


@probe(
    "oauth_client.email_verified",
    "An unverified email never signs in to (or links) the existing account with that email",
    "OpenID Connect Core 1.0 §5.7",
)
async def email_verified(ctx: Context) -> Verdict:
    rp = ctx.target.relying_party
    if rp is not None and (rp.existing_email is None or rp.me is None):
        raise NotApplicable("the target names no existing local account and /me route "
                            "(RelyingParty.existing_email, RelyingParty.me)")
    async with connected(ctx) as harness:
        email, me = harness.rp.existing_email or "", harness.rp.me
        assert me is not None
        await harness.baseline()
        claimant = harness.provider.add_user(email, email_verified=False)
        ctx.remember(claimant.password)
        label = "an unverified email of an existing account"
        attempt = await harness.sign_in(label, user=claimant)
        if not attempt.signed_in:
            tally = Tally()
            tally.add(label, attempt)
            return tally.verdict("", f"refused ({attempt.callback.status_code}): the provider "
                                 "had not verified the email")
        answer = ctx.cite(await harness.http.request(me.method, me.path), "who is signed in")
    if answer.is_success and email.lower() in answer.text.lower():
        return failed("a provider account with an unverified email signed in as the existing "
                      "account with that email: anyone can claim anyone's account")
    return passed("signed in, but as a separate account, not the existing one")


@probe(
    "oauth_client.issuer_mixup",
    "Authorization responses naming another issuer (iss), or none, are refused",
    "checklist: iss checked (mix-up)",
    "RFC 9207 §2.4",
)
async def issuer_mixup(ctx: Context) -> Verdict:
    tally = Tally()
    async with connected(ctx) as harness:
        normal = await harness.baseline()
        if "iss" not in query(str(normal.callback.request.url)):
            raise NotApplicable("the audit's provider sent no iss parameter")
        for label, value in (("another issuer's iss", OTHER_ISSUER), ("no iss", None)):
            label = f"a callback with {label}"
            tally.add(label, await harness.sign_in(label, callback={"iss": value}))
    return tally.verdict(
        "the provider announces the iss parameter, so a response without its own issuer "
        "may come from another provider (mix-up)",
        "callbacks naming another issuer, or none, are refused",
    )


@probe(
    "oauth_client.secret_not_in_browser",
    "The client secret never reaches the browser (redirects, pages, cookies)",
    "checklist: client secret never in front-end code",
    "RFC 6749 §2.3.1",
)
async def secret_not_in_browser(ctx: Context) -> Verdict:
    async with connected(ctx) as harness:
        normal = await harness.baseline()
        secret = harness.provider.client_secret
        seen = [normal.authorization_url, *normal.seen]
    leaks = [part for part in seen if secret in part or secret in unquote(part)]
    if leaks:
        return failed(f"the client secret appears in {len(leaks)} thing(s) the browser "
                      "receives; anyone can impersonate the app at the provider")
    return passed(f"the secret is in none of the {len(seen)} headers, bodies, URLs and "
                  "decoded cookies the browser received")
