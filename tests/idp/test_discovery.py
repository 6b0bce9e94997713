"""Discovery metadata, the JWKS, and several providers side by side."""

from __future__ import annotations

import httpx2
import jwt
import pytest
from authlib.oauth2.rfc9207 import AuthorizationServerMetadata as IssuerParameterMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata

from authcourse.client import asgi_client
from authcourse.idp import IdentityProvider

from .conftest import (
    ISSUER,
    authorize,
    code_grant,
    exchange,
    fetch_jwks,
    make_provider,
    verify_id_token,
    web_client,
)

pytestmark = pytest.mark.anyio


async def test_discovery_document_is_valid(idp: IdentityProvider) -> None:
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        response = await client.get("/.well-known/openid-configuration")
    metadata = response.json()

    OpenIDProviderMetadata(metadata).validate(metadata_classes=[IssuerParameterMetadata])
    assert metadata == idp.metadata
    assert metadata["issuer"] == ISSUER
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "docs:read" in metadata["scopes_supported"]
    for endpoint in ("revocation", "introspection", "userinfo", "token", "authorization"):
        assert metadata[f"{endpoint}_endpoint"].startswith(ISSUER + "/")
    assert metadata["jwks_uri"] == ISSUER + "/jwks"


async def test_jwks_publishes_public_rs256_keys_only(idp: IdentityProvider) -> None:
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        keys = (await client.get("/jwks")).json()["keys"]

    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig"
    assert keys[0]["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(keys[0])  # no private parameters


async def test_issuer_with_a_path_serves_under_that_path() -> None:
    idp = IdentityProvider(issuer="https://login.test/tenant-a")
    async with asgi_client(idp.app, base_url="https://login.test") as client:
        metadata = (await client.get("/tenant-a/.well-known/openid-configuration")).json()
        jwks = await client.get(metadata["jwks_uri"])
    assert metadata["token_endpoint"] == "https://login.test/tenant-a/token"
    assert jwks.status_code == 200


@pytest.mark.parametrize(
    "issuer", ["http://idp.test", "https://idp.test/", "https://idp.test?x=1", "idp.test"]
)
def test_invalid_issuers_are_refused(issuer: str) -> None:
    with pytest.raises(ValueError):
        IdentityProvider(issuer=issuer)


def test_client_registration_is_checked(idp: IdentityProvider) -> None:
    with pytest.raises(ValueError, match="confidential"):
        idp.add_client("cron", grant_types=["client_credentials"])
    with pytest.raises(ValueError, match="redirect URI"):
        idp.add_client("web2", secret="s")
    with pytest.raises(ValueError, match="fragment"):
        idp.add_client("web3", secret="s", redirect_uris=["https://x.test/cb#frag"])
    with pytest.raises(ValueError, match="already exists"):
        idp.add_client("clouddocs-web", secret="s", redirect_uris=["https://x.test/cb"])


async def test_two_providers_side_by_side_have_their_own_issuer_keys_and_users() -> None:
    honest = make_provider("https://idp.test")
    attacker = make_provider("https://attacker-idp.test")

    async with (
        asgi_client(honest.app, base_url=honest.issuer) as honest_agent,
        web_client(honest) as rp,
    ):
        authorization = await authorize(honest_agent, rp)
        token = await exchange(rp, authorization)

    honest_jwks = await fetch_jwks(honest)
    attacker_jwks = await fetch_jwks(attacker)
    claims = verify_id_token(
        token["id_token"],
        honest_jwks,
        issuer=honest.issuer,
        audience="clouddocs-web",
        nonce=authorization.nonce,
        access_token=token["access_token"],
    )

    assert honest.metadata["issuer"] != attacker.metadata["issuer"]
    assert {k.key_id for k in honest_jwks.keys}.isdisjoint({k.key_id for k in attacker_jwks.keys})
    kid = jwt.get_unverified_header(token["id_token"])["kid"]
    with pytest.raises(KeyError):
        attacker_jwks[kid]
    assert claims["iss"] == "https://idp.test"
    # The same username is a different subject at each provider: never match users by name.
    alice_elsewhere = attacker.add_user("alice2", "pw")
    assert alice_elsewhere.subject != claims["sub"]


async def test_one_provider_does_not_know_the_other_providers_codes() -> None:
    first = make_provider("https://idp.test")
    second = make_provider("https://other-idp.test")
    async with asgi_client(first.app, base_url=first.issuer) as agent, web_client(first) as rp:
        authorization = await authorize(agent, rp)
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=second.app), base_url=second.issuer
    ) as client:
        response = await client.post(
            "/token",
            data=code_grant(authorization),
            auth=("clouddocs-web", "web-secret-0123456789"),
        )
    assert response.json()["error"] == "invalid_grant"
