"""``clouddocs.sso`` and ``clouddocs.sso_app``: accounts by (iss, sub), safe linking, roles,
sessions and logout; one regression test per attack of the chapter's "Break it"."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from sqlalchemy import func, select

from authcourse.client import browser
from authcourse.clock import FrozenClock
from authcourse.idp import IdentityProvider, sign_in
from clouddocs.accounts import register_user
from clouddocs.csrf import csrf_token_for
from clouddocs.db import Database, Tenant, User
from clouddocs.oidc import OIDCError, RelyingParty
from clouddocs.passwords import TEST_ARGON2, PasswordHasher
from clouddocs.sso import (
    AccountConflict,
    ExternalIdentity,
    LinkRequired,
    link_identity,
    provision,
    role_for_groups,
)
from clouddocs.sso_app import SsoAppSettings, TenantProvider, create_sso_app

from .conftest import ACME, CALLBACK, PASSWORD, SIGNED_OUT, WEB_SECRET, make_acme

pytestmark = pytest.mark.anyio
SITE = "https://clouddocs.test"
EVIL = "https://login.evil.test"
BOB_PASSWORD = "bob's own long password"


@dataclass
class World:
    clock: FrozenClock
    db: Database
    app: Any
    sites: dict[str, Any]
    provider_requests: list[str]
    acme_id: int


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FrozenClock()
    acme_idp = make_acme(clock)
    evil_idp = IdentityProvider(EVIL, clock=clock)
    evil_idp.add_client("clouddocs-at-evil", secret="evil-secret-0123456789",
                        redirect_uris=[CALLBACK], first_party=True)
    db = Database()
    await db.create_all()
    hasher = PasswordHasher(TEST_ARGON2)
    async with db.sessions() as s:
        acme, evil = Tenant(name="Acme"), Tenant(name="Evil Corp")
        s.add_all([acme, evil])
        await s.commit()
        await register_user(s, tenant_id=acme.id, email="bob@acme.test", display_name="Bob",
                            password=BOB_PASSWORD, hasher=hasher)
    requests: list[str] = []
    async with browser({ACME: acme_idp.app, EVIL: evil_idp.app}) as backchannel:
        async def record(request: httpx2.Request) -> None:
            requests.append(f"{request.method} {request.url.host}{request.url.path}")

        backchannel.event_hooks["request"].append(record)

        def party(issuer: str, client_id: str, secret: str) -> RelyingParty:
            return RelyingParty(issuer=issuer, client_id=client_id, client_secret=secret,
                                redirect_uri=CALLBACK, http_client=backchannel, clock=clock,
                                scope="openid email profile groups" if issuer == ACME
                                else "openid")

        providers = {
            "acme": TenantProvider(acme.id, party(ACME, "clouddocs-web", WEB_SECRET),
                                   {"docs-admins": "admin", "everyone": "member"}),
            "evil": TenantProvider(evil.id, party(EVIL, "clouddocs-at-evil",
                                                  "evil-secret-0123456789")),
        }
        app = create_sso_app(SsoAppSettings(database=db, providers=providers, hasher=hasher,
                                            clock=clock, post_logout_redirect_uri=SIGNED_OUT))
        sites = {ACME: acme_idp.app, EVIL: evil_idp.app, SITE: app}
        yield World(clock, db, app, sites, requests, acme.id)
    await db.dispose()


async def sso_login(user: httpx2.AsyncClient, tenant: str = "acme", username: str = "alice"
                    ) -> httpx2.Response:
    start = await user.get(f"{SITE}/login/{tenant}")
    assert start.status_code == 303
    answer = await sign_in(user, start.headers["location"], username=username, password=PASSWORD)
    return await user.get(answer.headers["location"])


def origin() -> dict[str, str]:
    return {"Origin": SITE}


async def test_login_opens_a_session_with_the_role_from_groups(world: World) -> None:
    async with browser(world.sites) as alice:
        welcome = await sso_login(alice)
        assert welcome.status_code == 200 and welcome.json()["role"] == "admin"
        cookie = welcome.headers.get_list("set-cookie")
        assert any(c.startswith("__Host-session=") and "HttpOnly" in c and "Secure" in c
                   for c in cookie)
        me = await alice.get(f"{SITE}/me")
        assert me.json() == {"user_id": 2, "email": "alice@acme.test", "role": "admin"}
        again = await sso_login(alice)  # same (iss, sub): same user, no new account
        assert again.json()["user_id"] == 2
    async with world.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(ExternalIdentity)) == 1


async def test_me_without_a_session_is_401_with_a_challenge(world: World) -> None:
    async with browser(world.sites) as anonymous:
        me = await anonymous.get(f"{SITE}/me")
    assert me.status_code == 401 and me.headers["www-authenticate"].startswith("Cookie")


async def test_unknown_tenant_and_callbacks_without_a_login_are_refused(world: World) -> None:
    async with browser(world.sites) as user:
        assert (await user.get(f"{SITE}/login/nobody")).status_code == 404
        bare = await user.get(f"{SITE}/auth/callback?code=c&state=s")
        assert bare.status_code == 400 and "start again" in bare.json()["detail"]


async def test_a_replayed_callback_is_refused(world: World) -> None:
    async with browser(world.sites) as alice:
        start = await alice.get(f"{SITE}/login/acme")
        answer = await sign_in(alice, start.headers["location"], username="alice",
                               password=PASSWORD)
        flow_cookie = alice.cookies.get("__Host-oidc-flow")
        assert (await alice.get(answer.headers["location"])).status_code == 200
        alice.cookies.set("__Host-oidc-flow", flow_cookie, domain="clouddocs.test")
        assert (await alice.get(answer.headers["location"])).status_code == 400


async def test_linking_needs_the_accounts_password(world: World) -> None:
    async with browser(world.sites) as bob:
        first = await sso_login(bob, username="bob")
        assert first.status_code == 409
        wrong = await bob.post(f"{SITE}/auth/link", json={"password": "a guess"}, headers=origin())
        assert wrong.status_code == 403
        retry = await bob.post(f"{SITE}/auth/link", json={"password": BOB_PASSWORD},
                               headers=origin())
        assert retry.status_code == 400  # the waiting link was used up by the wrong guess
        await sso_login(bob, username="bob")
        cross_site = await bob.post(f"{SITE}/auth/link", json={"password": BOB_PASSWORD},
                                    headers={"Origin": "https://evil.test"})
        assert cross_site.status_code == 403
        await sso_login(bob, username="bob")
        linked = await bob.post(f"{SITE}/auth/link", json={"password": BOB_PASSWORD},
                                headers=origin())
        assert linked.status_code == 200 and linked.json()["user_id"] == 1
        later = await sso_login(bob, username="bob")
        assert later.status_code == 200 and later.json() == linked.json()


async def test_logout_needs_csrf_and_returns_the_providers_logout_url(world: World) -> None:
    async with browser(world.sites) as alice:
        await sso_login(alice)
        session_id = alice.cookies.get("__Host-session")
        assert (await alice.post(f"{SITE}/logout", headers=origin())).status_code == 403
        bye = await alice.post(f"{SITE}/logout",
                               headers={**origin(), "X-CSRF-Token": csrf_token_for(session_id)})
        url = bye.json()["end_session_url"]
        query = parse_qs(urlsplit(url).query)
        assert url.startswith(ACME + "/logout?") and query["post_logout_redirect_uri"] == [SIGNED_OUT]
        assert "id_token_hint" in query
        assert (await alice.get(f"{SITE}/me")).status_code == 401
        at_provider = await alice.get(url)
        assert at_provider.headers["location"] == SIGNED_OUT


async def test_openapi_declares_the_refusals(world: World) -> None:
    async with browser(world.sites) as client:
        paths = (await client.get(f"{SITE}/openapi.json")).json()["paths"]
    assert "WWW-Authenticate" in paths["/me"]["get"]["responses"]["401"]["headers"]
    assert {"401", "403"} <= paths["/logout"]["post"]["responses"].keys()
    assert {"400", "409"} <= paths["/auth/callback"]["get"]["responses"].keys()
    assert {"400", "403", "413"} <= paths["/auth/link"]["post"]["responses"].keys()


# --- Break it: one regression test per attack ------------------------------------------------


async def test_issuer_mix_up_is_refused_before_the_code_leaves(world: World) -> None:
    async with browser(world.sites) as victim:
        await sso_login(victim)  # signed in at Acme
        evil_url = (await victim.get(f"{SITE}/login/evil")).headers["location"]
        query = {k: v[0] for k, v in parse_qs(urlsplit(evil_url).query).items()}
        honest = f"{ACME}/authorize?" + urlencode({**query, "client_id": "clouddocs-web"})
        answer = await sign_in(victim, honest, username="alice", password=PASSWORD)
        world.provider_requests.clear()
        callback = await victim.get(answer.headers["location"])
    assert callback.status_code == 400
    assert not [r for r in world.provider_requests if "evil" in r and r.endswith("/token")]
    assert world.provider_requests == []  # nothing at all was sent with the stolen code


async def test_unverified_email_cannot_take_over_an_account(world: World) -> None:
    claims = {"iss": "https://login.sloppy.test", "sub": "7", "email": "bob@acme.test",
              "email_verified": False}
    async with world.db.sessions() as s:
        with pytest.raises(AccountConflict):
            await provision(s, claims, tenant_id=world.acme_id)
        with pytest.raises(AccountConflict):
            await link_identity(s, claims, user=await s.get(User, 1))


async def test_a_verified_email_asks_for_proof_instead_of_linking(world: World) -> None:
    claims = {"iss": "https://login.other.test", "sub": "8", "email": "Bob@Acme.test",
              "email_verified": True}
    async with world.db.sessions() as s:
        with pytest.raises(LinkRequired) as needed:
            await provision(s, claims, tenant_id=world.acme_id)
        assert needed.value.user_id == 1
        assert await s.scalar(select(func.count()).select_from(ExternalIdentity)) == 0


async def test_an_identity_stays_in_its_tenant(world: World) -> None:
    claims = {"iss": ACME, "sub": "99"}
    async with world.db.sessions() as s:
        user = await provision(s, claims, tenant_id=world.acme_id)
        assert user.email.endswith("@users.invalid")  # no email: a placeholder
        with pytest.raises(OIDCError, match="another tenant"):
            await provision(s, claims, tenant_id=world.acme_id + 1)


async def test_concurrent_first_sign_ins_make_one_user() -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite+aiosqlite:///{Path(folder) / 'sso.db'}")
        await db.create_all()
        async with db.sessions() as s:
            s.add(Tenant(name="Acme"))
            await s.commit()
        claims = {"iss": ACME, "sub": "5", "email": "eve@acme.test", "email_verified": True}

        async def one() -> int:
            async with db.sessions() as s:
                return (await provision(s, claims, tenant_id=1)).id

        ids = await asyncio.gather(*(one() for _ in range(5)))
        async with db.sessions() as s:
            users = await s.scalar(select(func.count()).select_from(User))
        await db.dispose()
    assert len(set(ids)) == 1 and users == 1


@pytest.mark.parametrize(
    ("groups", "role"),
    [
        (["docs-editors"], "member"),
        (["everyone", "docs-admins", "docs-editors"], "admin"),
        (["not-docs-admins"], "viewer"),
        ([], "viewer"),
        ("docs-admins", "viewer"),  # a string is not a list of groups
        (["docs-gods"], "viewer"),  # mapped to a role that does not exist
    ],
)
def test_groups_map_to_the_most_privileged_known_role(groups: Any, role: str) -> None:
    mapping = {"docs-admins": "admin", "docs-editors": "member", "docs-gods": "superuser"}
    assert role_for_groups(groups, mapping) == role


async def test_link_attempts_are_limited_per_account(world: World) -> None:
    async with browser(world.sites) as bob:
        answers = []
        for _ in range(6):
            assert (await sso_login(bob, username="bob")).status_code == 409
            answers.append(await bob.post(f"{SITE}/auth/link", json={"password": "a guess"},
                                          headers=origin()))
    assert [a.status_code for a in answers] == [403] * 5 + [429]
    assert int(answers[-1].headers["retry-after"]) > 0


async def test_a_provider_never_reaches_another_tenants_accounts(world: World) -> None:
    claims = {"iss": EVIL, "sub": "1", "email": "bob@acme.test", "email_verified": True}
    async with world.db.sessions() as s:
        with pytest.raises(AccountConflict, match="another tenant"):
            await provision(s, claims, tenant_id=world.acme_id + 1)


async def test_abandoned_logins_are_swept(world: World) -> None:
    from clouddocs.sso_app import LoginFlow

    async with browser(world.sites) as user:
        for _ in range(3):
            await user.get(f"{SITE}/login/acme")
        world.clock.advance(minutes=11)
        await user.get(f"{SITE}/login/acme")
    async with world.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(LoginFlow)) == 1


async def test_a_relying_party_closes_the_client_it_made() -> None:
    own = RelyingParty(issuer=ACME, client_id="c", redirect_uri=CALLBACK)
    await own.aclose()
    assert own._http.is_closed
    async with httpx2.AsyncClient() as shared:
        borrowed = RelyingParty(issuer=ACME, client_id="c", redirect_uri=CALLBACK,
                                http_client=shared)
        await borrowed.aclose()
        assert not shared.is_closed


async def test_login_starts_are_limited_per_address(world: World) -> None:
    async with browser(world.sites, client_ip="198.51.100.7") as flood:
        answers = [(await flood.get(f"{SITE}/login/acme")).status_code for _ in range(31)]
    assert answers == [303] * 30 + [429]
    async with browser(world.sites, client_ip="198.51.100.8") as other:
        assert (await other.get(f"{SITE}/login/acme")).status_code == 303
