"""The provider's pages: sign-in (CSRF, Origin, throttling), the session, and consent."""

from __future__ import annotations

import httpx2
import jwt
import pytest
from authlib.common.security import generate_token

from authcourse.client import asgi_client
from authcourse.clock import FrozenClock
from authcourse.idp import IdentityProvider, LoginForm, parse_login_form, sign_in, submit_form

from .conftest import (
    API,
    CALLBACK,
    ISSUER,
    PASSWORD,
    WEB_SECRET,
    authorize,
    exchange,
    make_provider,
    relying_party,
    web_client,
)

pytestmark = pytest.mark.anyio


def authorization_url(idp: IdentityProvider, **parameters: str) -> str:
    rp = relying_party(
        idp,
        "clouddocs-web",
        client_secret=WEB_SECRET,
        redirect_uri=CALLBACK,
        scope=parameters.pop("scope", "openid profile email"),
    )
    url, _ = rp.create_authorization_url(
        ISSUER + "/authorize", code_verifier=generate_token(48), **parameters
    )
    return url


async def open_form(
    user_agent: httpx2.AsyncClient, url: str, kind: str = "login"
) -> tuple[httpx2.Response, LoginForm]:
    page = await user_agent.get(url)
    form = parse_login_form(page.text)
    assert page.status_code == 200 and form is not None and form.kind == kind, page.text
    return page, form


async def try_password(
    user_agent: httpx2.AsyncClient, url: str, password: str, username: str = "alice"
) -> httpx2.Response:
    page, form = await open_form(user_agent, url)
    return await submit_form(user_agent, page, form, {"username": username, "password": password})


# -- CSRF and Origin -----------------------------------------------------------------------


async def test_a_cross_site_login_post_without_the_form_token_is_refused(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    # Login CSRF: the attacker's page makes the victim's browser post the attacker's own
    # credentials, so the victim ends up signed in as the attacker.
    url = authorization_url(idp)
    _, form = await open_form(user_agent, url)
    hidden = {name: value for name, value in form.hidden_fields.items() if name != "csrf_token"}
    async with asgi_client(idp.app, base_url=ISSUER) as victim:
        forged = await victim.post(
            "/authorize", data=hidden | {"username": "alice", "password": PASSWORD}
        )
        cross_origin = await victim.post(
            "/authorize",
            data=form.hidden_fields | {"username": "alice", "password": PASSWORD},
            headers={"Origin": "https://attacker.test"},
        )

    for response in (forged, cross_origin):
        assert response.status_code == 403
        assert "location" not in response.headers
        assert not any(
            "idp_session" in cookie for cookie in response.headers.get_list("set-cookie")
        )


@pytest.mark.parametrize("origin", ["https://attacker.test", "null", "http://idp.test"])
async def test_a_form_post_from_another_origin_is_refused_even_with_the_token(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient, origin: str
) -> None:
    page, form = await open_form(user_agent, authorization_url(idp))
    response = await user_agent.post(
        "/authorize",
        data=form.hidden_fields | {"username": "alice", "password": PASSWORD},
        headers={"Origin": origin},
    )
    assert response.status_code == 403
    assert "location" not in response.headers


async def test_the_same_origin_post_with_the_token_signs_in(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    response = await sign_in(
        user_agent, authorization_url(idp), username="alice", password=PASSWORD
    )
    assert response.status_code == 303
    assert "code=" in response.headers["location"]


async def test_cookies_are_host_prefixed_secure_httponly_and_lax(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    page, form = await open_form(user_agent, authorization_url(idp))
    signed_in = await submit_form(
        user_agent, page, form, {"username": "alice", "password": PASSWORD}
    )
    cookies = page.headers.get_list("set-cookie") + signed_in.headers.get_list("set-cookie")
    names = {cookie.split("=", 1)[0] for cookie in cookies}

    assert names == {"__Host-idp_csrf", "__Host-idp_session"}
    for cookie in cookies:
        attributes = cookie.lower()
        assert "secure" in attributes and "httponly" in attributes
        assert "samesite=lax" in attributes and "path=/" in attributes
        assert "domain=" not in attributes


# -- throttling -----------------------------------------------------------------------------


async def test_30_wrong_passwords_then_the_right_one_gets_no_code() -> None:
    clock = FrozenClock()
    idp = make_provider(clock=clock)
    url = authorization_url(idp)
    async with asgi_client(idp.app, base_url=ISSUER) as user_agent:
        wrong = [await try_password(user_agent, url, f"guess {i}") for i in range(30)]
        right = await try_password(user_agent, url, PASSWORD)
        clock.advance(minutes=15)  # a new window
        later = await sign_in(user_agent, url, username="alice", password=PASSWORD)

    assert [r.status_code for r in wrong[:5]] == [401] * 5
    assert {r.status_code for r in wrong[5:]} == {429}
    assert right.status_code == 429  # the right password is not even checked
    assert "location" not in right.headers
    assert int(right.headers["retry-after"]) > 0
    assert "Too many sign-in attempts" in right.text
    assert parse_login_form(right.text) is not None  # the form again, to retry later
    assert later.status_code == 303 and "code=" in later.headers["location"]


async def test_unknown_accounts_are_throttled_the_same_way(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    url = authorization_url(idp)
    answers = [await try_password(user_agent, url, "x", username="nobody") for _ in range(6)]
    known = [await try_password(user_agent, url, "x", username="alice") for _ in range(6)]
    # Same statuses for a known and an unknown account: the throttle reveals no accounts.
    assert [r.status_code for r in answers] == [r.status_code for r in known]
    assert answers[-1].status_code == 429


async def test_the_account_budget_is_shared_by_every_spelling_of_the_name(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    url = authorization_url(idp)
    for username in ("alice", "Alice", "ALICE", "aLice", "alicE"):
        await try_password(user_agent, url, "wrong", username=username)
    assert (await try_password(user_agent, url, PASSWORD)).status_code == 429


async def test_the_ip_budget_stops_password_spraying_across_accounts() -> None:
    idp = make_provider()
    url = authorization_url(idp)
    async with (
        asgi_client(idp.app, base_url=ISSUER, client_ip="198.51.100.7") as sprayer,
        asgi_client(idp.app, base_url=ISSUER, client_ip="198.51.100.8") as neighbour,
    ):
        # One guess per account, 30 accounts: no account budget is ever reached.
        spray = [
            await try_password(sprayer, url, "Summer2026!", username=f"u{i}") for i in range(30)
        ]
        blocked = await try_password(sprayer, url, PASSWORD)
        elsewhere = await sign_in(neighbour, url, username="alice", password=PASSWORD)

    assert {r.status_code for r in spray} == {401}
    assert blocked.status_code == 429
    assert elsewhere.status_code == 303  # the limit is per IP: alice's account is not locked


async def test_a_successful_sign_in_clears_the_accounts_failures(
    idp: IdentityProvider,
) -> None:
    url = authorization_url(idp)
    async with (
        asgi_client(idp.app, base_url=ISSUER) as first,
        asgi_client(idp.app, base_url=ISSUER) as second,
    ):
        for _ in range(4):
            await try_password(first, url, "wrong")
        assert (await sign_in(first, url, username="alice", password=PASSWORD)).status_code == 303
        for _ in range(4):
            await try_password(second, url, "wrong")
        assert (await sign_in(second, url, username="alice", password=PASSWORD)).status_code == 303


def test_throttle_limits_are_configurable() -> None:
    with pytest.raises(ValueError):
        IdentityProvider(account_login_limit="not a limit")


# -- the provider session -------------------------------------------------------------------


async def test_a_second_authorization_uses_the_session_and_the_remembered_consent(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    first = await sign_in(user_agent, authorization_url(idp), username="alice", password=PASSWORD)
    second = await user_agent.get(authorization_url(idp))

    assert first.status_code == 303
    assert second.status_code == 302  # no form at all: single sign-on
    assert "code=" in second.headers["location"]


async def test_prompt_login_asks_for_the_password_again_and_rotates_the_session(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    await sign_in(user_agent, authorization_url(idp), username="alice", password=PASSWORD)
    old_session = user_agent.cookies["__Host-idp_session"]
    page, _ = await open_form(user_agent, authorization_url(idp, prompt="login"))
    again = await sign_in(
        user_agent, authorization_url(idp, prompt="login"), username="alice", password=PASSWORD
    )
    new_session = user_agent.cookies["__Host-idp_session"]
    async with asgi_client(idp.app, base_url=ISSUER) as thief:
        thief.cookies.set("__Host-idp_session", old_session, domain="idp.test")
        replay = await thief.get(authorization_url(idp))

    assert again.status_code == 303
    assert new_session != old_session  # a new id at every sign-in (fixation)
    assert parse_login_form(replay.text) is not None  # the old id signs nobody in


@pytest.mark.parametrize("signed_in", [False, True])
async def test_prompt_none_never_shows_a_page(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient, signed_in: bool
) -> None:
    if signed_in:
        # Signed in for the openid scope only: profile and email were never approved.
        await sign_in(
            user_agent, authorization_url(idp, scope="openid"), username="alice", password=PASSWORD
        )
    response = await user_agent.get(authorization_url(idp, prompt="none"))

    assert response.status_code == 302
    error = httpx2.URL(response.headers["location"]).params["error"]
    assert error == ("consent_required" if signed_in else "login_required")


# -- consent --------------------------------------------------------------------------------


async def test_consent_is_asked_once_per_user_client_and_scopes(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    page, form = await open_form(user_agent, authorization_url(idp, scope="openid"))
    consent = await submit_form(user_agent, page, form, {"username": "alice", "password": PASSWORD})
    consent_form = parse_login_form(consent.text)
    assert consent.status_code == 200 and consent_form is not None
    assert consent_form.kind == "consent"
    assert "clouddocs-web" in consent.text and "<li>openid</li>" in consent.text
    approved = await submit_form(user_agent, consent, consent_form, {"consent": "allow"})

    same_scopes = await user_agent.get(authorization_url(idp, scope="openid"))
    more_scopes = await user_agent.get(authorization_url(idp, scope="openid email"))
    forced = await user_agent.get(authorization_url(idp, scope="openid", prompt="consent"))

    assert approved.status_code == 303 and "code=" in approved.headers["location"]
    assert same_scopes.status_code == 302  # remembered
    assert parse_login_form(more_scopes.text).kind == "consent"  # type: ignore[union-attr]
    assert parse_login_form(forced.text).kind == "consent"  # type: ignore[union-attr]


async def test_denying_consent_sends_access_denied_to_the_client(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    response = await sign_in(
        user_agent,
        authorization_url(idp, state="s-123"),
        username="alice",
        password=PASSWORD,
        consent=False,
    )
    params = httpx2.URL(response.headers["location"]).params
    assert response.status_code == 303
    assert params["error"] == "access_denied" and "code" not in params
    assert params["state"] == "s-123" and params["iss"] == ISSUER
    # Nothing was remembered: the next request asks again.
    again = await user_agent.get(authorization_url(idp))
    assert parse_login_form(again.text).kind == "consent"  # type: ignore[union-attr]


async def test_a_forged_consent_post_is_refused(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    # Alice is signed in (consent given for "openid" only); a cross-site page posts "allow"
    # for more scopes in her browser, without the form's token.
    await sign_in(
        user_agent, authorization_url(idp, scope="openid"), username="alice", password=PASSWORD
    )
    page, form = await open_form(user_agent, authorization_url(idp), kind="consent")
    hidden = {name: value for name, value in form.hidden_fields.items() if name != "csrf_token"}
    forged = await user_agent.post("/authorize", data=hidden | {"consent": "allow"})
    after = await user_agent.get(authorization_url(idp))

    assert forged.status_code == 403 and "location" not in forged.headers
    assert parse_login_form(after.text).kind == "consent"  # type: ignore[union-attr]


async def test_first_party_clients_skip_consent(idp: IdentityProvider) -> None:
    idp.add_client(
        "clouddocs-admin",
        secret="admin-secret-0123456789",
        redirect_uris=["https://admin.clouddocs.test/callback"],
        first_party=True,
    )
    rp = relying_party(
        idp,
        "clouddocs-admin",
        client_secret="admin-secret-0123456789",
        redirect_uri="https://admin.clouddocs.test/callback",
        scope="openid profile email",
    )
    async with asgi_client(idp.app, base_url=ISSUER) as user_agent, rp:
        url, _ = rp.create_authorization_url(
            ISSUER + "/authorize", code_verifier=generate_token(48)
        )
        page, form = await open_form(user_agent, url)
        response = await submit_form(
            user_agent, page, form, {"username": "alice", "password": PASSWORD}
        )
    assert response.status_code == 303  # straight from the password to the code
    assert "code=" in response.headers["location"]


async def test_consent_is_per_user(idp: IdentityProvider) -> None:
    idp.add_user("bob", "bob's long passphrase here")
    async with asgi_client(idp.app, base_url=ISSUER) as alice_agent, web_client(idp) as rp:
        await exchange(rp, await authorize(alice_agent, rp))
    async with asgi_client(idp.app, base_url=ISSUER) as bob_agent:
        page, form = await open_form(bob_agent, authorization_url(idp))
        response = await submit_form(
            bob_agent, page, form, {"username": "bob", "password": "bob's long passphrase here"}
        )
    assert parse_login_form(response.text).kind == "consent"  # type: ignore[union-attr]


async def test_prompt_login_then_consent_ends_with_a_code(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    # The consent page follows the fresh sign-in; it must not send the user back to the
    # password form because the request still says prompt=login.
    response = await sign_in(
        user_agent, authorization_url(idp, prompt="login"), username="alice", password=PASSWORD
    )
    assert response.status_code == 303
    assert "code=" in response.headers["location"]


async def test_single_sign_on_keeps_the_original_auth_time_and_honours_max_age() -> None:
    clock = FrozenClock()
    idp = make_provider(clock=clock)
    async with asgi_client(idp.app, base_url=ISSUER) as user_agent, web_client(idp) as rp:
        signed_in_at = int(clock.time())
        await exchange(rp, await authorize(user_agent, rp))
        clock.advance(hours=2)
        later = await exchange(rp, await authorize(user_agent, rp))  # no password: SSO
        fresh_enough = await user_agent.get(authorization_url(idp, max_age="10800"))
        too_old = await user_agent.get(authorization_url(idp, max_age="3600"))
        silent = await user_agent.get(authorization_url(idp, max_age="3600", prompt="none"))
        malformed = await user_agent.get(authorization_url(idp, max_age="soon"))
        redone = await sign_in(
            user_agent, authorization_url(idp, max_age="0"), username="alice", password=PASSWORD
        )

    claims = jwt.decode(later["id_token"], options={"verify_signature": False})
    assert claims["auth_time"] == signed_in_at  # OpenID Connect Core §2: when alice signed in
    assert claims["iat"] == signed_in_at + 7200
    assert fresh_enough.status_code == 302 and "code=" in fresh_enough.headers["location"]
    assert parse_login_form(too_old.text).kind == "login"  # type: ignore[union-attr]
    assert httpx2.URL(silent.headers["location"]).params["error"] == "login_required"
    assert httpx2.URL(malformed.headers["location"]).params["error"] == "invalid_request"
    assert redone.status_code == 303 and "code=" in redone.headers["location"]


async def test_the_provider_session_ends_after_twelve_hours() -> None:
    clock = FrozenClock()
    idp = make_provider(clock=clock)
    async with asgi_client(idp.app, base_url=ISSUER) as user_agent:
        await sign_in(user_agent, authorization_url(idp), username="alice", password=PASSWORD)
        clock.advance(hours=11, minutes=59)
        before = await user_agent.get(authorization_url(idp, prompt="none"))
        clock.advance(minutes=1)
        after = await user_agent.get(authorization_url(idp, prompt="none"))

    assert "code" in httpx2.URL(before.headers["location"]).params
    assert httpx2.URL(after.headers["location"]).params["error"] == "login_required"


async def test_the_consent_page_names_the_api_the_access_is_for(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    page, form = await open_form(user_agent, authorization_url(idp, resource=API))
    consent = await submit_form(user_agent, page, form, {"username": "alice", "password": PASSWORD})
    assert parse_login_form(consent.text).kind == "consent"  # type: ignore[union-attr]
    assert f"at {API}" in consent.text


async def test_consent_for_userinfo_is_not_consent_for_the_api(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    await sign_in(user_agent, authorization_url(idp), username="alice", password=PASSWORD)
    same_api = await user_agent.get(authorization_url(idp))
    other_api = await user_agent.get(authorization_url(idp, resource=API))

    assert same_api.status_code == 302
    assert parse_login_form(other_api.text).kind == "consent"  # type: ignore[union-attr]
