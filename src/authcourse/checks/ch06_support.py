"""Setup for the chapter 6 checks: signing keys, ID tokens made to order, databases, an IdP."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from authcourse.checks import CheckFailed
from clouddocs.db import Database, Tenant

ISSUER = "https://idp.test"
CLIENT_ID = "clouddocs-web"
NONCE = "n-0S6_WzA2Mj"
ACCESS_TOKEN = "an-access-token-from-the-token-endpoint"
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
KID = "key-2026"


@functools.cache
def signing_key(name: str = KID) -> rsa.RSAPrivateKey:
    """An RSA key per name, generated once per process (generation costs ~50-100 ms)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(name: str = KID) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(signing_key(name).public_key(), as_dict=True)
    return {**jwk, "kid": name, "use": "sig", "alg": "RS256"}


def jwks(*names: str) -> dict[str, Any]:
    return {"keys": [public_jwk(name) for name in names or (KID,)]}


def at_hash_of(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def claims(**changes: Any) -> dict[str, Any]:
    """Valid ID token claims for CLIENT_ID at NOW; ``name=None`` removes a claim."""
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "110169484474386276334",
        "aud": CLIENT_ID,
        "iat": int(NOW) - 10,
        "exp": int(NOW) + 3600,
        "nonce": NONCE,
        "at_hash": at_hash_of(ACCESS_TOKEN),
        "email": "ada@acme.test",
        "email_verified": True,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def id_token(key_name: str = KID, *, headers: Mapping[str, Any] | None = None, **changes: Any) -> str:
    """An RS256 ID token signed with ``key_name``'s key, ``kid`` = the key's name."""
    header = {"kid": key_name, **(headers or {})}
    return jwt.encode(claims(**changes), signing_key(key_name), algorithm="RS256", headers=header)


def calling(tried: str, call: Callable[[], Any]) -> Any:
    """``call()``; a crash (other than an unfinished stub) becomes a plain failure."""
    try:
        return call()
    except (NotImplementedError, CheckFailed):
        raise
    except Exception as error:
        raise CheckFailed(tried, "it to finish", f"{type(error).__name__}: {error}") from error


async def awaiting(tried: str, awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
    except (NotImplementedError, CheckFailed):
        raise
    except Exception as error:
        raise CheckFailed(tried, "it to finish", f"{type(error).__name__}: {error}") from error


@contextlib.asynccontextmanager
async def fresh_database(on_disk: bool = False) -> AsyncIterator[tuple[Database, int]]:
    """An empty CloudDocs database with one tenant; on disk for the concurrency cases
    (in-memory SQLite is one shared connection, so it cannot show a race)."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'ch06.db'}" if on_disk else None
        db = Database(url) if url else Database()
        await db.create_all()
        async with db.sessions() as session:
            tenant = Tenant(name="Acme")
            session.add(tenant)
            await session.commit()
            tenant_id = tenant.id
        try:
            yield db, tenant_id
        finally:
            await db.dispose()


class CountingFetch:
    """A JWKS download that counts its calls and yields to the event loop like real I/O."""

    def __init__(self, *names: str) -> None:
        self.names = list(names or (KID,))
        self.calls = 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        await asyncio.sleep(0.001)
        return jwks(*self.names)


MIXUP_CALLBACK = "https://clouddocs.test/auth/callback"


async def mix_up_scenario(mix_up_url: Callable[..., str]) -> None:
    """Run the issuer mix-up with the learner's ``mix_up_url`` and a naive client.

    CloudDocs (a public client, PKCE) started a login at the evil provider. The attacker
    redirects the user to the honest one instead; the honest code comes back to CloudDocs,
    whose naive client trusts its session and sends code + verifier to the evil token
    endpoint. The case passes when the attacker can redeem that code for Alice's tokens.
    """
    from urllib.parse import parse_qs, urlencode, urlsplit

    from authcourse.client import browser
    from authcourse.idp import IdentityProvider, sign_in
    from clouddocs.oidc import new_pkce_pair

    idp = IdentityProvider(ISSUER)
    idp.add_user("alice", "alice-password-0123", email="alice@acme.test", email_verified=True)
    idp.add_client("clouddocs-spa", redirect_uris=[MIXUP_CALLBACK], first_party=True)
    verifier, challenge = new_pkce_pair()
    evil_login = "https://evil.test/authorize?" + urlencode({
        "response_type": "code", "client_id": "clouddocs-at-evil", "redirect_uri": MIXUP_CALLBACK,
        "scope": "openid email", "state": "s-123", "nonce": "n-123",
        "code_challenge": challenge, "code_challenge_method": "S256"})
    tried = "your mix_up_url(CloudDocs' login URL for evil.test)"
    url = calling(tried, lambda: mix_up_url(
        evil_login, honest_authorization_endpoint=ISSUER + "/authorize",
        honest_client_id="clouddocs-spa"))
    if not isinstance(url, str) or not url.startswith(ISSUER + "/authorize?"):
        raise CheckFailed(tried, "a URL at https://idp.test/authorize", repr(url)[:80])
    async with browser({ISSUER: idp.app}) as http:
        answer = await sign_in(http, url, username="alice", password="alice-password-0123")
        location = answer.headers.get("location", "")
        returned = parse_qs(urlsplit(location).query)
        if "code" not in returned or returned.get("state") != ["s-123"]:
            raise CheckFailed("Alice signing in at idp.test with your URL",
                              "a redirect to CloudDocs' callback with a code and state s-123",
                              f"status {answer.status_code}, {location[:80] or 'no redirect'}")
        # The naive client now posts code + verifier to evil.test's token endpoint; the
        # attacker replays them at idp.test.
        stolen = {"grant_type": "authorization_code", "code": returned["code"][0],
                  "redirect_uri": MIXUP_CALLBACK, "code_verifier": verifier,
                  "client_id": "clouddocs-spa"}
        redeemed = await http.post(ISSUER + "/token", data=stolen)
    if redeemed.status_code != 200 or "id_token" not in redeemed.json():
        raise CheckFailed("the attacker redeeming the code it received at idp.test",
                          "Alice's tokens", f"status {redeemed.status_code}")


def plain(ns: Mapping[str, Any], name: str) -> Callable[..., Any]:
    """The learner's ``name``, called as the plain function it must be: an ``async def``
    is answered in plain words, and its coroutine is closed (no "never awaited" warning)."""
    import inspect

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


def _must_be_plain(name: str) -> CheckFailed:
    return CheckFailed(f"calling your `{name}`",
                       f"`def {name}(...)`: this must be a plain function (no `async`)",
                       f"`async def {name}`")


def asynchronous(ns: Mapping[str, Any], name: str) -> Callable[..., Awaitable[Any]]:
    """The learner's ``name``, which must be an ``async def`` (it talks to the database)."""
    import inspect

    function = ns[name]

    async def call(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        if not inspect.isawaitable(result):
            raise CheckFailed(f"calling your `{name}`",
                              f"`async def {name}(...)`: it awaits the database", "a plain `def`")
        return await result

    return call
