"""JWT: forged and tampered tokens must be refused, claims must be checked, lifetimes short.

Every probe starts from a real access token of the target's user, decoded (not verified)
to copy its claims and header, then sends a forgery where the app expects the token.
A 5xx counts as a failure: a bad token must be a 401, never a crash.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx2

from authcourse.audit import jwt_attacks as forge
from authcourse.audit.checks import accepted, require
from authcourse.audit.context import Context
from authcourse.audit.framework import NotApplicable, Verdict, failed, passed, probe
from authcourse.audit.target import Auth

MAX_ACCESS_LIFETIME = 15 * 60
JWKS_PATHS = ("/.well-known/jwks.json", "/jwks.json", "/.well-known/openid-configuration")

Sign = Callable[[Mapping[str, Any], Mapping[str, Any]], str]


async def _token(ctx: Context) -> tuple[Auth, forge.Jwt]:
    auth = await ctx.sign_in("user")
    token = forge.parse(auth.access_token)
    if token is None:
        raise NotApplicable("the user's credential is not a JWT")
    ctx.note(f"the user's token (decoded, not verified): header {token.header}")
    return auth, token


async def _send(ctx: Context, token: str, label: str) -> httpx2.Response:
    forged = forge.parse(token)
    if forged is not None:  # the token itself is masked below: show what it claims to be
        ctx.note(f"sent ({label}): header {forged.header}, signature {len(forged.signature)} bytes")
    ctx.remember(token)
    response = await ctx.request(
        ctx.target.protected.method,
        ctx.target.protected.path,
        headers={"Authorization": f"Bearer {token}"},
    )
    return ctx.cite(response, label)


def _refused(response: httpx2.Response) -> bool:
    return 400 <= response.status_code < 500


async def _all_refused(ctx: Context, forgeries: list[tuple[str, str]], what: str) -> Verdict:
    for token, label in forgeries:
        response = await _send(ctx, token, label)
        if not _refused(response):
            effect = "accepted" if accepted(response) else f"crashed the app ({response.status_code})"
            return failed(f"{label}: {effect}")
    return passed(f"{what}: refused")


def _weak_secret(token: forge.Jwt, extra: tuple[str, ...] | list[str] = ()) -> str | None:
    if not token.algorithm.startswith("HS"):
        return None
    candidate: str
    for candidate in (*forge.WEAK_SECRETS, *extra):
        if forge.hmac_matches(token, candidate.encode()):
            return candidate
    return None


def _signer(ctx: Context, token: forge.Jwt) -> Sign:
    """The app's own signing key, through Target.sign or a weak secret the audit guessed."""
    if ctx.target.sign is not None:
        return ctx.target.sign
    guessed = _weak_secret(token, list(ctx.target.extra_weak_secrets))
    if guessed is not None:
        ctx.note("signing with the guessed secret (see jwt.weak_secret)")
        return lambda claims, header: forge.hmac_signed(header, claims, guessed.encode(), token.algorithm)
    raise NotApplicable("the audit cannot sign tokens with the app's key: set Target.sign")


@probe(
    "jwt.alg_none",
    "A token with alg 'none' and no signature is refused",
    "checklist: never none",
    "ASVS 5.0 9.1.2",
    "RFC 8725 §3.1",
)
async def alg_none(ctx: Context) -> Verdict:
    _, token = await _token(ctx)
    forgeries = [
        (forge.unsigned({**token.header, "alg": alg}, token.claims), f"alg {alg!r}, no signature")
        for alg in ("none", "None", "NONE")
    ]
    return await _all_refused(ctx, forgeries, "unsigned tokens")


@probe(
    "jwt.tampered_claims",
    "A token whose claims were edited after signing is refused",
    "ASVS 5.0 9.1.1",
)
async def tampered_claims(ctx: Context) -> Verdict:
    auth, token = await _token(ctx)
    head, _, signature = (auth.access_token or "").split(".")
    edited = {**token.claims, "sub": "1" if token.claims.get("sub") != "1" else "2", "role": "admin"}
    payload = forge.b64url(json.dumps(edited).encode())
    return await _all_refused(ctx, [(f"{head}.{payload}.{signature}", "sub and role edited, old signature")], "edited claims")


async def _published_key(ctx: Context) -> dict[str, Any] | None:
    for path in JWKS_PATHS:
        response = await ctx.request("GET", path)
        if not response.is_success:
            continue
        try:
            document = response.json()
        except ValueError:
            continue
        if path.endswith("openid-configuration") and isinstance(document.get("jwks_uri"), str):
            response = await ctx.request("GET", document["jwks_uri"])
            document = response.json() if response.is_success else {}
        for key in document.get("keys", []) if isinstance(document, dict) else []:
            if isinstance(key, dict) and key.get("kty") == "RSA":
                ctx.cite(response, "the app's published keys")
                return key
    return None


@probe(
    "jwt.alg_confusion",
    "A token HMAC-signed with the app's RSA public key is refused",
    "checklist: algorithm confusion",
    "ASVS 5.0 9.1.2",
    "RFC 8725 §3.1",
)
async def alg_confusion(ctx: Context) -> Verdict:
    _, token = await _token(ctx)
    require(
        not token.algorithm.startswith("HS"),
        f"the app signs with {token.algorithm}: there is no public key to confuse",
    )
    key = await _published_key(ctx)
    require(key, f"no RSA key published at {', '.join(JWKS_PATHS)}")
    assert key is not None
    forgeries = [
        (forge.hmac_signed(token.header, token.claims, pem), f"HS256 keyed with the public key ({variant})")
        for pem, variant in zip(forge.public_pem_variants(key), ("SPKI PEM", "PEM, no newline", "PKCS#1 PEM"), strict=True)
    ]
    return await _all_refused(ctx, forgeries, "HS256 tokens keyed with the public key")


@probe(
    "jwt.jwk_header",
    "A token carrying its own key in a 'jwk' header is refused",
    "checklist: jwk header injection",
    "ASVS 5.0 9.1.3",
)
async def jwk_header(ctx: Context) -> Verdict:
    _, token = await _token(ctx)
    header = {**token.header, "jwk": forge.attacker_jwk(), "kid": "audit-attacker"}
    return await _all_refused(ctx, [(forge.rsa_signed(header, token.claims), "signed with the key in its own jwk header")], "self-keyed tokens")


@probe(
    "jwt.jku_header",
    "A token pointing at an attacker's key set ('jku') is refused",
    "checklist: jku header injection",
    "ASVS 5.0 9.1.3",
)
async def jku_header(ctx: Context) -> Verdict:
    _, token = await _token(ctx)
    forge.ATTACKER_SITE[forge.ATTACKER_JKU] = {"keys": [forge.attacker_jwk()]}
    header = {**token.header, "jku": forge.ATTACKER_JKU, "kid": "audit-attacker"}
    return await _all_refused(ctx, [(forge.rsa_signed(header, token.claims), f"jku {forge.ATTACKER_JKU}")], "tokens with a foreign jku")


@probe(
    "jwt.kid_injection",
    "A 'kid' header used as a file path or SQL is refused",
    "checklist: kid header injection",
    "RFC 8725 §3.10",
)
async def kid_injection(ctx: Context) -> Verdict:
    _, token = await _token(ctx)
    forgeries = [
        (forge.hmac_signed({**token.header, "kid": "../../../../../../../dev/null"}, token.claims, b""), "kid = /dev/null by path traversal, empty HMAC key"),
        (forge.hmac_signed({**token.header, "kid": "x' UNION SELECT 'audit-key' -- "}, token.claims, b"audit-key"), "kid = SQL injection returning a chosen key"),
    ]
    return await _all_refused(ctx, forgeries, "kid injections")


@probe(
    "jwt.weak_secret",
    "The HMAC secret is not a well-known or guessable key",
    "checklist: HS256 secret ≥ 256 bits",
    "RFC 8725 §3.5",
)
async def weak_secret(ctx: Context) -> Verdict:
    _, token = await _token(ctx)
    require(token.algorithm.startswith("HS"), f"the app signs with {token.algorithm}, not HMAC")
    guessed = _weak_secret(token, list(ctx.target.extra_weak_secrets))
    tried = len(forge.WEAK_SECRETS) + len(ctx.target.extra_weak_secrets)
    if guessed is not None:
        source = forge.WEAK_SECRETS.get(guessed, "Target.extra_weak_secrets")
        shown = guessed[:3] + "…" if len(guessed) > 3 else "…"
        return failed(
            f"the token verifies with {source} ({shown}, {len(guessed)} characters):"
            " anyone who read the same page can mint tokens for any user"
        )
    return passed(f"none of {tried} well-known secrets verifies the signature")


@probe(
    "jwt.exp_present",
    "Access tokens carry an expiry (exp)",
    "ASVS 5.0 9.2.1",
)
async def exp_present(ctx: Context) -> Verdict:
    _, token = await _token(ctx)
    exp = token.claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return failed("the token has no numeric exp: it never expires")
    return passed(f"exp = {exp}")


@probe(
    "jwt.lifetime",
    "Access tokens live at most 15 minutes",
    "checklist: access tokens ≤ 15 min",
)
async def lifetime(ctx: Context) -> Verdict:
    _, token = await _token(ctx)
    exp, iat = token.claims.get("exp"), token.claims.get("iat")
    require(isinstance(exp, int | float), "the token has no exp (see jwt.exp_present)")
    issued = iat if isinstance(iat, int | float) else (ctx.target.clock.time() if ctx.target.clock else time.time())
    seconds = float(exp) - float(issued)  # type: ignore[arg-type]
    ctx.note(f"exp - iat = {seconds:.0f} s")
    if seconds > MAX_ACCESS_LIFETIME:
        return failed(f"access tokens live {seconds / 60:.0f} min (limit: 15 min): a stolen one works that long")
    return passed(f"{seconds / 60:.0f} min")


def _times(token: forge.Jwt) -> float:
    iat = token.claims.get("iat")
    return float(iat) if isinstance(iat, int | float) else time.time()


@probe(
    "jwt.expired_refused",
    "An expired token is refused",
    "ASVS 5.0 9.2.1",
    order=800,  # moves the clock: after the probes that rely on long-lived credentials
)
async def expired_refused(ctx: Context) -> Verdict:
    auth, token = await _token(ctx)
    if ctx.target.sign is None and ctx.target.clock is not None:
        exp = token.claims.get("exp")
        require(isinstance(exp, int | float), "the token has no exp (see jwt.exp_present)")
        ctx.target.clock.advance(seconds=float(exp) - ctx.target.clock.time() + 61)  # type: ignore[arg-type]
        response = ctx.cite(await ctx.request(ctx.target.protected.method, ctx.target.protected.path, auth=auth), "the token 61 s after its exp (clock moved)")
        if accepted(response):
            return failed("the token still works 61 s after it expired")
        return passed(f"refused after exp ({response.status_code})")
    sign = _signer(ctx, token)
    now = _times(token)
    claims = {**token.claims, "iat": int(now) - 7200, "exp": int(now) - 3600}
    return await _all_refused(ctx, [(sign(claims, token.header), "a validly signed token that expired an hour ago")], "expired tokens")


@probe(
    "jwt.nbf_refused",
    "A token not valid yet (nbf in the future) is refused",
    "ASVS 5.0 9.2.1",
)
async def nbf_refused(ctx: Context) -> Verdict:
    _, token = await _token(ctx)
    sign = _signer(ctx, token)
    now = _times(token)
    claims = {**token.claims, "nbf": int(now) + 3600, "exp": int(now) + 4000}
    return await _all_refused(ctx, [(sign(claims, token.header), "a validly signed token with nbf an hour ahead")], "tokens not valid yet")


@probe(
    "jwt.aud_checked",
    "A token for another audience is refused",
    "ASVS 5.0 9.2.3",
    "RFC 8725 §3.9",
)
async def aud_checked(ctx: Context) -> Verdict:
    _, token = await _token(ctx)
    sign = _signer(ctx, token)
    claims = {**token.claims, "aud": "https://another-service.example"}
    return await _all_refused(ctx, [(sign(claims, token.header), "a validly signed token for another audience")], "foreign audiences")


@probe(
    "jwt.iss_checked",
    "A token from another issuer is refused",
    "RFC 8725 §3.8",
)
async def iss_checked(ctx: Context) -> Verdict:
    _, token = await _token(ctx)
    sign = _signer(ctx, token)
    claims = {**token.claims, "iss": "https://attacker.example"}
    return await _all_refused(ctx, [(sign(claims, token.header), "a validly signed token from another issuer")], "foreign issuers")


@probe(
    "jwt.typ_explicit",
    "Access tokens are explicitly typed (typ at+jwt, not the generic JWT)",
    "ASVS 5.0 9.2.2",
    "RFC 8725 §3.11",
    "RFC 9068 §2.1",
)
async def typ_explicit(ctx: Context) -> Verdict:
    _, token = await _token(ctx)
    typ = str(token.header.get("typ", ""))
    if typ.lower() in ("", "jwt"):
        return failed(f"typ is {typ or '(absent)'}: nothing tells an access token from any other JWT")
    return passed(f"typ = {typ}")


@probe(
    "jwt.typ_enforced",
    "A validly signed token of another type is refused as an access token",
    "ASVS 5.0 9.2.2",
    "RFC 8725 §3.11",
)
async def typ_enforced(ctx: Context) -> Verdict:
    _, token = await _token(ctx)
    typ = str(token.header.get("typ", ""))
    require(typ.lower() not in ("", "jwt"), "the app's tokens carry no explicit type (see jwt.typ_explicit)")
    sign = _signer(ctx, token)
    forgeries = [(sign(token.claims, {**token.header, "typ": other}), f"typ {other!r}") for other in ("JWT", "refresh+jwt")]
    return await _all_refused(ctx, forgeries, "other token types")


@probe(
    "jwt.refresh_not_access",
    "A refresh token is refused where an access token is expected",
    "checklist: token type checked; refresh used as access",
    "ASVS 5.0 9.2.2",
)
async def refresh_not_access(ctx: Context) -> Verdict:
    require(ctx.target.refresh, "the target names no refresh route (Target.refresh)")
    auth = await ctx.sign_in("user")
    require(auth.refresh_token, "login handed out no refresh token where Target.refresh says")
    return await _all_refused(ctx, [(auth.refresh_token or "", "the refresh token as a bearer token")], "refresh tokens")
