"""The backend-for-frontend (``clouddocs.bff``): tokens stay on the server, the browser gets
an HttpOnly ``__Host-`` cookie, refreshes happen once however many tabs ask, logout revokes."""

from __future__ import annotations

import asyncio
import hashlib

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from authcourse.client import browser
from authcourse.idp import sign_in
from clouddocs.bff import (
    SESSION_COOKIE,
    SESSION_LIFETIME,
    BffSettings,
    bff_sessions,
    create_bff_app,
    create_tables,
)

from .conftest import API, IDP, PASSWORD, WEB, Bff, World

pytestmark = pytest.mark.anyio


async def log_in(agent: httpx2.AsyncClient, user: str = "alice",
                 password: str = PASSWORD) -> httpx2.Response:
    """/login → provider sign-in and consent → the provider's redirect to the callback."""
    to_provider = await agent.get(WEB + "/login")
    assert to_provider.status_code == 302
    back = await sign_in(agent, to_provider.headers["location"], username=user, password=password)
    assert back.status_code in (302, 303), back.text
    return back


async def test_the_browser_holds_a_cookie_and_never_a_token(world: World, bff: Bff) -> None:
    async with browser({WEB: bff.app, IDP: world.idp.app}) as agent:
        callback = await agent.get((await log_in(agent)).headers["location"])
        me = await agent.get(WEB + "/api/me")
    assert callback.status_code == 303 and me.status_code == 200
    assert me.json()["sub"] == world.alice_subject
    set_cookie = next(value for value in callback.headers.get_list("set-cookie")
                      if value.startswith(SESSION_COOKIE))
    attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path"} <= attributes
    session_id = set_cookie.split(";")[0].split("=", 1)[1]
    async with bff.engine.connect() as connection:
        rows = (await connection.execute(select(bff_sessions))).mappings().all()
    assert [row["id_hash"] for row in rows] == [hashlib.sha256(session_id.encode()).hexdigest()]
    everything_sent = str(callback.headers) + me.text
    assert rows[0]["access_token"] not in everything_sent and "eyJ" not in everything_sent


async def test_a_callback_from_another_browsers_login_is_refused(world: World, bff: Bff) -> None:
    """Login CSRF against the BFF: mallory's callback opened in alice's browser."""
    async with browser({WEB: bff.app, IDP: world.idp.app}) as mallory:
        mallory_callback = (await log_in(mallory, "mallory", "mallory's own long password"))
    async with browser({WEB: bff.app, IDP: world.idp.app}) as alice:
        await alice.get(WEB + "/login")  # alice's own pending login, with its own state
        answer = await alice.get(mallory_callback.headers["location"])
        me = await alice.get(WEB + "/api/me")
    assert answer.status_code == 400 and me.status_code == 401


async def test_five_tabs_after_expiry_cause_one_refresh(world: World, bff: Bff) -> None:
    async with browser({WEB: bff.app, IDP: world.idp.app}) as agent:
        await agent.get((await log_in(agent)).headers["location"])
        world.clock.advance(minutes=11)
        tabs = await asyncio.gather(*(agent.get(WEB + "/api/me") for _ in range(5)))
        later = await agent.get(WEB + "/api/me")
    assert [tab.status_code for tab in tabs] == [200] * 5 and later.status_code == 200
    assert bff.idp_transport.paths.count("/token") == 2  # the code exchange, one refresh


async def test_logout_revokes_the_refresh_token_and_ends_the_session(
    world: World, bff: Bff
) -> None:
    async with browser({WEB: bff.app, IDP: world.idp.app}) as agent:
        await agent.get((await log_in(agent)).headers["location"])
        logout = await agent.post(WEB + "/logout")
        me = await agent.get(WEB + "/api/me")
    assert logout.status_code == 204 and me.status_code == 401
    assert "/revoke" in bff.idp_transport.paths
    async with bff.engine.connect() as connection:
        assert (await connection.execute(select(bff_sessions))).first() is None


async def test_a_revoked_grant_signs_the_browser_out_at_the_next_refresh(
    world: World, bff: Bff
) -> None:
    async with browser({WEB: bff.app, IDP: world.idp.app}) as agent:
        await agent.get((await log_in(agent)).headers["location"])
        async with bff.engine.connect() as connection:
            refresh_token = (await connection.execute(
                select(bff_sessions.c.refresh_token))).scalar_one()
        # The provider revokes the grant (the user removed the app, say).
        revoked = await agent.post(IDP + "/revoke", auth=("clouddocs-web", "web-secret-0123456789"),
                                   data={"token": refresh_token})
        world.clock.advance(minutes=11)
        me = await agent.get(WEB + "/api/me")
    assert revoked.status_code == 200
    assert me.status_code == 401 and me.headers["www-authenticate"].startswith("Cookie")


async def test_sessions_end_after_their_absolute_lifetime(world: World, bff: Bff) -> None:
    async with browser({WEB: bff.app, IDP: world.idp.app}) as agent:
        await agent.get((await log_in(agent)).headers["location"])
        world.clock.advance(seconds=SESSION_LIFETIME)
        me = await agent.get(WEB + "/api/me")
    assert me.status_code == 401


@pytest.mark.parametrize("cookie", [None, "made-up", "x" * 5000])
async def test_no_or_a_bad_cookie_gets_a_401_with_a_challenge(
    world: World, bff: Bff, cookie: str | None
) -> None:
    async with browser({WEB: bff.app}) as agent:
        if cookie is not None:
            agent.cookies.set(SESSION_COOKIE, cookie, domain="clouddocs.test")
        me = await agent.get(WEB + "/api/me")
    assert me.status_code == 401 and "Cookie" in me.headers["www-authenticate"]


@pytest.mark.parametrize(("change", "complaint"), [
    ({"scope": "docs:read"}, "openid"), ({"state_secret": "short"}, "32"),
])
def test_the_bff_refuses_a_weak_configuration(change: dict[str, str], complaint: str) -> None:
    settings = BffSettings(**{
        "issuer": IDP, "client_id": "clouddocs-web", "client_secret": "x" * 20,
        "redirect_uri": WEB + "/auth/callback", "api_base_url": "https://api.test",
        "state_secret": "s" * 40, "engine": create_async_engine("sqlite+aiosqlite:///:memory:"),
        **change,
    })
    with pytest.raises(ValueError, match=complaint):
        create_bff_app(settings)


def _with_iss(url: str, iss: str | None) -> str:
    """The provider's redirect with its RFC 9207 ``iss`` parameter replaced (None: removed)."""
    parsed = httpx2.URL(url)
    params = [(k, v) for k, v in parsed.params.multi_items() if k != "iss"]
    return str(parsed.copy_with(params=params + ([("iss", iss)] if iss else [])))


@pytest.mark.parametrize("iss", ["https://other-idp.test", None])
async def test_a_callback_naming_another_issuer_or_none_is_refused(
    world: World, bff: Bff, iss: str | None
) -> None:
    """Mix-up (RFC 9207): the provider announces ``iss``, so the callback must carry ours."""
    async with browser({WEB: bff.app, IDP: world.idp.app}) as agent:
        back = (await log_in(agent)).headers["location"]
        assert httpx2.URL(back).params["iss"] == IDP
        answer = await agent.get(_with_iss(back, iss))
        me = await agent.get(WEB + "/api/me")
    assert answer.status_code == 400 and me.status_code == 401
    assert "/token" not in bff.idp_transport.paths  # refused before the code left the BFF


@pytest.mark.parametrize("claims", [{"aud": "another-client"}, {"nonce": "another-nonce"},
                                    {"iss": "https://other-idp.test"}])
async def test_a_bad_id_token_is_a_clear_400_not_a_crash(
    world: World, claims: dict[str, str]
) -> None:
    """The ID token's checks fail inside Authlib with JOSE errors: a 400, never a 500."""
    from authcourse.audit.hostile_provider import HostileProvider

    provider = HostileProvider(world.clock)
    registration = provider.register(WEB + "/auth/callback", "openid docs:read", API)
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    await create_tables(engine)
    app = create_bff_app(BffSettings(
        issuer=registration.issuer, client_id=registration.client_id,
        client_secret=registration.client_secret, redirect_uri=registration.redirect_uri,
        api_base_url=API, state_secret="s" * 40, engine=engine,
        idp_transport=registration.transport, clock=world.clock))
    provider.tamper = dict(claims)
    try:
        async with browser({WEB: app, provider.issuer: provider.idp.app}) as agent:
            start = await agent.get(WEB + "/login")
            back = await provider.authorize(agent, start.headers["location"])
            answer = await agent.get(back.headers["location"])
    finally:
        await engine.dispose()
    assert answer.status_code == 400, answer.text
    assert not any(c.startswith(SESSION_COOKIE) for c in answer.headers.get_list("set-cookie"))
