"""Every flow, driven by a real relying-party library: Authlib's AsyncOAuth2Client."""

from __future__ import annotations

import httpx2
import jwt
import pytest
from authlib.common.security import generate_token

from authcourse.client import asgi_client
from authcourse.idp import IdentityProvider, parse_login_form, submit_form

from .conftest import (
    API,
    API_SECRET,
    CALLBACK,
    ISSUER,
    SYNC_SECRET,
    WEB_SECRET,
    authorize,
    exchange,
    fetch_jwks,
    relying_party,
    spa_client,
    verify_id_token,
    web_client,
)

pytestmark = pytest.mark.anyio


async def test_public_client_code_flow_with_pkce(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with spa_client(idp) as rp:
        authorization = await authorize(user_agent, rp)
        token = await exchange(rp, authorization)
        claims = verify_id_token(
            token["id_token"],
            await fetch_jwks(idp),
            issuer=ISSUER,
            audience="clouddocs-spa",
            nonce=authorization.nonce,
            access_token=token["access_token"],
        )
        userinfo = await rp.get(ISSUER + "/userinfo")

    assert token["token_type"] == "Bearer"
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice Liddell"
    assert claims["hd"] == "example.com"
    assert userinfo.status_code == 200
    assert userinfo.json()["sub"] == claims["sub"]


async def test_confidential_client_code_flow_with_pkce(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        authorization = await authorize(user_agent, rp)
        token = await exchange(rp, authorization)

    claims = verify_id_token(
        token["id_token"],
        await fetch_jwks(idp),
        issuer=ISSUER,
        audience="clouddocs-web",
        nonce=authorization.nonce,
        access_token=token["access_token"],
    )
    assert claims["picture"] == "https://example.com/alice.png"
    assert claims["auth_time"] <= claims["iat"]
    assert jwt.get_unverified_header(token["id_token"])["alg"] == "RS256"


async def test_authorization_response_names_the_issuer(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        authorization = await authorize(user_agent, rp)

    query = httpx2.URL(authorization.callback_url).params
    assert authorization.callback_url.startswith(CALLBACK + "?")
    assert query["iss"] == ISSUER  # RFC 9207
    assert query["state"] == authorization.state


async def test_claims_follow_the_granted_scope(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    rp = relying_party(
        idp, "clouddocs-web", client_secret=WEB_SECRET, redirect_uri=CALLBACK, scope="openid email"
    )
    async with rp:
        token = await exchange(rp, await authorize(user_agent, rp))
        userinfo = (await rp.get(ISSUER + "/userinfo")).json()

    claims = jwt.decode(token["id_token"], options={"verify_signature": False})
    assert "email" in claims and "name" not in claims
    assert set(userinfo) == {"sub", "email", "email_verified", "hd"}


async def test_refresh_token_is_rotated_on_every_use(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        first = await exchange(rp, await authorize(user_agent, rp))
        second = dict(
            await rp.refresh_token(ISSUER + "/token", refresh_token=first["refresh_token"])
        )
        third = dict(
            await rp.refresh_token(ISSUER + "/token", refresh_token=second["refresh_token"])
        )

    refresh_tokens = {first["refresh_token"], second["refresh_token"], third["refresh_token"]}
    assert len(refresh_tokens) == 3
    assert third["scope"] == "openid profile email"


async def test_client_credentials_grant_issues_a_jwt_access_token(idp: IdentityProvider) -> None:
    rp = relying_party(idp, "sync-service", client_secret=SYNC_SECRET, scope="docs:read")
    async with rp:
        token = await rp.fetch_token(ISSUER + "/token", grant_type="client_credentials")

    jwks = await fetch_jwks(idp)
    header = jwt.get_unverified_header(token["access_token"])
    claims = jwt.decode(
        token["access_token"],
        jwks[header["kid"]].key,
        algorithms=["RS256"],
        audience=API,  # the client's registered default resource (RFC 9068 §3)
        issuer=ISSUER,
        options={"require": ["exp", "iat", "jti", "sub", "scope"]},
    )
    assert header["typ"] == "at+jwt"
    assert claims["scope"] == "docs:read"
    assert claims["sub"] == claims["client_id"] == "sync-service"
    assert "refresh_token" not in token


async def test_client_credentials_refuses_a_scope_not_registered(idp: IdentityProvider) -> None:
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        response = await client.post(
            "/token",
            data={"grant_type": "client_credentials", "scope": "docs:write"},
            auth=("sync-service", SYNC_SECRET),
        )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_revoking_an_access_token_stops_userinfo(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        await exchange(rp, await authorize(user_agent, rp))
        before = await rp.get(ISSUER + "/userinfo")
        revoked = await rp.revoke_token(ISSUER + "/revoke", token=rp.token["access_token"])
        after = await rp.get(ISSUER + "/userinfo")

    assert before.status_code == 200
    assert revoked.status_code == 200
    assert after.status_code == 401
    assert "invalid_token" in after.headers["www-authenticate"]


async def test_revoking_a_refresh_token_revokes_the_whole_grant(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        token = await exchange(rp, await authorize(user_agent, rp))
        await rp.revoke_token(
            ISSUER + "/revoke", token=token["refresh_token"], token_type_hint="refresh_token"
        )
        userinfo = await rp.get(ISSUER + "/userinfo")
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        refresh = await client.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            auth=("clouddocs-web", WEB_SECRET),
        )

    assert userinfo.status_code == 401  # RFC 7009 §2.1: access tokens of the grant go too
    assert refresh.json()["error"] == "invalid_grant"


async def test_public_client_can_revoke_its_own_token(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with spa_client(idp) as rp:
        token = await exchange(rp, await authorize(user_agent, rp))
        response = await rp.revoke_token(ISSUER + "/revoke", token=token["refresh_token"])
        userinfo = await rp.get(ISSUER + "/userinfo")
    assert response.status_code == 200
    assert userinfo.status_code == 401


async def test_introspection_describes_an_active_token(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        token = await exchange(rp, await authorize(user_agent, rp, resource=API))
    resource_server = relying_party(idp, "docs-api", client_secret=API_SECRET)
    async with resource_server:
        response = await resource_server.introspect_token(
            ISSUER + "/introspect", token=token["access_token"]
        )
        unknown = await resource_server.introspect_token(ISSUER + "/introspect", token="nope")

    body = response.json()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert body["active"] is True
    assert body["client_id"] == "clouddocs-web"
    assert body["scope"] == "openid profile email"
    assert body["iss"] == ISSUER
    assert body["aud"] == API
    assert body["token_type"] == "Bearer"
    assert unknown.json() == {"active": False}


async def test_public_clients_cannot_introspect(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with spa_client(idp) as rp:
        token = await exchange(rp, await authorize(user_agent, rp))
        response = await rp.introspect_token(ISSUER + "/introspect", token=token["access_token"])
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


async def test_userinfo_accepts_post_and_rejects_missing_token(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        await exchange(rp, await authorize(user_agent, rp))
        posted = await rp.post(ISSUER + "/userinfo")
    async with asgi_client(idp.app, base_url=ISSUER) as anonymous:
        missing = await anonymous.get("/userinfo")

    assert posted.status_code == 200
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"  # RFC 6750 §3.1: no error code


@pytest.mark.parametrize(
    ("resource", "status", "error"),
    [
        # The token's default audience is the API: /userinfo is another resource.
        (None, 401, "invalid_token"),
        # Addressed to /userinfo on purpose, it still lacks the openid scope.
        (ISSUER + "/userinfo", 403, "insufficient_scope"),
    ],
)
async def test_client_credentials_token_has_no_userinfo(
    idp: IdentityProvider, resource: str | None, status: int, error: str
) -> None:
    rp = relying_party(idp, "sync-service", client_secret=SYNC_SECRET, scope="docs:read")
    extra = {"resource": resource} if resource else {}
    async with rp:
        await rp.fetch_token(ISSUER + "/token", grant_type="client_credentials", **extra)
        response = await rp.get(ISSUER + "/userinfo")
    assert response.status_code == status
    assert error in response.headers["www-authenticate"]


async def test_login_form_carries_the_request_and_escapes_it(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    hostile_state = '"><script>alert(1)</script>'
    async with web_client(idp) as rp:
        url, _ = rp.create_authorization_url(
            ISSUER + "/authorize", state=hostile_state, code_verifier=generate_token(48)
        )
    page = await user_agent.get(url)
    form = parse_login_form(page.text)

    assert page.status_code == 200
    assert "<script>" not in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert form is not None and form.action == "/authorize"
    assert form.hidden_fields["state"] == hostile_state
    assert form.hidden_fields["client_id"] == "clouddocs-web"


async def test_wrong_password_shows_the_form_again_without_redirect(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        url, _ = rp.create_authorization_url(
            ISSUER + "/authorize", code_verifier=generate_token(48)
        )
    page = await user_agent.get(url)
    form = parse_login_form(page.text)
    assert form is not None
    for username in ("alice", "mallory"):
        fields = {"username": username, "password": "wrong"}
        response = await submit_form(user_agent, page, form, fields)
        assert response.status_code == 401
        assert "location" not in response.headers
        assert "Incorrect username or password." in response.text
        assert parse_login_form(response.text) is not None
