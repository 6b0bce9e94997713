"""Regression tests for issue 15's token findings: each test sends the attack.

- a refresh family revoked for reuse must also end the access tokens issued from it (the
  thief's included), checked in the same statement as the denylist and the token version;
- ``iss`` compared exactly, whatever PyJWT release is installed (CVE-2024-53861);
- an HS256 key is generated or decoded from random base64url bytes, never a passphrase;
- ``typ`` compared as a media type: ``application/at+jwt`` is an access token (RFC 9068 §4);
- the app is hardened, declares its 401/429 responses, and a 405 lists every method.
"""

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from jwt import api_jwt
from service_urls import database_url

from authcourse import FrozenClock, asgi_client
from clouddocs.accounts import register_user
from clouddocs.db import Database, Tenant, User
from clouddocs.jwt_tokens import (
    HS256Secret,
    InvalidToken,
    KeyRing,
    SigningKey,
    TokenService,
    TokenSettings,
    new_hs256_key,
)
from clouddocs.passwords import TEST_ARGON2, PasswordHasher
from clouddocs.refresh_tokens import RefreshTokens
from clouddocs.token_app import TokenAppSettings, create_token_app
from clouddocs.token_revocation import VERSION_CLAIM

ISSUER, AUDIENCE = "https://clouddocs.test", "https://api.clouddocs.test"
ADA = {"email": "ada@acme.test", "password": "correct horse battery staple"}
HASHER = PasswordHasher(TEST_ARGON2)
REFRESH = "__Secure-refresh"


def _service(clock: FrozenClock | None = None) -> TokenService:
    return TokenService(
        KeyRing(new_hs256_key("k")), TokenSettings(ISSUER, AUDIENCE), clock or FrozenClock()
    )


def _signed(service: TokenService, claims: dict[str, Any], typ: str | None = "at+jwt") -> str:
    key = service.keys.current
    header: dict[str, Any] = {"kid": key.kid} | ({"typ": typ} if typ is not None else {})
    return jwt.encode(claims, key.private_key, algorithm="HS256", headers=header)


def _claims(service: TokenService, **changes: Any) -> dict[str, Any]:
    return {**service.verify(service.issue("1")), **changes}


@pytest.fixture
async def app_and_db(tmp_path: Path) -> AsyncIterator[tuple[Any, Database, TokenService]]:
    async with database_url(f"sqlite+aiosqlite:///{tmp_path / 'clouddocs.db'}") as url:
        db = Database(url)
        await db.create_all()
        async with db.sessions() as session:
            session.add(Tenant(id=1, name="Acme"))
            await session.commit()
            await register_user(session, tenant_id=1, display_name="Ada", hasher=HASHER, **ADA)
        service = _service()
        settings = TokenAppSettings(
            db=db,
            tokens=service,
            refresh=RefreshTokens(service),
            hasher=HASHER,
            login_rate_per_ip="1000/minute",
        )
        yield create_token_app(settings), db, service
        await db.dispose()


async def _log_in(client: Any) -> str:
    response = await client.post("/auth/login", json=ADA)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- refresh reuse ends the family's access tokens -----------------------------------------
@pytest.mark.anyio
async def test_refresh_reuse_kills_the_thiefs_access_token(app_and_db: Any) -> None:
    app, _db, service = app_and_db
    async with asgi_client(app) as ada, asgi_client(app) as mallory:
        await _log_in(ada)
        stolen = ada.cookies[REFRESH]
        mallory.cookies.set(REFRESH, stolen, domain="clouddocs.test", path="/auth/refresh")
        thief = await mallory.post("/auth/refresh")  # Mallory refreshes first ...
        assert thief.status_code == 200
        thiefs_access = thief.json()["access_token"]
        assert (await mallory.get("/me", headers=_bearer(thiefs_access))).status_code == 200
        assert (await ada.post("/auth/refresh")).status_code == 401  # ... Ada's reuse is seen
        service.clock.advance(minutes=9)  # the thief's token has not expired
        assert (await mallory.get("/me", headers=_bearer(thiefs_access))).status_code == 401


@pytest.mark.anyio
async def test_logging_a_device_out_ends_every_access_token_of_its_family(
    app_and_db: Any,
) -> None:
    app, _db, _service_ = app_and_db
    async with asgi_client(app) as device, asgi_client(app) as other_device:
        first = await _log_in(device)
        second = (await device.post("/auth/refresh")).json()["access_token"]
        elsewhere = await _log_in(other_device)
        assert (await device.delete("/auth/refresh", headers=_bearer(second))).status_code == 204
        assert (await device.get("/me", headers=_bearer(first))).status_code == 401
        assert (await other_device.get("/me", headers=_bearer(elsewhere))).status_code == 200


@pytest.mark.anyio
async def test_an_access_token_without_a_family_is_refused(app_and_db: Any) -> None:
    app, _db, service = app_and_db
    no_family = service.issue("1", claims={VERSION_CLAIM: 0})  # signed by us, but no sid
    async with asgi_client(app) as client:
        assert (await client.get("/me", headers=_bearer(no_family))).status_code == 401


# --- iss compared exactly ------------------------------------------------------------------
LOOKALIKE_ISSUERS = [
    "https://clouddocs.tes",  # a prefix of ours
    "clouddocs.test",  # a suffix
    "https://clouddocs.test.evil.example",  # ours as a prefix
    "https://evil.example/https://clouddocs.test",  # ours as a suffix
    "",
]


@pytest.mark.parametrize("issuer", LOOKALIKE_ISSUERS)
def test_an_issuer_that_only_resembles_ours_is_refused(issuer: str) -> None:
    service = _service()
    with pytest.raises(InvalidToken):
        service.verify(_signed(service, _claims(service, iss=issuer)))


def _substring_issuer_check(self: Any, payload: dict[str, Any], issuer: Any) -> None:
    # What PyJWT 2.10.0 did for a string issuer (CVE-2024-53861): a substring test.
    if issuer is not None and payload["iss"] not in issuer:
        raise jwt.InvalidIssuerError("Invalid issuer")


@pytest.mark.parametrize("issuer", ["https://clouddocs.tes", "clouddocs.test", ""])
def test_the_issuer_is_exact_even_with_pyjwt_2_10_0(
    issuer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_jwt.PyJWT, "_validate_iss", _substring_issuer_check)
    service = _service()
    token = _signed(service, _claims(service, iss=issuer))
    key, frozen_time = service.keys.current.private_key, {"verify_exp": False, "verify_iat": False}
    # The vulnerable check alone lets it through ...
    jwt.decode(token, key, ["HS256"], issuer=ISSUER, audience=AUDIENCE, options=frozen_time)
    with pytest.raises(InvalidToken, match="wrong issuer"):
        service.verify(token)  # ... ours does not


# --- HS256 keys ----------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_an_hs256_key_is_never_raw_bytes() -> None:
    for raw in (b"password" * 4, secrets.token_bytes(32)):
        with pytest.raises(TypeError, match="HS256Secret"):
            SigningKey("k", "HS256", raw)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            HS256Secret(raw)


# (what the text is, the text): named ids, since some texts are random (pytest-xdist needs
# every worker to collect the same test ids)
NOT_A_KEY = {
    "a passphrase, 32 bytes": _b64(b"password" * 4),
    "a longer passphrase": _b64(b"correct horse battery staple, 2026!"),
    "32 zero bytes": _b64(bytes(32)),
    "a repeated pattern": _b64(bytes(range(8)) * 4),
    "16 random bytes (128 bits)": _b64(secrets.token_bytes(16)),
    "not base64url": "not base64url at all!",
    "the standard base64 alphabet": secrets.token_hex(32) + "+/",
    "empty": "",
}


@pytest.mark.parametrize("text", NOT_A_KEY.values(), ids=NOT_A_KEY.keys())
def test_hs256_keys_from_text_must_be_32_random_bytes(text: str) -> None:
    with pytest.raises(ValueError):
        HS256Secret.from_base64url(text)


def test_generated_and_stored_random_keys_work() -> None:
    generated = HS256Secret.generate()
    assert len(generated) == 32 and generated != HS256Secret.generate()
    stored = HS256Secret.from_base64url(secrets.token_urlsafe(32))
    assert len(stored) == 32
    service = TokenService(
        KeyRing(SigningKey("k", "HS256", stored)), TokenSettings(ISSUER, AUDIENCE)
    )
    assert service.verify(service.issue("7"))["sub"] == "7"
    assert "•••" in repr(stored) and stored.hex() not in repr(stored) + str(stored)


# --- typ ---------------------------------------------------------------------------------
@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+JWT"])
def test_an_access_token_type_is_accepted_in_either_spelling(typ: str) -> None:
    service = _service()
    assert service.verify(_signed(service, _claims(service), typ=typ))["sub"] == "1"


@pytest.mark.parametrize(
    "typ",
    [
        None,
        "JWT",
        "jwt",
        "refresh+jwt",
        "application/refresh+jwt",
        " at+jwt",
        "at+jwt2",
        "application/application/at+jwt",
        "text/at+jwt",
    ],
)
def test_other_token_types_are_refused(typ: str | None) -> None:
    service = _service()
    with pytest.raises(InvalidToken, match="wrong token type"):
        service.verify(_signed(service, _claims(service), typ=typ))


# --- the app: hardened, declared, 405 ------------------------------------------------------
@pytest.mark.anyio
async def test_the_app_is_hardened(app_and_db: Any) -> None:
    app, _db, _service_ = app_and_db
    async with asgi_client(app) as client:
        access = await _log_in(client)
        me = await client.get("/me", headers=_bearer(access))
        huge = await client.post(
            "/auth/login",
            content=b"{" + b" " * (2 * 2**20) + b"}",
            headers={"content-type": "application/json"},
        )
    assert me.status_code == 200 and me.headers["cache-control"] == "no-store"
    assert me.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" in me.headers  # asgi_client speaks https://
    assert huge.status_code == 413


@pytest.mark.anyio
async def test_a_405_lists_every_method_the_path_serves(app_and_db: Any) -> None:
    app, _db, _service_ = app_and_db
    async with asgi_client(app) as client:
        for method in ("OPTIONS", "PUT", "GET"):
            response = await client.request(method, "/auth/refresh")
            assert response.status_code == 405, method
            assert response.headers["allow"] == "DELETE, POST", method


@pytest.mark.anyio
async def test_the_openapi_document_declares_401_and_429_with_their_headers(
    app_and_db: Any,
) -> None:
    app, _db, _service_ = app_and_db
    paths = app.openapi()["paths"]
    for path, method in (
        ("/me", "get"),
        ("/auth/refresh", "post"),
        ("/auth/refresh", "delete"),
        ("/auth/logout-everywhere", "post"),
        ("/auth/login", "post"),
    ):
        unauthorized = paths[path][method]["responses"]["401"]
        assert "WWW-Authenticate" in unauthorized["headers"], (path, method)
    login = paths["/auth/login"]["post"]["responses"]
    assert "Retry-After" in login["429"]["headers"] and "413" in login


# --- the revocation check never rolls back another request's work ---------------------------
@pytest.mark.anyio
async def test_the_revocation_check_leaves_other_requests_work_alone(app_and_db: Any) -> None:
    app, db, _service_ = app_and_db
    async with asgi_client(app) as client:
        access = await _log_in(client)
        async with db.sessions() as other_request:
            other_request.add(User(tenant_id=1, email="bob@acme.test", display_name="Bob"))
            await other_request.flush()  # written, not committed, while /me runs its check
            answers = await asyncio.gather(
                *(client.get("/me", headers=_bearer(access)) for _ in range(3))
            )
            await other_request.commit()
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    async with db.sessions() as session:
        assert await session.get(User, 2) is not None
