"""Access tokens: lifetime, audience (RFC 8707 / RFC 9068), opaque mode, the grant's lifetime.

Each test sends the request that the property defends against, or shows the trade-off it
accepts (a revoked grant's JWT access token still verifies offline until it expires).
"""

from __future__ import annotations

from typing import Any

import httpx2
import jwt
import pytest

from authcourse.client import asgi_client
from authcourse.clock import FrozenClock
from authcourse.idp import IdentityProvider

from .conftest import (
    API,
    API_SECRET,
    ISSUER,
    SYNC_SECRET,
    WEB_SECRET,
    authorize,
    basic_auth,
    code_grant,
    exchange,
    fetch_jwks,
    make_provider,
    relying_party,
    web_client,
)

pytestmark = pytest.mark.anyio

USERINFO = ISSUER + "/userinfo"
WEB = basic_auth("clouddocs-web", WEB_SECRET)
RESOURCE_SERVER = basic_auth("docs-api", API_SECRET)


async def post(idp: IdentityProvider, path: str, data: dict[str, str], **kwargs: Any) -> Any:
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        return await client.post(path, data=data, **kwargs)


async def client_credentials(idp: IdentityProvider, **data: str) -> httpx2.Response:
    form = {"grant_type": "client_credentials", **data}
    return await post(idp, "/token", form, auth=("sync-service", SYNC_SECRET))


async def verify_access_token(idp: IdentityProvider, token: str, audience: str) -> dict[str, Any]:
    """What a resource server does offline: signature, typ, iss, aud, and exp (by the
    provider's clock, which may be a FrozenClock, rather than PyJWT's wall clock)."""
    jwks = await fetch_jwks(idp)
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    claims: dict[str, Any] = jwt.decode(
        token,
        jwks[header["kid"]].key,
        algorithms=["RS256"],
        audience=audience,
        issuer=ISSUER,
        options={"require": ["exp", "iat"], "verify_exp": False},
    )
    if idp.clock.time() >= claims["exp"]:
        raise jwt.ExpiredSignatureError("Signature has expired")
    return claims


async def refresh(idp: IdentityProvider, refresh_token: str) -> httpx2.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return await post(idp, "/token", data, headers=WEB)


# -- lifetime -------------------------------------------------------------------------------


async def test_access_tokens_live_ten_minutes_by_default() -> None:
    clock = FrozenClock()
    idp = make_provider(clock=clock)
    async with asgi_client(idp.app, base_url=ISSUER) as user_agent, web_client(idp) as rp:
        token = await exchange(rp, await authorize(user_agent, rp))
        claims = await verify_access_token(idp, token["access_token"], USERINFO)
        clock.advance(minutes=9, seconds=59)
        still_valid = await rp.get(ISSUER + "/userinfo")
        clock.advance(seconds=1)
        expired = await rp.get(ISSUER + "/userinfo")
    machine = (await client_credentials(idp)).json()

    assert token["expires_in"] == machine["expires_in"] == 600
    assert claims["exp"] - claims["iat"] == 600
    assert still_valid.status_code == 200
    assert expired.status_code == 401


async def test_access_token_lifetime_is_configurable_but_bounded() -> None:
    idp = make_provider(access_token_lifetime=300)
    assert (await client_credentials(idp)).json()["expires_in"] == 300
    with pytest.raises(ValueError):
        IdentityProvider(access_token_lifetime=0)


# -- audience -------------------------------------------------------------------------------


async def test_access_token_audience_is_the_requested_resource_not_the_client(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        authorization = await authorize(user_agent, rp, resource=API)
        token = await exchange(rp, authorization)
    claims = await verify_access_token(idp, token["access_token"], API)

    assert claims["aud"] == API
    assert claims["client_id"] == "clouddocs-web"
    # The ID token is for the client; the access token is not, so neither passes for the other.
    assert jwt.decode(token["id_token"], options={"verify_signature": False})["aud"] == (
        "clouddocs-web"
    )
    with pytest.raises(jwt.InvalidAudienceError):
        await verify_access_token(idp, token["access_token"], "clouddocs-web")


async def test_without_a_resource_the_default_resource_is_the_audience(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    machine = (await client_credentials(idp)).json()
    async with web_client(idp) as rp:
        token = await exchange(rp, await authorize(user_agent, rp))

    # sync-service registered default_resource=API; the web client registered none, so its
    # token is for the provider's own /userinfo.
    assert (await verify_access_token(idp, machine["access_token"], API))["aud"] == API
    assert (await verify_access_token(idp, token["access_token"], USERINFO))["aud"] == USERINFO


async def test_a_token_for_the_api_is_refused_at_userinfo(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        await exchange(rp, await authorize(user_agent, rp, resource=API))
        response = await rp.get(ISSUER + "/userinfo")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    "resource",
    [
        "https://unknown-api.test",  # not a registered resource server
        "https://billing.clouddocs.test",  # registered, but not for this client
        API + "#fragment",  # RFC 8707 §2: no fragment
        "api.clouddocs.test",  # not an absolute URI
    ],
)
async def test_a_resource_the_client_may_not_use_is_invalid_target(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient, resource: str
) -> None:
    idp.add_resource_server("https://billing.clouddocs.test", client_id="billing", secret="b" * 20)
    machine = await client_credentials(idp, resource=resource)
    async with web_client(idp) as rp:
        url, _ = rp.create_authorization_url(
            ISSUER + "/authorize", code_verifier="v" * 48, resource=resource
        )
    page = await user_agent.get(url)

    assert machine.status_code == 400
    assert machine.json()["error"] == "invalid_target"
    assert page.status_code == 302  # reported to the client, before any sign-in
    assert httpx2.URL(page.headers["location"]).params["error"] == "invalid_target"


async def test_the_token_request_cannot_switch_the_resource(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    async with web_client(idp) as rp:
        authorization = await authorize(user_agent, rp, resource=API)
    response = await post(
        idp, "/token", code_grant(authorization) | {"resource": USERINFO}, headers=WEB
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


# -- the JWT trade-off and the opaque mode ---------------------------------------------------


async def test_a_revoked_grants_jwt_still_verifies_offline_until_it_expires() -> None:
    clock = FrozenClock()
    idp = make_provider(clock=clock)
    async with asgi_client(idp.app, base_url=ISSUER) as user_agent, web_client(idp) as rp:
        token = await exchange(rp, await authorize(user_agent, rp, resource=API))
        await rp.revoke_token(ISSUER + "/revoke", token=token["refresh_token"])
    introspection = await post(
        idp, "/introspect", {"token": token["access_token"]}, headers=RESOURCE_SERVER
    )

    # The provider knows the grant is gone, and says so to anyone who asks...
    assert introspection.json() == {"active": False}
    # ...but a resource server verifying offline cannot know: the JWT still verifies,
    await verify_access_token(idp, token["access_token"], API)
    # until its exp, 10 minutes after issue at most.
    clock.advance(minutes=10)
    with pytest.raises(jwt.ExpiredSignatureError):
        await verify_access_token(idp, token["access_token"], API)


async def introspect(idp: IdentityProvider, token: str) -> dict[str, Any]:
    response = await post(idp, "/introspect", {"token": token}, headers=RESOURCE_SERVER)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


async def test_opaque_access_tokens_per_client_are_checked_by_introspection(
    idp: IdentityProvider,
) -> None:
    idp.add_client(
        "reporting",
        secret="reporting-secret-0123",
        grant_types=["client_credentials"],
        scope="docs:read",
        default_resource=API,
        opaque_access_tokens=True,
    )
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        issued = await client.post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=("reporting", "reporting-secret-0123"),
        )
    access_token = issued.json()["access_token"]
    active = await introspect(idp, access_token)
    await post(idp, "/revoke", {"token": access_token}, auth=("reporting", "reporting-secret-0123"))
    after_revocation = await introspect(idp, access_token)

    with pytest.raises(jwt.DecodeError):  # nothing to verify offline: it is not a JWT
        jwt.get_unverified_header(access_token)
    assert active["active"] is True and active["aud"] == API
    assert active["client_id"] == "reporting" and active["scope"] == "docs:read"
    assert after_revocation == {"active": False}  # revocation is immediate


async def test_opaque_access_tokens_per_resource_server() -> None:
    idp = make_provider()
    idp.add_resource_server(
        "https://ledger.clouddocs.test",
        client_id="ledger-api",
        secret="ledger-secret-0123456",
        opaque_access_tokens=True,
    )
    idp.add_client(
        "bookkeeper",
        secret="bookkeeper-secret-0123",
        grant_types=["client_credentials"],
        scope="docs:read",
        resources=[API, "https://ledger.clouddocs.test"],
    )
    tokens = {}
    for resource in (API, "https://ledger.clouddocs.test"):
        async with asgi_client(idp.app, base_url=ISSUER) as client:
            response = await client.post(
                "/token",
                data={"grant_type": "client_credentials", "resource": resource},
                auth=("bookkeeper", "bookkeeper-secret-0123"),
            )
        tokens[resource] = response.json()["access_token"]
    ledger = await post(
        idp,
        "/introspect",
        {"token": tokens["https://ledger.clouddocs.test"]},
        auth=("ledger-api", "ledger-secret-0123456"),
    )

    assert (await verify_access_token(idp, tokens[API], API))["aud"] == API  # a JWT
    with pytest.raises(jwt.DecodeError):
        jwt.get_unverified_header(tokens["https://ledger.clouddocs.test"])
    assert ledger.json()["active"] is True


# -- the grant's absolute lifetime ------------------------------------------------------------


async def test_refreshing_every_13_days_does_not_keep_a_grant_alive_past_30_days() -> None:
    clock = FrozenClock()
    idp = make_provider(clock=clock)
    async with asgi_client(idp.app, base_url=ISSUER) as user_agent, web_client(idp) as rp:
        token = await exchange(rp, await authorize(user_agent, rp))
    answers = []
    for _ in range(3):  # days 13, 26, 39
        clock.advance(days=13)
        response = await refresh(idp, token["refresh_token"])
        answers.append(response.json())
        if response.status_code == 200:
            token = response.json()

    assert "access_token" in answers[0] and "access_token" in answers[1]
    assert answers[2]["error"] == "invalid_grant"  # day 39: the grant ended on day 30


async def test_tokens_issued_near_the_end_of_a_grant_do_not_outlive_it() -> None:
    clock = FrozenClock()
    idp = make_provider(clock=clock)
    async with asgi_client(idp.app, base_url=ISSUER) as user_agent, web_client(idp) as rp:
        token = await exchange(rp, await authorize(user_agent, rp))
    for _ in range(2):  # refresh tokens live 14 days: rotate on days 13 and 26
        clock.advance(days=13)
        token = (await refresh(idp, token["refresh_token"])).json()
    clock.advance(days=3, hours=23, minutes=58)  # two minutes left
    last = (await refresh(idp, token["refresh_token"])).json()
    clock.advance(minutes=2)
    after = await refresh(idp, last["refresh_token"])

    assert last["expires_in"] == 120
    assert after.json()["error"] == "invalid_grant"


async def test_grant_lifetime_is_configurable() -> None:
    clock = FrozenClock()
    idp = make_provider(clock=clock, grant_lifetime=3600)
    async with asgi_client(idp.app, base_url=ISSUER) as user_agent, web_client(idp) as rp:
        token = await exchange(rp, await authorize(user_agent, rp))
    clock.advance(hours=1)
    assert (await refresh(idp, token["refresh_token"])).json()["error"] == "invalid_grant"


# -- subjects and client ids -------------------------------------------------------------------


async def test_a_client_cannot_register_a_users_subject_as_its_id(idp: IdentityProvider) -> None:
    alice = idp.add_user("alice2", "another passphrase for alice")
    with pytest.raises(ValueError, match="digits"):
        idp.add_client(alice.subject, secret="s" * 20, grant_types=["client_credentials"])
    with pytest.raises(ValueError, match="digits"):
        idp.add_resource_server("https://x.test", client_id=alice.subject, secret="s" * 20)


def test_the_store_refuses_a_collision_in_either_direction() -> None:
    from authcourse.idp.models import Client, User
    from authcourse.idp.store import MemoryStore

    store = MemoryStore()
    store.add_user(User(username="bob", subject="svc-1", password_hash="x"))
    client = Client("svc-1", None, (), (), (), "svc-1")
    with pytest.raises(ValueError, match="already"):
        store.add_client(client)
    store.add_client(Client("svc-2", None, (), (), (), "svc-2"))
    with pytest.raises(ValueError, match="already"):
        store.add_user(User(username="carol", subject="svc-2", password_hash="x"))


async def test_client_credentials_subjects_never_look_like_user_subjects(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    machine = (await client_credentials(idp)).json()
    async with web_client(idp) as rp:
        token = await exchange(rp, await authorize(user_agent, rp))
    machine_sub = (await verify_access_token(idp, machine["access_token"], API))["sub"]
    user_sub = (await verify_access_token(idp, token["access_token"], USERINFO))["sub"]

    assert machine_sub == "sync-service" and not machine_sub.isdigit()
    assert user_sub.isdigit()


# -- introspection ----------------------------------------------------------------------------


async def api_token(idp: IdentityProvider) -> str:
    token: str = (await client_credentials(idp)).json()["access_token"]
    return token


async def test_introspection_without_credentials_is_401(idp: IdentityProvider) -> None:
    response = await post(idp, "/introspect", {"token": await api_token(idp)})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "www-authenticate" in response.headers


@pytest.mark.parametrize(
    "caller",
    [("clouddocs-web", WEB_SECRET), ("sync-service", SYNC_SECRET), ("docs-api", "wrong-secret")],
    ids=["confidential-client", "token-owner", "wrong-secret"],
)
async def test_only_resource_servers_may_introspect(
    idp: IdentityProvider, caller: tuple[str, str]
) -> None:
    response = await post(idp, "/introspect", {"token": await api_token(idp)}, auth=caller)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_a_resource_server_learns_nothing_about_tokens_for_another(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    idp.add_resource_server("https://billing.clouddocs.test", client_id="billing", secret="b" * 20)
    token = await api_token(idp)
    async with web_client(idp) as rp:
        user_token = await exchange(rp, await authorize(user_agent, rp))
    billing = await post(idp, "/introspect", {"token": token}, auth=("billing", "b" * 20))
    docs = await introspect(idp, token)
    userinfo_token = await introspect(idp, user_token["access_token"])
    refresh_token = await introspect(idp, user_token["refresh_token"])

    assert docs["active"] is True
    assert billing.status_code == 200 and billing.json() == {"active": False}
    assert userinfo_token == {"active": False}  # addressed to /userinfo, not to the API
    assert refresh_token == {"active": False}  # refresh tokens are for the provider only


@pytest.mark.parametrize("path", ["/token", "/revoke"])
async def test_resource_server_credentials_work_nowhere_else(
    idp: IdentityProvider, path: str
) -> None:
    data = {"grant_type": "client_credentials", "token": await api_token(idp)}
    response = await post(idp, path, data, headers=RESOURCE_SERVER)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_authlib_client_introspects_as_a_resource_server(
    idp: IdentityProvider,
) -> None:
    token = await api_token(idp)
    async with relying_party(idp, "docs-api", client_secret=API_SECRET) as resource_server:
        response = await resource_server.introspect_token(ISSUER + "/introspect", token=token)
    body = response.json()
    assert body["active"] is True
    assert body["aud"] == API and body["sub"] == "sync-service"
