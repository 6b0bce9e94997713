"""The relying party against a provider shaped unlike the course's (written by hand here):
an issuer with a trailing slash, ES256 keys, ``client_secret_post`` only, no RFC 9207 ``iss``,
several audiences with ``azp``, ``email_verified`` as the string "true", no groups."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from authcourse.clock import FrozenClock
from clouddocs.oidc import OIDCError, RelyingParty

pytestmark = pytest.mark.anyio
ISSUER = "https://tenant.example.test/"
CALLBACK = "https://clouddocs.test/auth/callback"


class HandMadeProvider:
    """Discovery, JWKS and a token endpoint; /authorize is played by ``authorize``."""

    def __init__(self, id_token_algorithm: str = "ES256") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.algorithm = id_token_algorithm
        self.codes: dict[str, dict[str, str]] = {}
        self.token_requests: list[dict[str, list[str]]] = []

    def authorize(self, url: str) -> str:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert query["code_challenge_method"] == "S256" and query["response_type"] == "code"
        self.codes["code-1"] = query
        return f"{CALLBACK}?{urlencode({'code': 'code-1', 'state': query['state']})}"

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx2.Response(200, json={
                "issuer": ISSUER, "authorization_endpoint": ISSUER + "authorize",
                "token_endpoint": ISSUER + "oauth/token", "jwks_uri": ISSUER + ".well-known/jwks.json",
                "id_token_signing_alg_values_supported": ["ES256", "HS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"]})
        if path == "/.well-known/jwks.json":
            jwk = {**ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True), "kid": "ec-1",
                   "use": "sig", "alg": "ES256"}
            return httpx2.Response(200, json={"keys": [jwk]})
        if path == "/oauth/token":
            form = parse_qs(request.content.decode())
            self.token_requests.append(form)
            asked = self.codes.pop(form["code"][0], None)
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(form["code_verifier"][0].encode()).digest()).rstrip(b"=").decode()
            if asked is None or form.get("client_secret") != ["s3cret"] or \
                    challenge != asked["code_challenge"]:
                return httpx2.Response(400, json={"error": "invalid_grant"})
            return httpx2.Response(200, json=self.tokens(asked["nonce"]))
        return httpx2.Response(404)

    def tokens(self, nonce: str) -> dict[str, Any]:
        access_token = "opaque-access-token"
        digest = hashlib.sha256(access_token.encode()).digest()[:16]
        claims = {"iss": ISSUER, "sub": "auth0|5f7c", "aud": ["web-client", "https://api.test"],
                  "azp": "web-client", "iat": 1_767_603_600, "exp": 1_767_607_200,
                  "nonce": nonce, "email": "Ada@Example.test", "email_verified": "true",
                  "at_hash": base64.urlsafe_b64encode(digest).rstrip(b"=").decode()}
        if self.algorithm == "HS256":
            id_token = jwt.encode(claims, "s3cret" * 6, algorithm="HS256")
        else:
            id_token = jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": "ec-1"})
        return {"access_token": access_token, "id_token": id_token, "token_type": "bearer",
                "expires_in": 86400}


async def login(provider: HandMadeProvider) -> Any:
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(provider.handle)) as http:
        rp = RelyingParty(issuer=ISSUER, client_id="web-client", client_secret="s3cret",
                          redirect_uri=CALLBACK, http_client=http,
                          clock=FrozenClock(datetime.fromtimestamp(1_767_603_700, UTC)))
        session: dict[str, Any] = {}
        callback = provider.authorize(await rp.start_login(session))
        return await rp.finish_login(callback, session)


async def test_a_differently_shaped_provider_works() -> None:
    provider = HandMadeProvider()
    identity = await login(provider)
    assert identity.issuer == ISSUER and identity.subject == "auth0|5f7c"
    assert identity.email_verified and identity.groups == ()
    (form,) = provider.token_requests
    assert form["client_id"] == ["web-client"] and form["redirect_uri"] == [CALLBACK]
    assert json.dumps(identity.claims["aud"]) == '["web-client", "https://api.test"]'


async def test_hs256_id_tokens_are_refused_even_when_the_provider_offers_them() -> None:
    with pytest.raises(OIDCError, match="HS256"):
        await login(HandMadeProvider(id_token_algorithm="HS256"))
