"""Fixtures for the identity provider tests: a provider with the course's users and clients."""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import jwt
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc.jwk import RSAKey

from authcourse.client import asgi_client
from authcourse.clock import FrozenClock
from authcourse.idp import IdentityProvider, sign_in

ISSUER = "https://idp.test"
CALLBACK = "https://clouddocs.test/auth/callback"
SPA_CALLBACK = "https://clouddocs.test/spa/callback"
SIGNED_OUT = "https://clouddocs.test/signed-out"
WEB_SECRET = "web-secret-0123456789"
SYNC_SECRET = "sync-secret-0123456789"
API = "https://api.clouddocs.test"
API_SECRET = "api-secret-0123456789"
DEMO_SECRET = "demo-secret-0123456789"
PASSWORD = "correct horse battery staple"


# Generating an RSA key costs ~80 ms and dominated this suite's run time. Tests draw keys
# round-robin from a pool instead: each of the first POOL_SIZE draws generates a real key,
# later draws reuse them. No test uses more than a few keys, so the keys within one test
# (two providers, a rotation) are always distinct, which is all the tests rely on.
POOL_SIZE = 8
_key_pool: list[RSAKey] = []
_draws = itertools.count()
_generate_key = RSAKey.generate_key


def _pooled_key(
    key_size: int, parameters: Any = None, private: bool = True, auto_kid: bool = False
) -> RSAKey:
    index = next(_draws) % POOL_SIZE
    if index == len(_key_pool):
        _key_pool.append(
            _generate_key(key_size, parameters=parameters, private=private, auto_kid=auto_kid)
        )
    return _key_pool[index]


@pytest.fixture(autouse=True)
def _reuse_signing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("authcourse.idp.keys.RSAKey.generate_key", _pooled_key)


def make_provider(
    issuer: str = ISSUER, clock: FrozenClock | None = None, **options: Any
) -> IdentityProvider:
    """A provider set up like the course's: alice, a web app, an SPA, a back-end service,
    the CloudDocs API as a resource server, and the no-PKCE demonstration client."""
    idp = IdentityProvider(issuer=issuer, clock=clock, **options)
    idp.add_resource_server(API, client_id="docs-api", secret=API_SECRET)
    idp.add_user(
        "alice",
        PASSWORD,
        email="alice@example.com",
        email_verified=True,
        name="Alice Liddell",
        picture="https://example.com/alice.png",
        hd="example.com",
    )
    idp.add_client(
        "clouddocs-web",
        secret=WEB_SECRET,
        redirect_uris=[CALLBACK],
        grant_types=["authorization_code", "refresh_token"],
        scope="openid profile email",
        resources=[API],
        post_logout_redirect_uris=[SIGNED_OUT],
    )
    idp.add_client("clouddocs-spa", redirect_uris=[SPA_CALLBACK], resources=[API])
    idp.add_client(
        "sync-service",
        secret=SYNC_SECRET,
        grant_types=["client_credentials"],
        scope="docs:read",
        default_resource=API,
    )
    # Chapter 5's stolen-code demonstration: the only client allowed to skip PKCE.
    idp.add_client(
        "legacy-web",
        secret=DEMO_SECRET,
        redirect_uris=[CALLBACK],
        pkce_required=False,
        insecure_demo=True,
    )
    return idp


@pytest.fixture
def idp() -> IdentityProvider:
    return make_provider()


@pytest.fixture
async def user_agent(idp: IdentityProvider) -> AsyncIterator[httpx2.AsyncClient]:
    """The user's browser, pointed at the provider."""
    async with asgi_client(idp.app, base_url=idp.issuer) as client:
        yield client


def relying_party(idp: IdentityProvider, client_id: str, **kwargs: Any) -> AsyncOAuth2Client:
    """Authlib's own OAuth client, talking to the provider in-process."""
    return AsyncOAuth2Client(
        client_id,
        code_challenge_method="S256",
        transport=httpx2.ASGITransport(app=idp.app),
        **kwargs,
    )


def web_client(idp: IdentityProvider) -> AsyncOAuth2Client:
    return relying_party(
        idp,
        "clouddocs-web",
        client_secret=WEB_SECRET,
        redirect_uri=CALLBACK,
        scope="openid profile email",
    )


def demo_client(idp: IdentityProvider) -> AsyncOAuth2Client:
    """The client registered with ``pkce_required=False, insecure_demo=True``."""
    return relying_party(
        idp, "legacy-web", client_secret=DEMO_SECRET, redirect_uri=CALLBACK, scope="openid"
    )


def spa_client(idp: IdentityProvider) -> AsyncOAuth2Client:
    return relying_party(
        idp,
        "clouddocs-spa",
        token_endpoint_auth_method="none",
        redirect_uri=SPA_CALLBACK,
        scope="openid profile email",
    )


@dataclass
class Authorization:
    """What a relying party holds after the user signed in: the callback URL and its secrets."""

    callback_url: str
    state: str
    code_verifier: str | None
    nonce: str

    @property
    def code(self) -> str:
        return parse_qs(urlsplit(self.callback_url).query)["code"][0]


async def authorize(
    user_agent: httpx2.AsyncClient,
    rp: AsyncOAuth2Client,
    *,
    pkce: bool = True,
    password: str = PASSWORD,
    **parameters: str,
) -> Authorization:
    """Run the front-channel half of the code flow: authorization URL, login, consent,
    callback. ``parameters`` go into the authorization request (``resource=...``, say)."""
    verifier = generate_token(48) if pkce else None
    nonce = generate_token(16)
    url, state = rp.create_authorization_url(
        ISSUER + "/authorize", code_verifier=verifier, nonce=nonce, **parameters
    )
    response = await sign_in(user_agent, url, username="alice", password=password)
    # 303 after a form post; 302 when the provider's session and a remembered consent
    # let the request straight through.
    assert response.status_code in (302, 303), response.text
    assert "code=" in response.headers["location"]
    return Authorization(response.headers["location"], state, verifier, nonce)


async def exchange(rp: AsyncOAuth2Client, authorization: Authorization) -> dict[str, Any]:
    extra = {"code_verifier": authorization.code_verifier} if authorization.code_verifier else {}
    # Passing ``state`` makes Authlib check it against the callback (CSRF defence).
    token = await rp.fetch_token(
        ISSUER + "/token",
        authorization_response=authorization.callback_url,
        state=authorization.state,
        **extra,
    )
    return dict(token)


async def fetch_jwks(idp: IdentityProvider) -> jwt.PyJWKSet:
    async with asgi_client(idp.app, base_url=idp.issuer) as client:
        response = await client.get("/jwks")
    return jwt.PyJWKSet.from_dict(response.json())


def verify_id_token(
    id_token: str,
    jwks: jwt.PyJWKSet,
    *,
    issuer: str,
    audience: str,
    nonce: str,
    access_token: str,
) -> dict[str, Any]:
    """Validate an ID token the way a relying party must (OpenID Connect Core §3.1.3.7)."""
    kid = jwt.get_unverified_header(id_token)["kid"]
    claims: dict[str, Any] = jwt.decode(
        id_token,
        jwks[kid].key,
        algorithms=["RS256"],
        audience=audience,
        issuer=issuer,
        options={"require": ["iss", "aud", "exp", "iat", "sub", "auth_time", "nonce", "at_hash"]},
    )
    assert claims["nonce"] == nonce
    digest = hashlib.sha256(access_token.encode()).digest()
    expected_at_hash = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert claims["at_hash"] == expected_at_hash
    return claims


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def code_grant(authorization: Authorization) -> dict[str, str]:
    """The /token form that redeems ``authorization``'s code, for tests sending it by hand."""
    return {
        "grant_type": "authorization_code",
        "code": authorization.code,
        "redirect_uri": CALLBACK,
        "code_verifier": authorization.code_verifier or "",
    }
