"""Setup shared by chapter 5's checks: a provider, signing keys, tokens, spies."""

from __future__ import annotations

import functools
import hmac
import inspect
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from authcourse.checks.core import CheckFailed
from authcourse.client import asgi_client
from authcourse.clock import FrozenClock
from authcourse.idp import IdentityProvider, sign_in

ISSUER = "https://idp.test"
API = "https://api.clouddocs.test"
CALLBACK = "https://clouddocs.test/auth/callback"
CLIENT_ID = "clouddocs-web"
CLIENT_SECRET = "web-secret-0123456789"
PASSWORD = "correct horse battery staple"
KID = "check-key-1"


def make_provider() -> IdentityProvider:
    """A fresh provider: alice, the CloudDocs API, the CloudDocs web client."""
    idp = IdentityProvider(issuer=ISSUER, clock=FrozenClock())
    idp.add_user("alice", PASSWORD, email="alice@example.com", email_verified=True)
    idp.add_resource_server(API, client_id="docs-api", secret="docs-api-secret-0123456789")
    idp.add_client(CLIENT_ID, secret=CLIENT_SECRET, redirect_uris=[CALLBACK],
                   scope="openid docs:read", resources=[API], default_resource=API)
    return idp


async def sign_in_at(idp: IdentityProvider, url: str) -> httpx2.Response:
    """Alice's browser opens ``url`` at the provider, signs in and consents."""
    async with asgi_client(idp.app, base_url=ISSUER) as agent:
        return await sign_in(agent, url, username="alice", password=PASSWORD)


class RecordingProvider:
    """A stand-in token endpoint that records each request and answers with fake tokens."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[httpx2.Request] = []
        self.status = status

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if self.status != 200:
            return httpx2.Response(self.status, json={"error": "invalid_grant"})
        return httpx2.Response(200, json={"access_token": "attacker-session-token",
                                          "token_type": "Bearer", "expires_in": 600})

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self.handle), base_url=ISSUER)


@functools.cache
def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def other_key() -> rsa.RSAPrivateKey:
    return _other_key()


@functools.cache
def _other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks() -> jwt.PyJWKSet:
    """The public half of the checks' signing key, as a JWKS with one ``kid``."""
    public = jwt.algorithms.RSAAlgorithm.to_jwk(_private_key().public_key(), as_dict=True)
    return jwt.PyJWKSet.from_dict({"keys": [{**public, "kid": KID, "alg": "RS256", "use": "sig"}]})


def access_token(
    now: float, *, key: Any = None, header: dict[str, Any] | None = None, drop: str = "",
    algorithm: str = "RS256", **claims: Any,
) -> str:
    """An RFC 9068 access token for the API, with ``claims`` overriding the defaults."""
    body: dict[str, Any] = {
        "iss": ISSUER, "aud": API, "client_id": CLIENT_ID, "sub": "6819684981066687074",
        "scope": "docs:read", "iat": int(now), "exp": int(now) + 600,
        "jti": secrets.token_urlsafe(16),
    }
    body.update(claims)
    body.pop(drop, None)
    headers = {"typ": "at+jwt", "kid": KID, **(header or {})}
    signing_key = key if key is not None else _private_key()
    if algorithm == "none":
        signing_key = None
    return jwt.encode(body, signing_key, algorithm=algorithm, headers=headers)


def wall_clock() -> float:
    return time.time()


@contextmanager
def spy_on_compare_digest(function: Any) -> Iterator[list[int]]:
    """Count calls to hmac.compare_digest / secrets.compare_digest, however imported."""
    calls: list[int] = []
    original = hmac.compare_digest

    def spy(left: Any, right: Any) -> bool:
        calls.append(1)
        return original(left, right)

    namespace: dict[str, Any] = getattr(function, "__globals__", {})
    previous = namespace.get("compare_digest", None)
    had = "compare_digest" in namespace
    hmac.compare_digest = spy
    secrets.compare_digest = spy
    if had:
        namespace["compare_digest"] = spy
    try:
        yield calls
    finally:
        hmac.compare_digest = original
        secrets.compare_digest = original
        if had:
            namespace["compare_digest"] = previous


def plain(ns: Mapping[str, Any], name: str) -> Callable[..., Any]:
    """The learner's ``name`` as a plain function: an ``async def`` is answered in plain
    words, and its coroutine is closed so Python does not warn that it was never awaited."""
    function = ns[name]

    def call(*args: Any, **kwargs: Any) -> Any:
        if inspect.iscoroutinefunction(function):
            raise _must_be_plain(name)
        result = function(*args, **kwargs)
        if inspect.iscoroutine(result):
            result.close()
            raise _must_be_plain(name)
        return result

    return call


def asynchronous(ns: Mapping[str, Any], name: str) -> Callable[..., Any]:
    """The learner's ``name``, which must be an ``async def`` (it makes HTTP requests)."""
    function = ns[name]
    if not inspect.iscoroutinefunction(function):
        raise CheckFailed(f"looking at your `{name}`",
                          f"`async def {name}(...)`: it awaits the provider's answer",
                          "a plain `def`")
    return function  # type: ignore[no-any-return]


def _must_be_plain(name: str) -> CheckFailed:
    return CheckFailed(f"calling your `{name}`",
                       f"`def {name}(...)`: this must be a plain function (no `async`), "
                       "because nothing awaits it", f"`async def {name}`")
