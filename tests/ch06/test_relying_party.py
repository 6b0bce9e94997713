"""``clouddocs.oidc``: the relying party against the course's provider (in-process and over
loopback http), ID token validation rule by rule, the JWKS cache, discovery and the flow."""

from __future__ import annotations

import asyncio
import socket
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt import PyJWK
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from authcourse.clock import FrozenClock
from authcourse.idp import IdentityProvider, serve, sign_in
from clouddocs.oidc import (
    MAX_LEEWAY,
    Identity,
    JwksCache,
    OIDCError,
    RelyingParty,
    at_hash,
    discover,
    exchange_code,
    validate_id_token,
)

from .conftest import ACME, CALLBACK, PASSWORD, SIGNED_OUT, Acme, make_acme

pytestmark = pytest.mark.anyio


async def log_in(acme: Acme, rp: RelyingParty, username: str = "alice") -> Identity:
    session: dict[str, Any] = {}
    answer = await sign_in(acme.http, await rp.start_login(session), username=username,
                           password=PASSWORD)
    return await rp.finish_login(answer.headers["location"], session)


# --- the flow ------------------------------------------------------------------------------


async def test_a_confidential_client_logs_in_with_pkce_nonce_and_state(acme: Acme) -> None:
    rp = acme.relying_party()
    session: dict[str, Any] = {}
    query = parse_qs(urlsplit(await rp.start_login(session)).query)
    assert query["code_challenge_method"] == ["S256"]
    assert {"state", "nonce", "code_challenge"} <= query.keys()
    assert "code_verifier" not in query and "client_secret" not in str(query)
    answer = await sign_in(acme.http, await rp.start_login(session), username="alice",
                           password=PASSWORD)
    identity = await rp.finish_login(answer.headers["location"], session)
    assert identity.issuer == ACME and identity.subject.isdigit()
    assert identity.email == "alice@acme.test" and identity.email_verified
    assert identity.groups == ("docs-admins", "everyone")
    assert session == {}  # the login in progress is used up
    assert (await rp.userinfo(identity))["sub"] == identity.subject


async def test_a_public_client_logs_in_without_a_secret(acme: Acme) -> None:
    identity = await log_in(acme, acme.relying_party("clouddocs-spa", None, scope="openid"))
    assert identity.email is None and identity.groups == () and not identity.email_verified


async def test_a_replayed_callback_is_refused(acme: Acme) -> None:
    rp = acme.relying_party()
    session: dict[str, Any] = {}
    answer = await sign_in(acme.http, await rp.start_login(session), username="alice",
                           password=PASSWORD)
    await rp.finish_login(answer.headers["location"], session)
    with pytest.raises(OIDCError, match="no login"):
        await rp.finish_login(answer.headers["location"], session)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"state": "another"}, "state"),
        ({"iss": "https://login.evil.test"}, "mix-up"),
        ({"iss": None}, "does not name its issuer"),
        ({"error": "access_denied", "code": None}, "refused the login"),
        ({"code": None}, "no code"),
    ],
)
async def test_a_bent_authorization_response_is_refused_before_the_token_endpoint(
    acme: Acme, change: dict[str, str | None], reason: str
) -> None:
    rp = acme.relying_party()
    session: dict[str, Any] = {}
    answer = await sign_in(acme.http, await rp.start_login(session), username="alice",
                           password=PASSWORD)
    parameters = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}
    parameters = {k: v for k, v in {**parameters, **change}.items() if v is not None}
    acme.requests.clear()
    with pytest.raises(OIDCError, match=reason):
        await rp.finish_login(f"{CALLBACK}?{urlencode(parameters)}", session)
    assert "POST /token" not in acme.requests


async def test_a_login_left_too_long_is_refused(acme: Acme) -> None:
    rp = acme.relying_party()
    session: dict[str, Any] = {}
    answer = await sign_in(acme.http, await rp.start_login(session), username="alice",
                           password=PASSWORD)
    acme.clock.advance(minutes=11)
    with pytest.raises(OIDCError, match="too long"):
        await rp.finish_login(answer.headers["location"], session)


async def test_a_login_started_with_another_provider_is_refused(acme: Acme) -> None:
    session: dict[str, Any] = {"oidc_login": {"issuer": "https://login.evil.test", "state": "s"}}
    with pytest.raises(OIDCError, match="no login with"):
        await acme.relying_party().finish_login(f"{CALLBACK}?code=c&state=s", session)


async def test_an_id_token_for_another_app_is_refused(acme: Acme) -> None:
    photo = await log_in(acme, acme.relying_party(
        "photo-app", "photo-secret-0123456789", redirect_uri="https://photos.test/callback",
        scope="openid"))
    with pytest.raises(OIDCError, match="not for client 'clouddocs-web'"):
        await acme.relying_party().validate(photo.id_token, nonce=photo.claims["nonce"])


async def test_a_stolen_id_token_does_not_carry_the_new_logins_nonce(acme: Acme) -> None:
    rp = acme.relying_party()
    stolen = await log_in(acme, rp)
    attacker: dict[str, Any] = {}
    await rp.start_login(attacker)
    with pytest.raises(OIDCError, match="nonce"):
        await rp.validate(stolen.id_token, nonce=attacker["oidc_login"]["nonce"])


async def test_logout_url_names_the_end_session_endpoint(acme: Acme) -> None:
    rp = acme.relying_party()
    identity = await log_in(acme, rp)
    url = await rp.logout_url(identity.id_token, SIGNED_OUT)
    assert url is not None and url.startswith(ACME + "/logout?")
    answer = await acme.http.get(url)
    assert answer.status_code in (302, 303) and answer.headers["location"] == SIGNED_OUT


# --- the JWKS cache --------------------------------------------------------------------------


async def test_rotation_costs_one_download_and_concurrent_logins_share_it(acme: Acme) -> None:
    rp = acme.relying_party()
    identity = await log_in(acme, rp)
    acme.idp.rotate_keys()
    acme.clock.advance(minutes=2)
    cold = acme.relying_party()
    acme.requests.clear()
    await asyncio.gather(*(cold.validate(identity.id_token, nonce=identity.claims["nonce"])
                           for _ in range(20)))
    assert acme.requests.count("GET /jwks") == 1
    assert acme.requests.count("GET /.well-known/openid-configuration") == 1
    rotated = await log_in(acme, rp)  # the warm cache meets the new kid: one download
    assert rotated.subject == identity.subject and rp.jwks.downloads == 2


async def test_a_flood_of_unknown_kids_is_rate_limited(acme: Acme) -> None:
    rp = acme.relying_party()
    await log_in(acme, rp)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    acme.requests.clear()
    for n in range(50):
        token = jwt.encode({"iss": ACME}, forger, algorithm="RS256", headers={"kid": f"f{n}"})
        with pytest.raises(OIDCError, match="no published key"):
            await rp.validate(token, nonce="n")
    assert acme.requests.count("GET /jwks") == 0
    acme.clock.advance(seconds=60)
    with pytest.raises(OIDCError):
        await rp.validate(token, nonce="n")
    assert acme.requests.count("GET /jwks") == 1


async def test_a_failing_download_is_rate_limited_too() -> None:
    calls = 0

    async def broken() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        raise OIDCError("could not download the provider's JWKS")

    cache = JwksCache(broken, clock=FrozenClock())
    for _ in range(5):
        with pytest.raises(OIDCError):
            await cache.key_for("k", "RS256")
    assert calls == 1


async def test_keys_of_the_wrong_type_or_use_are_not_candidates() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_jwk = {**RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True), "kid": "r"}
    enc_jwk = {**rsa_jwk, "kid": "e", "use": "enc"}
    ec_jwk = {**ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "c"}

    async def fetch() -> dict[str, Any]:
        return {"keys": [rsa_jwk, enc_jwk, ec_jwk, {"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}

    cache = JwksCache(fetch, clock=FrozenClock())
    assert (await cache.key_for("r", "RS256")).key_type == "RSA"
    assert (await cache.key_for("c", "ES256")).key_type == "EC"
    # Without a kid, the one RSA signing key is the only candidate (Core §10.1).
    assert (await cache.key_for(None, "RS256")).key_id == "r"
    for kid, algorithm in (("e", "RS256"), ("r", "ES256"), ("s", "RS256")):
        with pytest.raises(OIDCError):
            await cache.key_for(kid, algorithm)


# --- ID token validation, one rule at a time -------------------------------------------------

SIGNER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY = PyJWK({**RSAAlgorithm.to_jwk(SIGNER.public_key(), as_dict=True), "kid": "k"})
NOW = 1_767_603_600


def token(changes: dict[str, Any] | None = None, *, algorithm: str = "RS256", key: Any = SIGNER,
          drop: tuple[str, ...] = ()) -> str:
    claims = {"iss": ACME, "sub": "42", "aud": "clouddocs-web", "iat": NOW, "exp": NOW + 600,
              "nonce": "n", "at_hash": at_hash("at", "RS256"), **(changes or {})}
    return jwt.encode({k: v for k, v in claims.items() if k not in drop}, key,
                      algorithm=algorithm, headers={"kid": "k"})


def check(raw: str, **options: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {"issuer": ACME, "client_id": "clouddocs-web", "nonce": "n",
                                 "now": NOW, "access_token": "at", **options}
    return validate_id_token(raw, KEY, **arguments)


@pytest.mark.parametrize(
    "accepted",
    [
        token(),
        token({"exp": NOW - 59}),
        token({"aud": ["clouddocs-web", "api"], "azp": "clouddocs-web"}),
        token({"azp": "clouddocs-web"}),
        token(drop=("at_hash",)),
    ],
)
def test_valid_tokens_are_accepted(accepted: str) -> None:
    assert check(accepted)["sub"] == "42"


@pytest.mark.parametrize(
    ("forged", "reason"),
    [
        (jwt.encode({"iss": ACME}, None, algorithm="none"), "'none'"),
        (token(algorithm="HS256", key=SIGNER.public_key().public_numbers().n.to_bytes(256, "big")),
         "HS256"),
        (token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)), "signature"),
        (token({"iss": ACME + "/"}), "issued by"),
        (token({"aud": "photo-app"}), "not for client"),
        (token({"aud": "clouddocs-web-staging"}), "not for client"),
        (token({"aud": ["clouddocs-web", "api"]}), "several audiences"),
        (token({"aud": ["clouddocs-web", "api"], "azp": "api"}), "azp"),
        (token({"azp": "api"}), "azp"),
        (token({"exp": NOW - 60}), "expired"),
        (token(drop=("exp",)), "'exp'"),
        (token({"exp": "tomorrow"}), "'exp'"),
        (token({"iat": NOW + 61}), "future"),
        (token(drop=("iat",)), "'iat'"),
        (token({"nonce": "other"}), "nonce"),
        (token(drop=("nonce",)), "nonce"),
        (token({"at_hash": at_hash("other", "RS256")}), "at_hash"),
        (token({"sub": ""}), "'sub'"),
        (token(drop=("sub",)), "'sub'"),
        ("not.a.jwt", "well-formed"),
        ("", "well-formed"),
    ],
)
def test_forged_tokens_are_refused(forged: str, reason: str) -> None:
    with pytest.raises(OIDCError, match=reason):
        check(forged)


def test_an_ec_token_is_not_verified_with_an_rsa_key() -> None:
    ec_token = jwt.encode({"iss": ACME}, ec.generate_private_key(ec.SECP256R1()),
                          algorithm="ES256", headers={"kid": "k"})
    with pytest.raises(OIDCError, match="cannot verify"):
        check(ec_token)


def test_algorithms_narrowed_by_discovery_are_enforced() -> None:
    with pytest.raises(OIDCError, match="RS256"):
        check(token(), algorithms=frozenset({"ES256"}))


def test_the_leeway_is_bounded() -> None:
    with pytest.raises(ValueError, match="leeway"):
        check(token(), leeway=MAX_LEEWAY + 1)
    with pytest.raises(ValueError, match="leeway"):
        RelyingParty(issuer=ACME, client_id="c", redirect_uri=CALLBACK, leeway=3600)


# --- discovery and the token endpoint, with a provider shaped by hand ------------------------


def fake_provider(document: dict[str, Any], seen: list[httpx2.Request] | None = None
                  ) -> httpx2.AsyncClient:
    def handle(request: httpx2.Request) -> httpx2.Response:
        if seen is not None:
            seen.append(request)
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx2.Response(200, json=document)
        return httpx2.Response(200, json={"access_token": "at", "id_token": "x.y.z",
                                          "token_type": "Bearer"})

    return httpx2.AsyncClient(transport=httpx2.MockTransport(handle))


def metadata(**changes: Any) -> dict[str, Any]:
    base = {"issuer": ACME, "authorization_endpoint": ACME + "/auth",
            "token_endpoint": ACME + "/token", "jwks_uri": ACME + "/keys"}
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (metadata(issuer="https://login.evil.test"), "names issuer"),
        (metadata(issuer=ACME + "/"), "names issuer"),
        (metadata(token_endpoint="http://login.acme.test/token"), "token_endpoint"),
        (metadata(jwks_uri=None), "jwks_uri"),
        (metadata(id_token_signing_alg_values_supported=["HS256", "none"]), "refuse"),
    ],
)
async def test_discovery_refuses_a_document_that_does_not_add_up(
    document: dict[str, Any], reason: str
) -> None:
    async with fake_provider(document) as http:
        with pytest.raises(OIDCError, match=reason):
            await discover(ACME, http)


async def test_discovery_keeps_only_safe_algorithms_and_defaults_to_rs256() -> None:
    offered = metadata(id_token_signing_alg_values_supported=["HS256", "ES256", "none"])
    async with fake_provider(offered) as http:
        assert (await discover(ACME, http)).id_token_algorithms == {"ES256"}
    async with fake_provider(metadata()) as http:
        found = await discover(ACME, http)
    assert found.id_token_algorithms == {"RS256"} and not found.iss_parameter_supported


@pytest.mark.parametrize("issuer", ["http://login.acme.test", "ftp://x", "https://x#f"])
def test_an_issuer_must_be_https_or_loopback(issuer: str) -> None:
    with pytest.raises(OIDCError, match="https"):
        RelyingParty(issuer=issuer, client_id="c", redirect_uri=CALLBACK)


@pytest.mark.parametrize(
    ("methods", "secret", "where"),
    [
        (None, "s3cr3t:+/", "basic"),
        (["client_secret_post"], "s3cr3t", "form"),
        (["client_secret_basic"], None, "public"),
    ],
)
async def test_client_authentication_follows_the_provider(
    methods: list[str] | None, secret: str | None, where: str
) -> None:
    seen: list[httpx2.Request] = []
    async with fake_provider(metadata(token_endpoint_auth_methods_supported=methods), seen) as http:
        found = await discover(ACME, http)
        await exchange_code(http, found, client_id="web app", client_secret=secret,
                            redirect_uri=CALLBACK, code="c", code_verifier="v")
    sent = seen[-1]
    form = parse_qs(sent.content.decode())
    assert form["code_verifier"] == ["v"] and form["grant_type"] == ["authorization_code"]
    if where == "basic":
        import base64

        pair = base64.b64decode(sent.headers["authorization"].removeprefix("Basic ")).decode()
        assert pair == "web+app:s3cr3t%3A%2B%2F" and "client_secret" not in form
    elif where == "form":
        assert form["client_secret"] == ["s3cr3t"] and "authorization" not in sent.headers
    else:
        assert form["client_id"] == ["web app"] and "authorization" not in sent.headers


# --- a real provider over loopback http ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_loopback_http_issuer_works_over_the_network() -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    clock = FrozenClock()
    idp: IdentityProvider = make_acme(clock, issuer)
    idp.add_client("loopback-web", secret="loopback-secret-0123456789",
                   redirect_uris=["http://127.0.0.1/callback"], first_party=True)
    with serve(idp, port=port):
        async with httpx2.AsyncClient(timeout=10) as http:
            rp = RelyingParty(issuer=issuer, client_id="loopback-web",
                              client_secret="loopback-secret-0123456789",
                              redirect_uri="http://127.0.0.1/callback", http_client=http,
                              clock=clock)
            session: dict[str, Any] = {}
            answer = await sign_in(http, await rp.start_login(session), username="alice",
                                   password=PASSWORD)
            identity = await rp.finish_login(answer.headers["location"], session)
    assert identity.issuer == issuer and identity.email == "alice@acme.test"
