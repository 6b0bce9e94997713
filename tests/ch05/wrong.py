"""Known-wrong implementations for chapter 5's exercises: each must lose marks.

Each mirrors the solution with one mistake from the issue's list: a verifier from
``random``, a ``plain`` challenge, ``state`` not compared or compared with ``==``, a token
cached past expiry, N concurrent callers causing N token requests, scopes matched by
substring, ``aud`` not checked — and a few more the task texts name.
"""

import asyncio
import base64
import hashlib
import hmac
import random
import string
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import jwt
from fastapi import Depends, HTTPException
from fastapi.security import SecurityScopes

from authcourse.clock import Clock
from clouddocs.oauth_client import LoginFailed, PendingLogin
from clouddocs.security import Principal, bearer_auth, bearer_challenge

# -- 05.1


def verifier_from_random() -> str:
    alphabet = string.ascii_letters + string.digits + "-._~"
    return "".join(random.choice(alphabet) for _ in range(64))


def plain_challenge(verifier: str) -> str:
    return verifier


# -- 05.2


def url_without_method(
    endpoint: str, *, client_id: str, redirect_uri: str, scope: str, state: str,
    code_challenge: str,
) -> str:
    from urllib.parse import urlencode

    return endpoint + "?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": scope, "state": state, "code_challenge": code_challenge})


def url_by_concatenation(
    endpoint: str, *, client_id: str, redirect_uri: str, scope: str, state: str,
    code_challenge: str,
) -> str:
    return (f"{endpoint}?response_type=code&client_id={client_id}&redirect_uri={redirect_uri}"
            f"&scope={scope.replace(' ', '+')}&state={state}&code_challenge={code_challenge}"
            "&code_challenge_method=S256")


# -- 05.3


async def _redeem(
    provider: httpx2.AsyncClient, pending: PendingLogin, code: str, client_id: str,
    client_secret: str,
) -> dict[str, Any]:
    response = await provider.post("/token", auth=(client_id, client_secret), data={
        "grant_type": "authorization_code", "code": code,
        "redirect_uri": pending.redirect_uri, "code_verifier": pending.code_verifier})
    if response.status_code != 200:
        raise LoginFailed("refused")
    return dict(response.json())


async def finish_without_state(
    provider: httpx2.AsyncClient, pending: PendingLogin, callback_url: str, *,
    client_id: str, client_secret: str,
) -> dict[str, Any]:
    query = parse_qs(urlsplit(callback_url).query)
    if "error" in query or "code" not in query:
        raise LoginFailed("no code")
    return await _redeem(provider, pending, query["code"][0], client_id, client_secret)


async def finish_with_equals(
    provider: httpx2.AsyncClient, pending: PendingLogin, callback_url: str, *,
    client_id: str, client_secret: str,
) -> dict[str, Any]:
    query = parse_qs(urlsplit(callback_url).query)
    if query.get("state") != [pending.state]:
        raise LoginFailed("state")
    if "error" in query or "code" not in query:
        raise LoginFailed("no code")
    return await _redeem(provider, pending, query["code"][0], client_id, client_secret)


async def finish_only_if_state_present(
    provider: httpx2.AsyncClient, pending: PendingLogin, callback_url: str, *,
    client_id: str, client_secret: str,
) -> dict[str, Any]:
    """Compares the state only when the callback has one; takes the last of several."""
    query = parse_qs(urlsplit(callback_url).query)
    if "state" in query and not hmac.compare_digest(query["state"][-1], pending.state):
        raise LoginFailed("state")
    if "error" in query or "code" not in query:
        raise LoginFailed("no code")
    return await _redeem(provider, pending, query["code"][0], client_id, client_secret)


async def finish_ignoring_errors(
    provider: httpx2.AsyncClient, pending: PendingLogin, callback_url: str, *,
    client_id: str, client_secret: str,
) -> dict[str, Any]:
    query = parse_qs(urlsplit(callback_url).query, keep_blank_values=True)
    states = query.get("state", [])
    if len(states) != 1 or not hmac.compare_digest(states[0], pending.state):
        raise LoginFailed("state")
    return await _redeem(provider, pending, query.get("code", [""])[0], client_id, client_secret)


async def finish_trusting_any_answer(
    provider: httpx2.AsyncClient, pending: PendingLogin, callback_url: str, *,
    client_id: str, client_secret: str,
) -> dict[str, Any]:
    """Checks the state, but returns whatever the token endpoint answered, even an error."""
    query = parse_qs(urlsplit(callback_url).query)
    states = query.get("state", [])
    if len(states) != 1 or not hmac.compare_digest(states[0], pending.state):
        raise LoginFailed("state")
    if "error" in query or "code" not in query:
        raise LoginFailed("no code")
    response = await provider.post("/token", auth=(client_id, client_secret), data={
        "grant_type": "authorization_code", "code": query["code"][0],
        "redirect_uri": pending.redirect_uri, "code_verifier": pending.code_verifier})
    return dict(response.json())


# -- 05.4

FetchToken = Callable[[], Awaitable[dict[str, Any]]]


class CacheWithoutSkew:
    """Keeps the token until its exact expiry (and beyond: it never checks)."""

    def __init__(self, fetch: FetchToken, clock: Clock, skew: float = 30.0) -> None:
        self._fetch, self._token = fetch, None
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        async with self._lock:
            if self._token is None:
                self._token = str((await self._fetch())["access_token"])
            return self._token

    def invalidate(self, token: str) -> None:
        if self._token is not None and hmac.compare_digest(self._token, token):
            self._token = None


class CacheWithoutLock:
    """Right expiry, but every caller that finds the cache empty fetches."""

    def __init__(self, fetch: FetchToken, clock: Clock, skew: float = 30.0) -> None:
        self._fetch, self._clock, self._skew = fetch, clock, skew
        self._token: str | None = None
        self._expires_at = 0.0

    async def get(self) -> str:
        if self._token is not None and self._clock.time() < self._expires_at - self._skew:
            return self._token
        answer = await self._fetch()
        self._token = str(answer["access_token"])
        self._expires_at = self._clock.time() + float(answer["expires_in"])
        return self._token

    def invalidate(self, token: str) -> None:
        if self._token is not None and hmac.compare_digest(self._token, token):
            self._token = None


class CacheLockWithoutSecondLook(CacheWithoutLock):
    """Takes a lock, but fetches again after waiting for it."""

    def __init__(self, fetch: FetchToken, clock: Clock, skew: float = 30.0) -> None:
        super().__init__(fetch, clock, skew)
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        if self._token is not None and self._clock.time() < self._expires_at - self._skew:
            return self._token
        async with self._lock:
            answer = await self._fetch()
            self._token = str(answer["access_token"])
            self._expires_at = self._clock.time() + float(answer["expires_in"])
            return self._token


class CacheIgnoringInvalidate(CacheLockWithoutSecondLook):
    def invalidate(self, token: str) -> None:
        return None


class CacheForgettingAnyToken(CacheWithoutLock):
    """invalidate() drops whatever is cached, even when the refused token is an older one."""

    def __init__(self, fetch: FetchToken, clock: Clock, skew: float = 30.0) -> None:
        super().__init__(fetch, clock, skew)
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        async with self._lock:
            return await super().get()

    def invalidate(self, token: str) -> None:
        self._token = None


# -- 05.5

Verifier = Callable[[str], Awaitable[Principal | None]]


def _guard_factory(
    name: str, allowed: Callable[[list[str], frozenset[str]], bool], status: int = 403,
    with_challenge: bool = True,
) -> Callable[[Verifier], Callable[..., Awaitable[Principal]]]:
    def make(verify: Verifier) -> Callable[..., Awaitable[Principal]]:
        authenticate = bearer_auth(verify)

        async def guard(
            security_scopes: SecurityScopes,
            caller: Annotated[Principal, Depends(authenticate)],
        ) -> Principal:
            if not allowed(security_scopes.scopes, caller.scopes):
                headers = ({"WWW-Authenticate": bearer_challenge(
                    "insufficient_scope", scope=security_scopes.scope_str)}
                    if with_challenge else None)
                raise HTTPException(status, "insufficient scope", headers=headers)
            return caller

        return guard

    make.__name__ = make.__qualname__ = name  # tests name each wrong implementation
    return make


scope_by_substring = _guard_factory(
    "scope_by_substring", lambda needed, held: all(scope in " ".join(sorted(held)) for scope in needed))
scope_any_of = _guard_factory("scope_any_of", lambda needed, held: any(scope in held for scope in needed))
scope_401 = _guard_factory("scope_401", lambda needed, held: all(s in held for s in needed), status=401)
scope_403_without_challenge = _guard_factory(
    "scope_403_without_challenge", lambda needed, held: all(s in held for s in needed), with_challenge=False)


# -- 05.6

_REQUIRED = ["iss", "aud", "exp", "iat", "sub", "client_id", "jti"]


def _decode(
    token: str, jwks: jwt.PyJWKSet, *, issuer: str, audience: str, now: float,
    check_iss: bool = True, check_typ: bool = True, check_aud: bool = True, check_now: bool = True,
    required: list[str] | None = None, verify_signature: bool = True,
) -> dict[str, Any] | None:
    header = jwt.get_unverified_header(token)
    if check_typ and str(header.get("typ", "")).lower() != "at+jwt":
        return None
    options: dict[str, Any] = {
        "require": _REQUIRED if required is None else required, "verify_aud": check_aud,
        "verify_exp": not check_now, "verify_iat": False, "verify_signature": verify_signature,
    }
    claims = jwt.decode(token, jwks[str(header.get("kid", ""))].key, algorithms=["RS256"],
                        issuer=issuer if check_iss else None,
                        audience=audience if check_aud else None, options=options)
    if check_now and now >= claims["exp"]:
        return None
    return dict(claims)


def _guarded(name: str, **flags: Any) -> Callable[..., dict[str, Any] | None]:
    def check_access_token(token: str, jwks: jwt.PyJWKSet, *, issuer: str, audience: str,
                           now: float) -> dict[str, Any] | None:
        try:
            return _decode(token, jwks, issuer=issuer, audience=audience, now=now, **flags)
        except (jwt.PyJWTError, KeyError):
            return None

    check_access_token.__name__ = check_access_token.__qualname__ = name
    return check_access_token


access_without_aud = _guarded("access_without_aud", check_aud=False)
access_without_iss = _guarded("access_without_iss", check_iss=False)
access_without_typ = _guarded("access_without_typ", check_typ=False)
access_with_wall_clock = _guarded("access_with_wall_clock", check_now=False)
access_without_required_claims = _guarded("access_without_required_claims", required=[])
access_without_signature = _guarded("access_without_signature", verify_signature=False)


def access_raising_on_junk(
    token: str, jwks: jwt.PyJWKSet, *, issuer: str, audience: str, now: float
) -> dict[str, Any] | None:
    try:
        return _decode(token, jwks, issuer=issuer, audience=audience, now=now)
    except jwt.InvalidSignatureError:
        return None


def refuse_every_token(
    token: str, jwks: jwt.PyJWKSet, *, issuer: str, audience: str, now: float
) -> dict[str, Any] | None:
    """The chapter's "refuses everything" verifier: it scores 0, whatever it refuses."""
    return None


_ = base64, hashlib  # imported for symmetry with the solution's imports


async def finish_refusing_every_callback(
    provider: httpx2.AsyncClient, pending: PendingLogin, callback_url: str, *,
    client_id: str, client_secret: str,
) -> dict[str, Any]:
    """The chapter's "refuses everything" callback: safe, and useless."""
    raise LoginFailed("no logins today")


scope_refusing_everyone = _guard_factory("scope_refusing_everyone", lambda needed, held: False)
