"""One test per security property: each fails if the property is removed from the provider."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlencode

import httpx2
import jwt
import pytest
from authlib.common.security import generate_token

from authcourse.client import asgi_client
from authcourse.clock import FrozenClock
from authcourse.idp import IdentityProvider, sign_in

from .conftest import (
    API,
    API_SECRET,
    CALLBACK,
    DEMO_SECRET,
    ISSUER,
    PASSWORD,
    SPA_CALLBACK,
    WEB_SECRET,
    authorize,
    basic_auth,
    code_grant,
    demo_client,
    exchange,
    fetch_jwks,
    make_provider,
    spa_client,
    verify_id_token,
    web_client,
)

pytestmark = pytest.mark.anyio


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorization_url(**parameters: str) -> str:
    defaults = {"response_type": "code", "scope": "openid email", "state": "xyz"}
    return f"{ISSUER}/authorize?{urlencode(defaults | parameters)}"


def redirect_params(response: httpx2.Response) -> httpx2.QueryParams:
    return httpx2.URL(response.headers["location"]).params


async def token_request(
    idp: IdentityProvider, data: dict[str, str], headers: dict[str, str] | None = None
) -> httpx2.Response:
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        return await client.post("/token", data=data, headers=headers)


# -- PKCE --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["plain", None], ids=["plain", "method-omitted"])
async def test_plain_pkce_is_refused(user_agent: httpx2.AsyncClient, method: str | None) -> None:
    verifier = generate_token(48)
    parameters = {
        "client_id": "clouddocs-spa",
        "redirect_uri": SPA_CALLBACK,
        "code_challenge": verifier,
    }
    if method is not None:
        parameters["code_challenge_method"] = method
    response = await user_agent.get(authorization_url(**parameters))

    assert response.status_code == 302
    assert redirect_params(response)["error"] == "invalid_request"
    assert "code" not in redirect_params(response)


async def test_public_client_without_code_challenge_is_refused_at_authorize(
    user_agent: httpx2.AsyncClient,
) -> None:
    url = authorization_url(client_id="clouddocs-spa", redirect_uri=SPA_CALLBACK)
    response = await user_agent.get(url)

    # RFC 7636 §4.4.1: an error redirect, before any login form is shown.
    assert response.status_code == 302
    assert redirect_params(response)["error"] == "invalid_request"
    assert redirect_params(response)["state"] == "xyz"


async def test_confidential_client_without_code_challenge_is_refused_at_authorize(
    user_agent: httpx2.AsyncClient,
) -> None:
    # The PKCE downgrade, step one: strip code_challenge from a confidential client's request.
    url = authorization_url(client_id="clouddocs-web", redirect_uri=CALLBACK)
    response = await user_agent.get(url)

    assert response.status_code == 302
    assert redirect_params(response)["error"] == "invalid_request"
    assert "code" not in redirect_params(response)


def test_turning_pkce_off_needs_the_explicit_demo_flag(idp: IdentityProvider) -> None:
    with pytest.raises(ValueError, match="insecure_demo"):
        idp.add_client("careless", secret="s" * 20, redirect_uris=[CALLBACK], pkce_required=False)
    with pytest.raises(ValueError, match="insecure_demo"):
        idp.add_client("careless-spa", redirect_uris=[SPA_CALLBACK], pkce_required=False)


async def test_without_pkce_a_stolen_code_is_redeemed_by_whoever_presents_it(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    # Chapter 5's demonstration. The victim's code leaks (a log, a Referer, a malicious
    # app on the device); the attacker injects it into their own session with the client.
    async with demo_client(idp) as rp:
        stolen = await authorize(user_agent, rp, pkce=False)
    without_pkce = await token_request(
        idp,
        {"grant_type": "authorization_code", "code": stolen.code, "redirect_uri": CALLBACK},
        basic_auth("legacy-web", DEMO_SECRET),
    )
    # The same attack on a PKCE client: the attacker's session has its own verifier.
    async with web_client(idp) as rp:
        protected = await authorize(user_agent, rp)
    with_pkce = await token_request(
        idp,
        code_grant(protected) | {"code_verifier": generate_token(48)},
        basic_auth("clouddocs-web", WEB_SECRET),
    )

    assert without_pkce.status_code == 200  # the attacker now holds alice's tokens
    assert with_pkce.status_code == 400
    assert with_pkce.json()["error"] == "invalid_grant"


async def test_pkce_downgrade_is_refused(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    # RFC 9700 §4.8.2: a code issued without a challenge is never redeemed with a verifier.
    async with demo_client(idp) as rp:
        authorization = await authorize(user_agent, rp, pkce=False)
    response = await token_request(
        idp,
        code_grant(authorization) | {"code_verifier": generate_token(48)},
        basic_auth("legacy-web", DEMO_SECRET),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("verifier", [None, "wrong"], ids=["missing", "wrong"])
async def test_code_verifier_must_match_the_challenge(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient, verifier: str | None
) -> None:
    async with spa_client(idp) as rp:
        authorization = await authorize(user_agent, rp)
    data = {
        "grant_type": "authorization_code",
        "code": authorization.code,
        "redirect_uri": SPA_CALLBACK,
        "client_id": "clouddocs-spa",
    }
    if verifier is not None:
        data["code_verifier"] = verifier + generate_token(48)
    response = await token_request(idp, data)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "invalid_grant")


# -- redirect URIs and clients -------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://attacker.test/auth/callback",
        CALLBACK + "/",
        CALLBACK + "?next=https://attacker.test",
        CALLBACK + "/../../evil",
        "https://clouddocs.test.attacker.test/auth/callback",
        "https://CLOUDDOCS.test/auth/callback",
        "http://clouddocs.test/auth/callback",
    ],
)
async def test_redirect_uri_mismatch_shows_an_error_page_never_a_redirect(
    user_agent: httpx2.AsyncClient, redirect_uri: str
) -> None:
    url = authorization_url(client_id="clouddocs-web", redirect_uri=redirect_uri)
    response = await user_agent.get(url)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "invalid_request" in response.text


async def test_missing_redirect_uri_shows_an_error_page(user_agent: httpx2.AsyncClient) -> None:
    response = await user_agent.get(authorization_url(client_id="clouddocs-web"))
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize("client_id", ["no-such-client", ""])
async def test_unknown_client_shows_an_error_page_never_a_redirect(
    user_agent: httpx2.AsyncClient, client_id: str
) -> None:
    response = await user_agent.get(authorization_url(client_id=client_id, redirect_uri=CALLBACK))
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_redirect_uri_at_token_endpoint_must_match(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        authorization = await authorize(user_agent, rp)
    response = await token_request(
        idp,
        code_grant(authorization) | {"redirect_uri": CALLBACK + "x"},
        basic_auth("clouddocs-web", WEB_SECRET),
    )
    assert response.json()["error"] == "invalid_grant"


async def test_code_is_bound_to_its_client(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    idp.add_client("other-app", secret="other-secret", redirect_uris=[CALLBACK])
    async with web_client(idp) as rp:
        authorization = await authorize(user_agent, rp)
    response = await token_request(
        idp, code_grant(authorization), basic_auth("other-app", "other-secret")
    )
    assert response.json()["error"] == "invalid_grant"


# -- authorization codes ------------------------------------------------------------------


async def test_code_replay_is_refused_and_revokes_the_tokens_it_issued(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        authorization = await authorize(user_agent, rp)
        token = await exchange(rp, authorization)
        replay = await token_request(
            idp,
            code_grant(authorization),
            basic_auth("clouddocs-web", WEB_SECRET),
        )
        userinfo = await rp.get(ISSUER + "/userinfo")
        refresh = await token_request(
            idp,
            {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            basic_auth("clouddocs-web", WEB_SECRET),
        )

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert userinfo.status_code == 401  # RFC 6749 §4.1.2: tokens from the code are revoked
    assert refresh.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(("minutes", "accepted"), [(9, True), (10, False)])
async def test_code_expires_after_ten_minutes(minutes: int, accepted: bool) -> None:
    clock = FrozenClock()
    idp = make_provider(clock=clock)
    async with asgi_client(idp.app, base_url=ISSUER) as user_agent, web_client(idp) as rp:
        authorization = await authorize(user_agent, rp)
        clock.advance(minutes=minutes)
        response = await token_request(
            idp,
            code_grant(authorization),
            basic_auth("clouddocs-web", WEB_SECRET),
        )

    if accepted:
        assert response.status_code == 200
        claims = jwt.decode(response.json()["id_token"], options={"verify_signature": False})
        assert claims["iat"] == int(clock.time())  # the provider reads the injected clock
    else:
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"


async def test_nonce_cannot_be_replayed(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    verifier = generate_token(48)
    parameters = {
        "client_id": "clouddocs-web",
        "redirect_uri": CALLBACK,
        "nonce": "fixed-nonce",
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
    }
    first = await sign_in(
        user_agent, authorization_url(**parameters), username="alice", password=PASSWORD
    )
    second = await user_agent.get(authorization_url(**parameters))

    assert first.status_code == 303 and "code" in redirect_params(first)
    assert second.status_code == 302
    assert redirect_params(second)["error"] == "invalid_request"


# -- refresh tokens ---------------------------------------------------------------------


async def test_refresh_token_reuse_revokes_the_whole_grant(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    auth = basic_auth("clouddocs-web", WEB_SECRET)
    async with web_client(idp) as rp:
        first = await exchange(rp, await authorize(user_agent, rp, resource=API))
    rotated = await token_request(
        idp, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, auth
    )
    second = rotated.json()
    reuse = await token_request(
        idp, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, auth
    )
    after_reuse = await token_request(
        idp, {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}, auth
    )
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        introspection = await client.post(
            "/introspect",
            data={"token": second["access_token"]},
            headers=basic_auth("docs-api", API_SECRET),
        )

    assert rotated.status_code == 200
    assert reuse.json()["error"] == "invalid_grant"
    assert after_reuse.json()["error"] == "invalid_grant"  # the legitimate branch dies too
    assert introspection.json() == {"active": False}


# -- signing keys -----------------------------------------------------------------------


async def test_key_rotation_keeps_the_previous_kid_verifiable(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        authorization = await authorize(user_agent, rp)
        token = await exchange(rp, authorization)
    old_kid = jwt.get_unverified_header(token["id_token"])["kid"]

    new_kid = idp.rotate_keys()
    jwks_after_one_rotation = await fetch_jwks(idp)
    idp.rotate_keys()
    jwks_after_two_rotations = await fetch_jwks(idp)

    assert new_kid != old_kid
    verify_id_token(
        token["id_token"],
        jwks_after_one_rotation,
        issuer=ISSUER,
        audience="clouddocs-web",
        nonce=authorization.nonce,
        access_token=token["access_token"],
    )
    assert {key.key_id for key in jwks_after_one_rotation.keys} == {old_kid, new_kid}
    assert old_kid not in {key.key_id for key in jwks_after_two_rotations.keys}


async def test_tokens_are_signed_with_the_newest_key(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    new_kid = idp.rotate_keys()
    async with web_client(idp) as rp:
        token = await exchange(rp, await authorize(user_agent, rp))
    assert jwt.get_unverified_header(token["id_token"])["kid"] == new_kid
    assert jwt.get_unverified_header(token["access_token"])["kid"] == new_kid


# -- the token endpoint ------------------------------------------------------------------


@pytest.mark.parametrize("placement", ["basic", "post"])
async def test_wrong_client_secret_is_401_invalid_client(
    idp: IdentityProvider, placement: str
) -> None:
    data = {"grant_type": "client_credentials"}
    headers = None
    if placement == "basic":
        headers = basic_auth("sync-service", "wrong-secret")
    else:
        data |= {"client_id": "sync-service", "client_secret": "wrong-secret"}
    response = await token_request(idp, data, headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "www-authenticate" in response.headers


async def test_unknown_client_at_token_endpoint_is_invalid_client(idp: IdentityProvider) -> None:
    response = await token_request(
        idp, {"grant_type": "client_credentials"}, basic_auth("nobody", "secret")
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_confidential_client_cannot_skip_authentication(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        authorization = await authorize(user_agent, rp)
    response = await token_request(idp, code_grant(authorization) | {"client_id": "clouddocs-web"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("size", [3_000, 30_000, 100_000])
async def test_oversized_parameters_are_rejected_with_400_or_413(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient, size: int
) -> None:
    """A parameter over 2,048 characters is a 400; a body over 16 KiB is refused unread (413)."""
    huge = "a" * size
    request = {"response_type": "code", "client_id": "clouddocs-web", "redirect_uri": CALLBACK}
    responses = [
        await user_agent.post("/authorize", data=request | {"state": huge}),
        await user_agent.post("/authorize", data=request | {"redirect_uri": CALLBACK + "?" + huge}),
    ]
    if size < 60_000:  # httpx2 itself refuses longer URLs
        responses.append(await user_agent.get(authorization_url(**request, state=huge)))
    token = await token_request(
        idp, {"grant_type": "client_credentials", "scope": huge}, basic_auth("sync-service", "x")
    )

    body_too_large = size > 16 * 1024
    for response in responses[:2]:
        assert response.status_code == (413 if body_too_large else 400)
        assert "location" not in response.headers
    for response in responses[2:]:  # in the URL: no body at all
        assert response.status_code == 400 and "location" not in response.headers
    assert token.status_code == (413 if body_too_large else 400)
    assert token.json()["error"] == "invalid_request"


async def test_a_large_body_is_refused_at_every_endpoint_even_one_that_reads_none(
    user_agent: httpx2.AsyncClient,
) -> None:
    """Regression (audit transport.body_limit): /userinfo read no body, so a 2 MB POST got
    the usual 401 instead of 413."""
    response = await user_agent.post("/userinfo", content=b"a" * (2 * 1024 * 1024 + 1),
                                     headers={"Content-Type": "application/json"})
    assert response.status_code == 413


async def test_every_answer_carries_the_baseline_security_headers(
    user_agent: httpx2.AsyncClient,
) -> None:
    """Regression (audit transport.hsts and transport.nosniff): over https, HSTS and nosniff."""
    for response in (await user_agent.get("/.well-known/openid-configuration"),
                     await user_agent.get("/userinfo")):
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"grant_type": "client_credentials"}'),
        ("text/plain", b"grant_type=client_credentials"),
        ("multipart/form-data; boundary=x", b"--x--"),
        (None, b"grant_type=client_credentials"),
    ],
)
async def test_wrong_content_type_at_token_endpoint_is_400_not_500(
    idp: IdentityProvider, content_type: str | None, body: bytes
) -> None:
    headers = basic_auth("sync-service", "sync-secret-0123456789")
    if content_type is not None:
        headers["Content-Type"] = content_type
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        response = await client.post("/token", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_token_responses_are_never_cached(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        authorization = await authorize(user_agent, rp)
    success = await token_request(
        idp,
        code_grant(authorization),
        basic_auth("clouddocs-web", WEB_SECRET),
    )
    failure = await token_request(idp, {"grant_type": "authorization_code", "code": "nope"})
    malformed = await token_request(idp, {"grant_type": "x", "state": "a" * 5000})

    assert success.status_code == 200
    for response in (success, failure, malformed):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"


async def test_login_redirect_uses_303_after_post(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        url, _ = rp.create_authorization_url(
            ISSUER + "/authorize", code_verifier=generate_token(48)
        )
    response = await sign_in(user_agent, url, username="alice", password=PASSWORD)
    assert response.status_code == 303  # RFC 9700 §4.12: never 307 after posting a password
