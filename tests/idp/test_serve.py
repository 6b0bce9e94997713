"""The provider over real HTTP: uvicorn on a loopback port, reached through the network stack."""

from __future__ import annotations

import httpx2
import jwt
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.discovery import OpenIDProviderMetadata

from authcourse.idp import IdentityProvider, serve, sign_in

from .conftest import API, CALLBACK, PASSWORD, SYNC_SECRET, WEB_SECRET


@pytest.mark.anyio
async def test_discovery_jwks_and_token_over_loopback_http(idp: IdentityProvider) -> None:
    with serve(idp) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        async with httpx2.AsyncClient(base_url=base_url) as client:
            metadata = (await client.get("/.well-known/openid-configuration")).json()
            jwks = jwt.PyJWKSet.from_dict((await client.get("/jwks")).json())
            token = await client.post(
                "/token",
                data={"grant_type": "client_credentials"},
                auth=("sync-service", SYNC_SECRET),
            )

    OpenIDProviderMetadata(metadata).validate()
    access_token = token.json()["access_token"]
    kid = jwt.get_unverified_header(access_token)["kid"]
    claims = jwt.decode(access_token, jwks[kid].key, algorithms=["RS256"], audience=API)
    assert claims["iss"] == idp.issuer


def test_the_server_stops_when_the_block_ends(idp: IdentityProvider) -> None:
    with serve(idp) as base_url:
        assert httpx2.get(base_url + "/jwks").status_code == 200
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(base_url + "/jwks")


def test_only_loopback_addresses_are_served(idp: IdentityProvider) -> None:
    with pytest.raises(ValueError, match="loopback"), serve(idp, host="0.0.0.0"):
        pass


@pytest.mark.anyio
async def test_sign_in_consent_and_code_exchange_over_loopback_http(idp: IdentityProvider) -> None:
    # Over plain http the cookies lose Secure and their prefix (loopback only): a real
    # browser, or httpx2's cookie jar, must still carry the session and the CSRF binding.
    verifier = generate_token(48)
    with serve(idp) as base_url:
        async with httpx2.AsyncClient(base_url=base_url) as user_agent:
            rp = AsyncOAuth2Client(
                "clouddocs-web",
                client_secret=WEB_SECRET,
                redirect_uri=CALLBACK,
                scope="openid email",
                code_challenge_method="S256",
            )
            url, state = rp.create_authorization_url(
                base_url + "/authorize", code_verifier=verifier
            )
            callback = await sign_in(user_agent, url, username="alice", password=PASSWORD)
            token = await rp.fetch_token(
                base_url + "/token",
                authorization_response=callback.headers["location"],
                state=state,
                code_verifier=verifier,
            )
            names = {cookie.name for cookie in user_agent.cookies.jar}
            await rp.aclose()

    assert callback.status_code == 303
    assert names == {"idp_session", "idp_csrf"}
    assert "id_token" in token
