"""RP-initiated logout, Authlib's own relying-party app end to end, and providers side by side."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx2
import jwt
import pytest
from authlib.integrations.starlette_client import OAuth
from authlib.oidc.discovery import OpenIDProviderMetadata
from starlette.requests import Request

from authcourse.client import asgi_client, browser
from authcourse.clock import FrozenClock
from authcourse.idp import IdentityProvider, parse_login_form, sign_in, submit_form

from .conftest import (
    CALLBACK,
    ISSUER,
    PASSWORD,
    SIGNED_OUT,
    WEB_SECRET,
    authorize,
    exchange,
    make_provider,
    web_client,
)

pytestmark = pytest.mark.anyio


async def signed_in(idp: IdentityProvider, user_agent: httpx2.AsyncClient) -> dict[str, Any]:
    """Alice signs in through clouddocs-web; returns the client's tokens."""
    async with web_client(idp) as rp:
        return await exchange(rp, await authorize(user_agent, rp))


async def has_session(idp: IdentityProvider, user_agent: httpx2.AsyncClient) -> bool:
    """Does the browser still sign in without a password? (prompt=none answers either way.)"""
    async with web_client(idp) as rp:
        url, _ = rp.create_authorization_url(
            ISSUER + "/authorize", code_verifier="v" * 48, prompt="none"
        )
    response = await user_agent.get(url)
    assert response.status_code == 302
    return "code" in httpx2.URL(response.headers["location"]).params


def logout_url(**parameters: str) -> str:
    return str(httpx2.URL(ISSUER + "/logout", params=parameters))


async def test_discovery_advertises_the_end_session_endpoint(idp: IdentityProvider) -> None:
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        metadata = (await client.get("/.well-known/openid-configuration")).json()
    OpenIDProviderMetadata(metadata).validate()
    assert metadata["end_session_endpoint"] == ISSUER + "/logout"


async def test_logout_with_an_id_token_hint_ends_the_session_and_redirects(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    token = await signed_in(idp, user_agent)
    assert await has_session(idp, user_agent)
    response = await user_agent.get(
        logout_url(
            id_token_hint=token["id_token"], post_logout_redirect_uri=SIGNED_OUT, state="bye-1"
        )
    )

    assert response.status_code == 302
    assert response.headers["location"] == SIGNED_OUT + "?state=bye-1"
    assert not await has_session(idp, user_agent)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://attacker.test/signed-out",
        SIGNED_OUT + "/",
        SIGNED_OUT + "?next=https://attacker.test",
        CALLBACK,  # registered as a redirect URI, not as a post-logout one
    ],
)
async def test_an_unregistered_post_logout_redirect_uri_is_never_followed(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient, redirect_uri: str
) -> None:
    token = await signed_in(idp, user_agent)
    response = await user_agent.get(
        logout_url(id_token_hint=token["id_token"], post_logout_redirect_uri=redirect_uri)
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert await has_session(idp, user_agent)


async def test_a_redirect_needs_a_known_client(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    await signed_in(idp, user_agent)
    anonymous = await user_agent.get(logout_url(post_logout_redirect_uri=SIGNED_OUT))
    by_client_id = await user_agent.get(
        logout_url(post_logout_redirect_uri=SIGNED_OUT, client_id="clouddocs-web")
    )

    assert anonymous.status_code == 400 and "location" not in anonymous.headers
    # Identified by client_id but with no hint: the user is asked before anything happens.
    form = parse_login_form(by_client_id.text)
    assert by_client_id.status_code == 200 and form is not None and form.kind == "logout"


def forged_hints(idp: IdentityProvider, token: dict[str, Any]) -> dict[str, str]:
    claims = jwt.decode(token["id_token"], options={"verify_signature": False})
    header, payload, signature = token["id_token"].split(".")
    other = make_provider("https://other-idp.test")
    other_key = other._keys.current  # a key this provider never published
    return {
        "tampered": f"{header}.{payload[:-4]}AAAA.{signature}",
        "other-signer": jwt.encode(
            claims,
            other_key.as_pem(private=True),
            algorithm="RS256",
            headers={"kid": jwt.get_unverified_header(token["id_token"])["kid"]},
        ),
        "access-token": token["access_token"],
        "alg-none": jwt.encode(claims, None, algorithm="none"),
        "garbage": "not-a-jwt",
    }


@pytest.mark.parametrize(
    "kind", ["tampered", "other-signer", "access-token", "alg-none", "garbage"]
)
async def test_a_forged_id_token_hint_is_refused(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient, kind: str
) -> None:
    token = await signed_in(idp, user_agent)
    hint = forged_hints(idp, token)[kind]
    response = await user_agent.get(
        logout_url(id_token_hint=hint, post_logout_redirect_uri=SIGNED_OUT)
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert await has_session(idp, user_agent)


async def test_an_expired_id_token_hint_is_still_accepted() -> None:
    clock = FrozenClock()
    idp = make_provider(clock=clock)
    async with asgi_client(idp.app, base_url=ISSUER) as user_agent:
        token = await signed_in(idp, user_agent)
        clock.advance(hours=2)  # the ID token lived one hour; the session lives longer
        response = await user_agent.get(
            logout_url(id_token_hint=token["id_token"], post_logout_redirect_uri=SIGNED_OUT)
        )
        assert response.status_code == 302
        assert not await has_session(idp, user_agent)


async def test_client_id_must_agree_with_the_hint(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    token = await signed_in(idp, user_agent)
    response = await user_agent.get(
        logout_url(
            id_token_hint=token["id_token"],
            client_id="clouddocs-spa",
            post_logout_redirect_uri=SIGNED_OUT,
        )
    )
    assert response.status_code == 400
    assert await has_session(idp, user_agent)


async def test_a_hint_for_another_user_ends_nothing(idp: IdentityProvider) -> None:
    idp.add_user("bob", "bob's long passphrase here")
    async with asgi_client(idp.app, base_url=ISSUER) as alice_agent:
        alice_token = await signed_in(idp, alice_agent)
    async with asgi_client(idp.app, base_url=ISSUER) as bob_agent:
        async with web_client(idp) as rp:
            url, _ = rp.create_authorization_url(ISSUER + "/authorize", code_verifier="v" * 48)
        await sign_in(bob_agent, url, username="bob", password="bob's long passphrase here")
        response = await bob_agent.get(logout_url(id_token_hint=alice_token["id_token"]))
        assert response.status_code == 400
        assert await has_session(idp, bob_agent)


async def test_without_a_hint_the_user_confirms_and_a_forged_confirmation_fails(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    await signed_in(idp, user_agent)
    page = await user_agent.get(logout_url(client_id="clouddocs-web", state="s"))
    form = parse_login_form(page.text)
    assert form is not None and form.kind == "logout"
    # A page on another site posts the confirmation without the form's token.
    hidden = {name: value for name, value in form.hidden_fields.items() if name != "csrf_token"}
    await user_agent.post("/logout", data=hidden | {"logout": "yes"})
    still_signed_in = await has_session(idp, user_agent)
    confirmed = await submit_form(user_agent, page, form, {"logout": "yes"})

    assert still_signed_in
    assert confirmed.status_code == 200 and "signed out" in confirmed.text
    assert not await has_session(idp, user_agent)


# -- Authlib's relying-party app, driven by the discovery document -----------------------------


def starlette_request(session: dict[str, Any], url: str = "https://clouddocs.test/") -> Request:
    """A Starlette request carrying the RP's session (what SessionMiddleware would provide)."""
    parts = urlsplit(url)
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": parts.scheme,
        "server": (parts.hostname, 443),
        "path": parts.path,
        "query_string": parts.query.encode(),
        "headers": [],
        "session": session,
    }
    return Request(scope)


async def test_authlibs_starlette_client_signs_in_and_out_from_discovery_alone(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    oauth = OAuth()
    oauth.register(
        "course",
        client_id="clouddocs-web",
        client_secret=WEB_SECRET,
        server_metadata_url=ISSUER + "/.well-known/openid-configuration",
        code_challenge_method="S256",
        client_kwargs={"scope": "openid email", "transport": httpx2.ASGITransport(app=idp.app)},
    )
    rp_session: dict[str, Any] = {}
    redirect = await oauth.course.authorize_redirect(starlette_request(rp_session), CALLBACK)
    callback = await sign_in(
        user_agent, redirect.headers["location"], username="alice", password=PASSWORD
    )
    token = await oauth.course.authorize_access_token(
        starlette_request(rp_session, callback.headers["location"])
    )
    logout = await oauth.course.logout_redirect(
        starlette_request(rp_session),
        post_logout_redirect_uri=SIGNED_OUT,
        id_token_hint=token["id_token"],
    )
    signed_out = await user_agent.get(logout.headers["location"])
    state_data = await oauth.course.validate_logout_response(
        starlette_request(rp_session, signed_out.headers["location"])
    )

    assert token["userinfo"]["iss"] == ISSUER  # the ID token, validated by Authlib
    assert token["userinfo"]["email"] == "alice@example.com"
    assert signed_out.status_code == 302
    assert state_data["post_logout_redirect_uri"] == SIGNED_OUT
    assert not await has_session(idp, user_agent)


# -- several providers in one browser ------------------------------------------------------------


async def test_two_providers_in_one_browser_keep_separate_sessions() -> None:
    honest = make_provider("https://idp.test")
    attacker = make_provider("https://attacker-idp.test")
    async with browser({honest.issuer: honest.app, attacker.issuer: attacker.app}) as agent:
        results = {}
        for idp in (honest, attacker):
            async with web_client(idp) as rp:
                url, _ = rp.create_authorization_url(
                    idp.issuer + "/authorize", code_verifier="v" * 48
                )
            response = await sign_in(agent, url, username="alice", password=PASSWORD)
            results[idp.issuer] = httpx2.URL(response.headers["location"]).params
        page = await agent.get(honest.issuer + "/logout")
        form = parse_login_form(page.text)
        assert form is not None
        await submit_form(agent, page, form, {"logout": "yes"})
        still = {}
        for idp in (honest, attacker):
            async with web_client(idp) as rp:
                url, _ = rp.create_authorization_url(
                    idp.issuer + "/authorize", code_verifier="v" * 48, prompt="none"
                )
            still[idp.issuer] = httpx2.URL((await agent.get(url)).headers["location"]).params

    # RFC 9207: each answer names its issuer, which is how a client spots a mix-up.
    assert results[honest.issuer]["iss"] == honest.issuer
    assert results[attacker.issuer]["iss"] == attacker.issuer
    assert {cookie.domain for cookie in agent.cookies.jar} == {"idp.test", "attacker-idp.test"}
    assert still[honest.issuer]["error"] == "login_required"  # signed out here...
    assert "code" in still[attacker.issuer]  # ...and still signed in there


async def test_two_tenants_on_one_host_keep_separate_sessions() -> None:
    tenant_a = make_provider("https://login.test/tenant-a")
    tenant_b = make_provider("https://login.test/tenant-b")
    async with browser({"https://login.test": _path_router(tenant_a, tenant_b)}) as agent:
        for idp in (tenant_a, tenant_b):
            async with web_client(idp) as rp:
                url, _ = rp.create_authorization_url(
                    idp.issuer + "/authorize", code_verifier="v" * 48
                )
            response = await sign_in(agent, url, username="alice", password=PASSWORD)
            assert response.status_code == 303, response.text
            assert httpx2.URL(response.headers["location"]).params["iss"] == idp.issuer
        cookies = {(cookie.name, cookie.path) for cookie in agent.cookies.jar}

    # __Host- needs Path=/; a tenant under a path gets __Secure- cookies scoped to its path.
    assert ("__Secure-idp_session", "/tenant-a") in cookies
    assert ("__Secure-idp_session", "/tenant-b") in cookies


def _path_router(*providers: IdentityProvider) -> Any:
    """One host serving several providers, each under its issuer's path."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        for idp in providers:
            if scope["path"].startswith(httpx2.URL(idp.issuer).path + "/"):
                await idp.app(scope, receive, send)
                return
        raise AssertionError(f"no provider serves {scope['path']}")

    return app
