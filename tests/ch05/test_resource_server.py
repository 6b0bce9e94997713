"""The resource server (``clouddocs.resource_server``) and the machine client's cached token
(``clouddocs.oauth_client.ClientCredentials``), against the in-process provider."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from authcourse.client import asgi_client
from clouddocs.oauth_client import ClientCredentials, revoke
from clouddocs.resource_server import IntrospectedTokens, JwtAccessTokens, create_docs_api

from .conftest import (
    API,
    API_SECRET,
    IDP,
    SYNC_SECRET,
    World,
    client_credentials_token,
    jwt_verifier,
)

pytestmark = pytest.mark.anyio


def _forge(token: str, header: dict | None = None, **claims: object) -> str:
    """``token`` with its header/claims changed and its signature kept (now invalid)."""
    head, body, signature = token.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    encode = lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()  # noqa: E731
    return ".".join([encode({**decode(head), **(header or {})}),
                     encode({**decode(body), **claims}), signature])


def _hs256(claims: dict, secret: bytes, kid: str) -> str:
    """Algorithm confusion: an HMAC token keyed with the public key (PyJWT refuses to make
    one, so it is built by hand)."""
    encode = lambda value: base64.urlsafe_b64encode(value).rstrip(b"=").decode()  # noqa: E731
    header = {"alg": "HS256", "typ": "at+jwt", "kid": kid}
    signing_input = f"{encode(json.dumps(header).encode())}.{encode(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{encode(mac)}"


async def test_a_valid_jwt_access_token_is_accepted(world: World) -> None:
    verifier = await jwt_verifier(world)
    principal = await verifier.verify(await client_credentials_token(world))
    assert principal is not None and principal.scopes == {"docs:read"}


async def test_jwt_refusals(world: World) -> None:
    verifier = await jwt_verifier(world)
    token = await client_credentials_token(world)
    key = world.idp.jwks["keys"][0]
    public_pem = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(key)).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    claims = jwt.decode(token, options={"verify_signature": False})
    attacks = {
        "another audience": _forge(token, aud="https://billing.clouddocs.test"),
        "an ID token type": _forge(token, {"typ": "JWT"}),
        "alg none": _forge(token, {"alg": "none"}).rsplit(".", 1)[0] + ".",
        "HS256 with the public key as secret": _hs256(claims, public_pem, key["kid"]),
        "unknown kid": _forge(token, {"kid": "nope"}),
        "garbage": "not.a.jwt",
    }
    for name, forged in attacks.items():
        assert await verifier.verify(forged) is None, name
    world.clock.advance(seconds=600)
    assert await verifier.verify(token) is None, "expired by the injected clock"


async def test_a_token_for_another_api_from_the_same_provider_is_refused(world: World) -> None:
    world.idp.add_resource_server("https://billing.clouddocs.test", client_id="billing",
                                  secret="billing-secret-0123456789")
    world.idp.add_client("reports", secret=SYNC_SECRET, grant_types=["client_credentials"],
                         scope="docs:read", default_resource="https://billing.clouddocs.test")
    token = await client_credentials_token(world, "reports")
    assert await (await jwt_verifier(world)).verify(token) is None


async def test_introspection_sees_revocation_at_once_jwt_does_not(world: World) -> None:
    jwt_token = await client_credentials_token(world)
    opaque = await client_credentials_token(world, "sync-opaque")
    async with asgi_client(world.idp.app, base_url=IDP) as provider:
        introspected = IntrospectedTokens(provider, IDP + "/introspect", issuer=IDP, audience=API,
                                          client_id="docs-api", client_secret=API_SECRET,
                                          clock=world.clock)
        assert await introspected.verify(opaque) is not None
        for token, client in ((jwt_token, "sync-service"), (opaque, "sync-opaque")):
            await revoke(provider, IDP + "/revoke", token, token_type_hint="access_token",
                         client_id=client, client_secret=SYNC_SECRET)
        assert await introspected.verify(opaque) is None
        assert await introspected.verify("made-up-token") is None
    assert await (await jwt_verifier(world)).verify(jwt_token) is not None  # until exp


async def test_the_api_answers_401_and_403_with_challenges(world: World) -> None:
    api = create_docs_api((await jwt_verifier(world)).verify)
    token = await client_credentials_token(world)
    async with asgi_client(api, base_url=API) as client:
        anonymous = await client.get("/me")
        malformed = await client.get("/me", headers={"Authorization": "Bearer " + "x" * 5000})
        read = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
        write = await client.post("/documents", json={"title": "t"},
                                  headers={"Authorization": f"Bearer {token}"})
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    assert malformed.status_code == 401 and 'error="invalid_token"' in malformed.headers[
        "www-authenticate"]
    assert read.status_code == 200
    assert write.status_code == 403
    assert 'error="insufficient_scope"' in write.headers["www-authenticate"]
    assert 'scope="docs:write"' in write.headers["www-authenticate"]


async def test_the_apis_openapi_declares_its_401_and_403(world: World) -> None:
    schema = create_docs_api((await jwt_verifier(world)).verify).openapi()
    for path, method in (("/me", "get"), ("/documents", "post")):
        responses = schema["paths"][path][method]["responses"]
        assert "WWW-Authenticate" in responses["401"]["headers"]
        assert "WWW-Authenticate" in responses["403"]["headers"]


async def test_fifty_concurrent_callers_cause_one_token_request(world: World) -> None:
    posts: list[str] = []

    async def count(request: httpx2.Request) -> None:
        posts.append(request.url.path)

    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=world.idp.app),
                                  event_hooks={"request": [count]}) as http:
        credentials = ClientCredentials(http, IDP + "/token", client_id="sync-service",
                                        client_secret=SYNC_SECRET, clock=world.clock, skew=30)
        tokens = await asyncio.gather(*(credentials.token() for _ in range(50)))
        assert len(set(tokens)) == 1 and posts == ["/token"]
        world.clock.advance(seconds=569)
        assert await credentials.token() == tokens[0]  # 31 s left: still fresh
        world.clock.advance(seconds=1)
        assert await credentials.token() != tokens[0]  # 30 s left: inside the skew
        assert len(posts) == 2


async def test_send_fetches_a_new_token_after_a_401(world: World) -> None:
    async with asgi_client(world.idp.app, base_url=IDP) as http:
        api = create_docs_api(IntrospectedTokens(
            http, IDP + "/introspect", issuer=IDP, audience=API, client_id="docs-api",
            client_secret=API_SECRET, clock=world.clock).verify)
        credentials = ClientCredentials(http, IDP + "/token", client_id="sync-opaque",
                                        client_secret=SYNC_SECRET, clock=world.clock)
        async with asgi_client(api, base_url=API) as client:
            assert (await credentials.send(client, "GET", "/me")).status_code == 200
            await revoke(http, IDP + "/revoke", await credentials.token(),
                         token_type_hint="access_token", client_id="sync-opaque",
                         client_secret=SYNC_SECRET)
            assert (await credentials.send(client, "GET", "/me")).status_code == 200
    assert credentials.fetches == 2


async def test_secrets_with_reserved_characters_work_over_http_basic(world: World) -> None:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding, so a ':'
    or '%' in a secret cannot split or corrupt the credentials."""
    odd = "s3:cr%41t+/ 0123456789"  # unquoted, "%41" would arrive as "A"
    world.idp.add_client("odd-client", secret=odd, grant_types=["client_credentials"],
                         scope="docs:read", default_resource=API, opaque_access_tokens=True)
    world.idp.add_resource_server("https://odd.clouddocs.test", client_id="odd-api", secret=odd)
    async with asgi_client(world.idp.app, base_url=IDP) as http:
        credentials = ClientCredentials(http, IDP + "/token", client_id="odd-client",
                                        client_secret=odd, clock=world.clock)
        token = await credentials.token()
        introspected = IntrospectedTokens(http, IDP + "/introspect", issuer=IDP, audience=API,
                                          client_id="docs-api", client_secret=API_SECRET,
                                          clock=world.clock)
        assert await introspected.verify(token) is not None
        odd_api = IntrospectedTokens(http, IDP + "/introspect", issuer=IDP,
                                     audience="https://odd.clouddocs.test", client_id="odd-api",
                                     client_secret=odd, clock=world.clock)
        assert await odd_api.verify(token) is None  # authenticated fine; not its token


async def test_nbf_and_exp_are_judged_by_the_injected_clock(world: World) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    keys = jwt.PyJWKSet.from_dict({"keys": [{**public, "kid": "k1", "alg": "RS256"}]})
    verifier = JwtAccessTokens(issuer=IDP, audience=API, jwks=keys, clock=world.clock)
    now = int(world.clock.time())
    claims = {"iss": IDP, "aud": API, "sub": "s", "client_id": "c", "jti": "j", "iat": now,
              "exp": now + 600, "scope": "docs:read"}
    sign = lambda **extra: jwt.encode({**claims, **extra}, key, algorithm="RS256",  # noqa: E731
                                      headers={"typ": "at+jwt", "kid": "k1"})
    assert await verifier.verify(sign()) is not None
    assert await verifier.verify(sign(nbf=now + 60)) is None  # not valid yet
    world.clock.advance(seconds=60)
    assert await verifier.verify(sign(nbf=now + 60)) is not None
    world.clock.advance(seconds=540)
    assert await verifier.verify(sign()) is None  # exp reached on the injected clock
