"""Malformed and hostile input: always an RFC 6749 error, never a 500, never an open redirect."""

from __future__ import annotations

from urllib.parse import quote

import httpx2
import pytest

from authcourse.client import asgi_client
from authcourse.idp import IdentityProvider

from .conftest import API_SECRET, CALLBACK, ISSUER, SYNC_SECRET, basic_auth, make_provider

SYNC = basic_auth("sync-service", SYNC_SECRET)
RESOURCE_SERVER = basic_auth("docs-api", API_SECRET)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def idp() -> IdentityProvider:
    # One provider for the whole module (key generation dominates the run time): these
    # requests are all refused, so they leave no state behind that could couple the tests.
    return make_provider()


HOSTILE_VALUES = ['"', "\\", "\x00", "é", "%", "a b", "\r\nSet-Cookie: x=1", "x" * 2049, ""]

AUTHORIZE_QUERIES = [
    "",
    "response_type=code",
    "client_id=clouddocs-web&response_type=code",
    "client_id=clouddocs-web&response_type=token&redirect_uri=" + quote(CALLBACK),
    "client_id=clouddocs-web&response_type=code%22&redirect_uri=" + quote(CALLBACK),
    "client_id=clouddocs-web&response_type=code&redirect_uri=" + quote('https://x.test/"\\'),
    "client_id=clouddocs-web&client_id=evil&response_type=code&redirect_uri=" + quote(CALLBACK),
    "client_id=clouddocs-web&response_type=code&redirect_uri=%FF%FE",
    "client_id=clouddocs-web&response_type=code&redirect_uri=" + quote(CALLBACK) + "&scope=admin",
    "client_id=clouddocs-web&response_type=code&redirect_uri=" + quote(CALLBACK) + "&prompt=none",
    "client_id=clouddocs-web&response_type=code&redirect_uri="
    + quote(CALLBACK)
    + "&code_challenge=short&code_challenge_method=S256",
    "client_id=clouddocs-web&response_type=code&redirect_uri=javascript:alert(1)",
    "&".join(f"p{i}=1" for i in range(100)),
]


def assert_safe_redirect(response: httpx2.Response) -> None:
    """A redirect is only ever to a registered redirect URI, and only to report an error."""
    if response.status_code in (301, 302, 303, 307, 308):
        location = response.headers["location"]
        assert location.startswith(CALLBACK + "?")
        assert "error=" in location and "code=" not in location


@pytest.mark.parametrize("query", AUTHORIZE_QUERIES)
async def test_malformed_authorization_requests(user_agent: httpx2.AsyncClient, query: str) -> None:
    response = await user_agent.get("/authorize?" + query)
    assert response.status_code in (200, 302, 303, 400)
    assert_safe_redirect(response)


@pytest.mark.parametrize("value", HOSTILE_VALUES)
@pytest.mark.parametrize("name", ["client_id", "redirect_uri", "state", "scope", "nonce"])
async def test_hostile_values_in_authorization_requests(
    user_agent: httpx2.AsyncClient, name: str, value: str
) -> None:
    parameters = {"response_type": "code", "client_id": "clouddocs-web", "redirect_uri": CALLBACK}
    response = await user_agent.post("/authorize", data=parameters | {name: value})
    assert response.status_code in (200, 302, 303, 400)
    assert_safe_redirect(response)


@pytest.mark.parametrize("value", HOSTILE_VALUES)
@pytest.mark.parametrize(
    "name", ["grant_type", "code", "refresh_token", "redirect_uri", "scope", "code_verifier"]
)
async def test_hostile_values_in_token_requests(
    idp: IdentityProvider, name: str, value: str
) -> None:
    data = {"grant_type": "authorization_code", "code": "abc", "redirect_uri": CALLBACK}
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        response = await client.post(
            "/token", data=data | {name: value}, headers=basic_auth("sync-service", SYNC_SECRET)
        )
    assert response.status_code in (400, 401)
    assert "error" in response.json()


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic",
        "Basic !!!",
        "Basic " + "w7/Dvg==",  # base64 of bytes that are not UTF-8
        "Basic éé",
        "Basic " + "Og==",  # ":" -> empty id and secret
        "Bearer abc",
        "Basic c3luYy1zZXJ2aWNl",  # id without a secret
    ],
)
@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
async def test_malformed_client_authentication(
    idp: IdentityProvider, path: str, authorization: str
) -> None:
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        response = await client.post(
            path,
            data={"grant_type": "client_credentials", "token": "x"},
            headers={b"Authorization": authorization.encode("latin-1")},
        )
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_client", "invalid_request")


async def test_two_client_authentication_methods_are_refused(idp: IdentityProvider) -> None:
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        response = await client.post(
            "/token",
            data={"grant_type": "client_credentials", "client_secret": SYNC_SECRET},
            headers=basic_auth("sync-service", SYNC_SECRET),
        )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"grant_type": "password", "username": "alice", "password": "x"},
        {"grant_type": "implicit"},
        {"grant_type": "refresh_token"},
        {"grant_type": "authorization_code"},
        {"grant_type": "client_credentials", "scope": "openid"},
    ],
)
async def test_missing_or_unsupported_token_parameters(
    idp: IdentityProvider, data: dict[str, str]
) -> None:
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        response = await client.post(
            "/token", data=data, headers=basic_auth("sync-service", SYNC_SECRET)
        )
    assert response.status_code == 400
    assert response.json()["error"] in (
        "invalid_request",
        "unsupported_grant_type",
        "unauthorized_client",
        "invalid_scope",
    )


async def test_revocation_and_introspection_need_a_token_parameter(idp: IdentityProvider) -> None:
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        for path, caller in (("/revoke", SYNC), ("/introspect", RESOURCE_SERVER)):
            response = await client.post(path, data={}, headers=caller)
            assert response.status_code == 400
            assert response.json()["error"] == "invalid_request"


async def test_plain_http_is_refused(idp: IdentityProvider) -> None:
    async with asgi_client(idp.app, base_url="http://idp.test") as client:
        token = await client.post("/token", data={"grant_type": "client_credentials"})
        page = await client.get("/authorize?client_id=clouddocs-web")
    assert token.status_code == 400
    assert page.status_code == 400


async def test_get_on_the_token_endpoint_is_405(idp: IdentityProvider) -> None:
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        response = await client.get("/token?grant_type=client_credentials")
    assert response.status_code == 405


async def test_repeated_parameters_are_refused(
    idp: IdentityProvider, user_agent: httpx2.AsyncClient
) -> None:
    # RFC 6749 §3.1 and §3.2: parameters MUST NOT be included more than once.
    page = await user_agent.get(
        "/authorize?response_type=code&client_id=clouddocs-web&client_id=clouddocs-spa"
        "&redirect_uri=" + quote(CALLBACK)
    )
    async with asgi_client(idp.app, base_url=ISSUER) as client:
        token = await client.post(
            "/token",
            content=b"grant_type=client_credentials&scope=docs:read&scope=openid",
            headers={"Content-Type": "application/x-www-form-urlencoded"}
            | basic_auth("sync-service", SYNC_SECRET),
        )
    assert page.status_code == 400 and "location" not in page.headers
    assert token.status_code == 400
    assert token.json()["error"] == "invalid_request"


@pytest.mark.parametrize("value", HOSTILE_VALUES)
@pytest.mark.parametrize(
    "name", ["id_token_hint", "post_logout_redirect_uri", "client_id", "state", "csrf_token"]
)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_hostile_values_at_the_logout_endpoint(
    user_agent: httpx2.AsyncClient, method: str, name: str, value: str
) -> None:
    # Never a 500, never a redirect: no redirect URI here is registered with a valid hint.
    parameters = {"post_logout_redirect_uri": "https://attacker.test/", name: value}
    if method == "GET":
        response = await user_agent.get("/logout", params=parameters)
    else:
        response = await user_agent.post("/logout", data=parameters | {"logout": "yes"})
    assert response.status_code in (200, 400)
    assert "location" not in response.headers


@pytest.mark.parametrize("value", HOSTILE_VALUES)
@pytest.mark.parametrize("name", ["username", "password", "csrf_token", "consent", "max_age"])
async def test_hostile_values_in_the_sign_in_form(
    user_agent: httpx2.AsyncClient, name: str, value: str
) -> None:
    parameters = {
        "response_type": "code",
        "client_id": "clouddocs-web",
        "redirect_uri": CALLBACK,
        "code_challenge": "x" * 43,
        "code_challenge_method": "S256",
    }
    response = await user_agent.post("/authorize", data=parameters | {name: value})
    assert response.status_code in (200, 302, 303, 400, 401, 403)
    assert_safe_redirect(response)
