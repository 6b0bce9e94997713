"""Regression tests for chapter 5's reference code: ``clouddocs.oauth_client``,
``clouddocs.resource_server`` and ``clouddocs.bff``. Each attack the chapter teaches is sent
for real, against the in-process provider."""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import jwt
import pytest

from authcourse.client import asgi_client, browser
from authcourse.idp import sign_in
from clouddocs.oauth_client import (
    LoginFailed,
    PendingLogin,
    TokenError,
    authorization_url,
    begin_login,
    callback_code,
    exchange_code,
    pkce_pair,
    refresh,
    revoke,
    s256_challenge,
)

from .conftest import (
    API,
    CALLBACK,
    IDP,
    LEGACY_SECRET,
    PASSWORD,
    WEB_SECRET,
    World,
    jwt_verifier,
)

pytestmark = pytest.mark.anyio
WEB_CLIENT = {"client_id": "clouddocs-web", "client_secret": WEB_SECRET}


def start(scope: str = "openid docs:read") -> tuple[str, PendingLogin]:
    return begin_login(IDP + "/authorize", client_id="clouddocs-web", redirect_uri=CALLBACK,
                       scope=scope, resource=API)


async def signed_in(world: World, url: str, user: str = "alice",
                    password: str = PASSWORD) -> str:
    async with browser({IDP: world.idp.app}) as agent:
        answer = await sign_in(agent, url, username=user, password=password)
    assert answer.status_code in (302, 303), answer.text
    return answer.headers["location"]


# -- PKCE and the authorization request ------------------------------------------------------


def test_the_challenge_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_verifiers_are_long_fresh_and_hashed() -> None:
    (first, challenge), (second, _) = pkce_pair(), pkce_pair()
    assert 43 <= len(first) <= 128 and first != second
    assert challenge == s256_challenge(first) != first


def test_the_authorization_url_says_s256_and_escapes_every_value() -> None:
    url = authorization_url(IDP + "/authorize", client_id="c", redirect_uri=CALLBACK + "?a=1&b=2",
                            scope="openid docs:read", state="x&y=z#w", code_challenge="c" * 43)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] == ["x&y=z#w"]
    assert query["redirect_uri"] == [CALLBACK + "?a=1&b=2"]


# -- the callback ---------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "code=c&state=someone-else", "code=c", "code=c&state=", "error=access_denied",
])
def test_a_callback_without_this_browsers_state_is_refused(query: str) -> None:
    _, pending = start()
    with pytest.raises(LoginFailed):
        callback_code(pending, f"{CALLBACK}?{query}")


def test_a_callback_with_two_states_is_refused() -> None:
    _, pending = start()
    with pytest.raises(LoginFailed):
        callback_code(pending, f"{CALLBACK}?code=c&state=x&state={pending.state}")


def test_an_error_or_missing_code_is_refused_even_with_the_right_state() -> None:
    _, pending = start()
    for query in (f"error=access_denied&state={pending.state}", f"state={pending.state}"):
        with pytest.raises(LoginFailed):
            callback_code(pending, f"{CALLBACK}?{query}")


def test_the_state_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = hmac.compare_digest

    def spy(left: bytes, right: bytes) -> bool:
        calls.append(1)
        return original(left, right)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    _, pending = start()
    with pytest.raises(LoginFailed):
        callback_code(pending, f"{CALLBACK}?code=c&state=x")
    assert calls


async def test_the_whole_code_flow_gives_an_audience_bound_ten_minute_token(world: World) -> None:
    url, pending = start()
    code = callback_code(pending, await signed_in(world, url))
    async with asgi_client(world.idp.app, base_url=IDP) as provider:
        tokens = await exchange_code(provider, IDP + "/token", pending, code, **WEB_CLIENT)
    claims = await (await jwt_verifier(world)).verify(tokens["access_token"])
    assert claims is not None and claims.subject == world.alice_subject
    unverified = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert unverified["aud"] == API and unverified["exp"] - unverified["iat"] == 600


# -- break it, for real ----------------------------------------------------------------------


async def test_login_csrf_a_foreign_callback_is_refused(world: World) -> None:
    mallory_url, mallory_pending = start()
    mallory_callback = await signed_in(world, mallory_url, "mallory", "mallory's own long password")
    _, alice_pending = start()
    with pytest.raises(LoginFailed):
        callback_code(alice_pending, mallory_callback)
    # Even a client that skipped the state check could not redeem it: PKCE binds the code.
    code = parse_qs(urlsplit(mallory_callback).query)["code"][0]
    async with asgi_client(world.idp.app, base_url=IDP) as provider:
        with pytest.raises(TokenError):
            await exchange_code(provider, IDP + "/token", alice_pending, code, **WEB_CLIENT)
    assert mallory_pending.state != alice_pending.state


@pytest.mark.parametrize("evil", [
    "https://evil.example/auth/callback", CALLBACK + "/../../evil",
    "https://clouddocs.test.evil.example/auth/callback", CALLBACK + "?next=evil", CALLBACK + "/",
])
async def test_a_manipulated_redirect_uri_gets_no_redirect(world: World, evil: str) -> None:
    url, _ = begin_login(IDP + "/authorize", client_id="clouddocs-web", redirect_uri=evil,
                         scope="openid")
    async with asgi_client(world.idp.app, base_url=IDP) as provider:
        answer = await provider.get(url)
    assert answer.status_code == 400 and "location" not in answer.headers


async def test_a_stolen_code_is_useless_without_the_verifier(world: World) -> None:
    alice_url, alice_pending = start()
    stolen = callback_code(alice_pending, await signed_in(world, alice_url))
    _, mallory_pending = start()
    async with asgi_client(world.idp.app, base_url=IDP) as provider:
        with pytest.raises(TokenError) as refused:
            await exchange_code(provider, IDP + "/token", mallory_pending, stolen, **WEB_CLIENT)
    assert refused.value.error == "invalid_grant"


async def test_without_pkce_a_stolen_code_works_which_is_why_pkce_is_required(
    world: World,
) -> None:
    """The demo-only client shows the attack the chapter fixes (and that it is real)."""
    url = IDP + "/authorize?" + urlencode({
        "response_type": "code", "client_id": "legacy-web", "redirect_uri": CALLBACK,
        "scope": "openid docs:read", "state": "s"})
    code = parse_qs(urlsplit(await signed_in(world, url)).query)["code"][0]
    async with asgi_client(world.idp.app, base_url=IDP) as provider:
        answer = await provider.post("/token", auth=("legacy-web", LEGACY_SECRET), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK})
    assert answer.status_code == 200


@pytest.mark.parametrize("change", [
    {"code_challenge": None, "code_challenge_method": None},
    {"code_challenge_method": "plain"},
])
async def test_pkce_downgrade_at_authorize_is_refused(world: World, change: dict) -> None:
    url, _ = start()
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    query = {k: v for k, v in {**query, **change}.items() if v is not None}
    async with asgi_client(world.idp.app, base_url=IDP) as provider:
        answer = await provider.get(IDP + "/authorize", params=query)
    assert "code=" not in answer.headers.get("location", "")


async def test_a_code_without_its_verifier_is_refused(world: World) -> None:
    url, pending = start()
    code = callback_code(pending, await signed_in(world, url))
    async with asgi_client(world.idp.app, base_url=IDP) as provider:
        answer = await provider.post("/token", auth=("clouddocs-web", WEB_SECRET), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK})
    assert answer.status_code == 400


async def test_a_replayed_code_is_refused_and_revokes_the_first_tokens(world: World) -> None:
    url, pending = start()
    code = callback_code(pending, await signed_in(world, url))
    async with asgi_client(world.idp.app, base_url=IDP) as provider:
        first = await exchange_code(provider, IDP + "/token", pending, code, **WEB_CLIENT)
        with pytest.raises(TokenError):
            await exchange_code(provider, IDP + "/token", pending, code, **WEB_CLIENT)
        with pytest.raises(TokenError):
            await refresh(provider, IDP + "/token", first["refresh_token"], **WEB_CLIENT)


async def test_refresh_rotates_and_revocation_ends_the_grant(world: World) -> None:
    url, pending = start()
    code = callback_code(pending, await signed_in(world, url))
    async with asgi_client(world.idp.app, base_url=IDP) as provider:
        first = await exchange_code(provider, IDP + "/token", pending, code, **WEB_CLIENT)
        second = await refresh(provider, IDP + "/token", first["refresh_token"], **WEB_CLIENT)
        assert second["refresh_token"] != first["refresh_token"]
        await revoke(provider, IDP + "/revoke", second["refresh_token"],
                     token_type_hint="refresh_token", **WEB_CLIENT)
        with pytest.raises(TokenError):
            await refresh(provider, IDP + "/token", second["refresh_token"], **WEB_CLIENT)


def test_an_endpoint_with_its_own_query_keeps_it() -> None:
    url = authorization_url("https://idp.test/authorize?tenant=acme", client_id="c",
                            redirect_uri=CALLBACK, scope="openid", state="s", code_challenge="c")
    query = parse_qs(urlsplit(url).query)
    assert query["tenant"] == ["acme"] and query["state"] == ["s"]


async def test_a_token_endpoint_that_answers_garbage_is_a_token_error() -> None:
    def garbage(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(502, text="<html>bad gateway</html>",
                               headers={"content-type": "application/json"})

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(garbage)) as http:
        with pytest.raises(TokenError) as error:
            await refresh(http, IDP + "/token", "r", **WEB_CLIENT)
    assert error.value.status_code == 502
