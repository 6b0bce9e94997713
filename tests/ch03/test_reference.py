"""Regression tests for the reference code chapter 3 exports (clouddocs.jwt_tokens,
token_revocation, refresh_tokens, token_app, jwks; gathered in clouddocs.tokens): one test per
finding of the chapter's security review.

Race tests use a file-backed SQLite database: the in-memory one shares a single connection
between sessions, so it cannot show what two concurrent requests do to a real database.
"""

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from service_urls import database_url
from sqlalchemy import select

import clouddocs.token_app as token_app_module
from authcourse import FrozenClock, asgi_client
from authcourse.checks.racing import racing_sessions
from clouddocs.accounts import register_user
from clouddocs.audit_log import AuditEvent
from clouddocs.db import Database, Tenant
from clouddocs.passwords import TEST_ARGON2, PasswordHasher
from clouddocs.tokens import (
    DeniedToken,
    KeyRing,
    RefreshFamily,
    RefreshTokens,
    TokenAppSettings,
    TokenService,
    TokenSettings,
    TokenVersion,
    bump_token_version,
    create_token_app,
    deny,
    end_all_sessions,
    new_hs256_key,
)

ISSUER, AUDIENCE = "https://clouddocs.test", "https://api.clouddocs.test"
ADA = {"email": "ada@acme.test", "password": "correct horse battery staple"}
BOB = {"email": "bob@acme.test", "password": "another long passphrase"}
HASHER = PasswordHasher(TEST_ARGON2)


async def _database(url: str) -> Database:
    database = Database(url)
    await database.create_all()
    async with database.sessions() as session:
        session.add(Tenant(id=1, name="Acme"))
        await session.commit()
        for person in (ADA, BOB):
            await register_user(
                session, tenant_id=1, display_name=person["email"], hasher=HASHER, **person
            )
    return database


@pytest.fixture
async def memory_db() -> AsyncIterator[Database]:
    async with database_url("sqlite+aiosqlite:///:memory:") as url:
        database = await _database(url)
        yield database
        await database.dispose()


@pytest.fixture
async def file_db(tmp_path: Path) -> AsyncIterator[Database]:
    async with database_url(f"sqlite+aiosqlite:///{tmp_path / 'clouddocs.db'}") as url:
        database = await _database(url)
        yield database
        await database.dispose()


def _settings(database: Database, **overrides: Any) -> TokenAppSettings:
    service = TokenService(
        KeyRing(new_hs256_key("k")), TokenSettings(ISSUER, AUDIENCE), FrozenClock()
    )
    options: dict[str, Any] = {"login_rate_per_ip": "1000/minute", **overrides}
    return TokenAppSettings(
        db=database, tokens=service, refresh=RefreshTokens(service), hasher=HASHER, **options
    )


async def _log_in(client: Any, person: dict[str, str] = ADA) -> str:
    response = await client.post("/auth/login", json=person)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# Finding (gap): /auth/login had no brute-force protection. It now composes chapter 2's
# per-account lockout (counted before the password check) and per-IP rate limit.
@pytest.mark.anyio
async def test_login_locks_an_account_after_five_failures(memory_db: Database) -> None:
    settings = _settings(memory_db)
    async with asgi_client(create_token_app(settings)) as client:
        wrong = {"email": ADA["email"], "password": "not the password"}
        statuses = [(await client.post("/auth/login", json=wrong)).status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        locked = await client.post("/auth/login", json=ADA)
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        assert "access_token" not in locked.text and "set-cookie" not in locked.headers
        clock = settings.tokens.clock
        assert isinstance(clock, FrozenClock)
        clock.advance(minutes=15, seconds=1)
        assert (await client.post("/auth/login", json=ADA)).status_code == 200


@pytest.mark.anyio
async def test_login_is_rate_limited_per_ip(memory_db: Database) -> None:
    app = create_token_app(_settings(memory_db, login_rate_per_ip="3/minute"))
    async with asgi_client(app, client_ip="198.51.100.1") as sprayer:
        statuses = []
        for name in ("a", "b", "c", "d"):
            body = {"email": f"{name}@acme.test", "password": "Winter2025!"}
            statuses.append((await sprayer.post("/auth/login", json=body)).status_code)
        refused = await sprayer.post("/auth/login", json=ADA)
    assert statuses == [401, 401, 401, 429]
    assert refused.status_code == 429 and "retry-after" in refused.headers
    async with asgi_client(app, client_ip="198.51.100.2") as someone_else:
        assert (await someone_else.post("/auth/login", json=ADA)).status_code == 200


# Finding (gap): the module had its own 401 helper; it now uses chapter 1's, so every 401
# carries the realm and Cache-Control: no-store like the rest of CloudDocs.
@pytest.mark.anyio
async def test_401s_come_from_chapter_1(memory_db: Database) -> None:
    async with asgi_client(create_token_app(_settings(memory_db))) as client:
        missing = await client.get("/me")
        invalid = await client.get("/me", headers=_bearer("not.a.jwt"))
        refresh = await client.post("/auth/refresh")
        failed_login = await client.post("/auth/login", json={**ADA, "password": "nope"})
    assert missing.headers["www-authenticate"] == 'Bearer realm="clouddocs"'
    assert invalid.headers["www-authenticate"] == 'Bearer realm="clouddocs", error="invalid_token"'
    assert refresh.status_code == 401 and "error=" not in refresh.headers["www-authenticate"]
    assert failed_login.headers["www-authenticate"].startswith("Bearer")
    for response in (missing, invalid, refresh, failed_login):
        assert response.headers["cache-control"] == "no-store"


# Finding: VerificationKey's repr printed the HS256 secret (in a notebook, a traceback or a
# log line showing the verifier's keys).
def test_verification_keys_never_show_the_secret() -> None:
    ring = KeyRing(new_hs256_key("k"))
    secret = bytes(ring.current.private_key)
    shown = repr(ring.verification_keys()) + repr(ring.current) + str(ring.current.private_key)
    assert repr(secret) not in shown and secret.hex() not in shown


# Finding: deny() looked the jti up, then inserted: two logouts of one token at once (a
# double click) raised IntegrityError, a 500.
@pytest.mark.anyio
async def test_two_concurrent_logouts_of_one_token_never_fail(file_db: Database) -> None:
    app = create_token_app(_settings(file_db))
    async with asgi_client(app) as client:
        access = await _log_in(client)
        answers = await asyncio.gather(
            *(client.delete("/auth/refresh", headers=_bearer(access)) for _ in range(2))
        )
        # Whichever logout commits first denies the token; the other either got past its
        # token check before that (204) or after (401). Never a 500.
        assert sorted(answer.status_code for answer in answers) in ([204, 204], [204, 401])
        assert (await client.get("/me", headers=_bearer(access))).status_code == 401
    async with file_db.sessions() as session:
        assert len((await session.scalars(select(DeniedToken))).all()) == 1


@pytest.mark.anyio
async def test_deny_twice_in_parallel_sessions(file_db: Database) -> None:
    claims = {"jti": "same-token", "exp": 2_000_000_000}

    async def deny_once() -> None:
        async with file_db.sessions() as session:
            await deny(session, claims)

    await asyncio.gather(deny_once(), deny_once())


# Finding: bump_token_version read, added one and wrote back: two concurrent "log out
# everywhere" raised IntegrityError (both inserted the first row) or lost a bump. The
# sessions run in autocommit and take turns after each statement, so both UPDATEs match no
# row before either INSERTs, as on PostgreSQL (SQLite's write lock would serialise them).
@pytest.mark.anyio
async def test_concurrent_version_bumps_both_count(file_db: Database) -> None:
    sessions = racing_sessions(file_db, autocommit=True)

    async def bump() -> None:
        async with sessions() as session:
            await bump_token_version(session, 1)

    await asyncio.gather(bump(), bump())
    await asyncio.gather(bump(), bump())
    async with file_db.sessions() as session:
        assert await session.scalar(select(TokenVersion.version)) == 4


# Finding: "log out everywhere" bumped the version and then revoked the refresh families;
# a refresh landing in between rotated its (still live) family and read the *new* version,
# so its access token survived the logout. Now families are revoked first and a refresh
# re-checks its family after reading the version.
@pytest.mark.anyio
async def test_refresh_racing_logout_everywhere_gets_no_valid_token(
    memory_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(memory_db)
    app = create_token_app(settings)
    read_version = token_app_module.current_version
    racing = {"armed": False}

    async def logout_everywhere_lands_first(session: Any, user_id: int) -> int:
        # The refresh has rotated its token; "log out everywhere" completes right now.
        if racing.pop("armed", False):
            async with memory_db.sessions() as other:
                await end_all_sessions(other, user_id, "logout everywhere")
        return await read_version(session, user_id)

    monkeypatch.setattr(token_app_module, "current_version", logout_everywhere_lands_first)
    async with asgi_client(app) as client:
        await _log_in(client)
        racing["armed"] = True
        response = await client.post("/auth/refresh")
    assert response.status_code == 401, response.text
    assert "access_token" not in response.text


# Finding: logout revoked the family of whatever refresh cookie came with the request,
# even one belonging to another user.
@pytest.mark.anyio
async def test_logout_does_not_revoke_another_users_refresh_family(memory_db: Database) -> None:
    app = create_token_app(_settings(memory_db))
    async with asgi_client(app) as ada, asgi_client(app) as bob:
        await _log_in(ada)
        stolen = ada.cookies["__Secure-refresh"]
        bob_access = await _log_in(bob, BOB)
        bob.cookies.set("__Secure-refresh", stolen, domain="clouddocs.test", path="/auth/refresh")
        assert (await bob.delete("/auth/refresh", headers=_bearer(bob_access))).status_code == 204
        assert (await ada.post("/auth/refresh")).status_code == 200
    async with memory_db.sessions() as session:
        reasons = (await session.scalars(select(RefreshFamily.revoked_reason))).all()
    assert reasons == [None, None]  # Bob sent Ada's cookie, not his own: nothing revoked


# Finding: a signed token whose exp was NaN or Infinity (JSON parsers accept both) never
# expired; and a signed sub of thousands of digits made is_revoked raise (a 500).
@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "raw_value"),
    [
        ("exp", "NaN"),
        ("exp", "Infinity"),
        ("exp", "1e400"),
        ("sub", '"' + "9" * 5000 + '"'),
        ("sub", '"99999999999999999999999"'),
    ],
)
async def test_signed_but_absurd_claims_are_401_not_accepted_or_500(
    memory_db: Database, name: str, raw_value: str
) -> None:
    settings = _settings(memory_db)
    now = int(settings.tokens.clock.time())
    fields = {
        "iss": json.dumps(ISSUER),
        "aud": json.dumps(AUDIENCE),
        "sub": '"1"',
        "iat": str(now),
        "exp": str(now + 600),
        "jti": '"j"',
        "ver": "0",
        "sid": '"family"',
        name: raw_value,
    }
    payload = "{" + ",".join(f'"{key}":{value}' for key, value in fields.items()) + "}"
    header = {"alg": "HS256", "typ": "at+jwt", "kid": "k"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(payload.encode())}"
    secret = settings.tokens.keys.current.private_key
    assert isinstance(secret, bytes)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{_b64(signature)}"
    async with asgi_client(create_token_app(settings)) as client:
        response = await client.get("/me", headers=_bearer(token))
    assert response.status_code == 401


# Fuzzing the endpoints: malformed input is a 4xx, never a 500.
@pytest.mark.anyio
async def test_malformed_requests_are_4xx(memory_db: Database) -> None:
    settings = _settings(memory_db)
    secret = settings.tokens.keys.current.private_key
    odd_claims = [{"jti": None}, {"jti": 5}, {"jti": ["a"]}, {"ver": "0"}, {"sub": "abc"}]
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "1", "iat": 0, "exp": 0, "jti": "j", "ver": 0}
    now = int(settings.tokens.clock.time())
    odd_tokens = [
        jwt.encode(
            {**base, "iat": now, "exp": now + 60, **change},
            secret,
            algorithm="HS256",
            headers={"typ": "at+jwt", "kid": "k"},
        )
        for change in odd_claims
    ]
    async with asgi_client(create_token_app(settings)) as client:
        for body in (b"", b"null", b"[]", b'{"email": 1, "password": 2}', b"\xff\xfe"):
            response = await client.post(
                "/auth/login", content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code == 422, body
        too_long = {"email": ADA["email"], "password": "x" * 129}
        assert (await client.post("/auth/login", json=too_long)).status_code == 422
        for header in ("Bearer", "Basic abc", "Bearer a.b.c.d", "Bearer " + "a" * 20_000):
            response = await client.get("/me", headers={"Authorization": header})
            assert response.status_code == 401, header
        for token in odd_tokens:
            assert (await client.get("/me", headers=_bearer(token))).status_code == 401
            assert (await client.delete("/auth/refresh", headers=_bearer(token))).status_code == 401
        for cookie in ("", "x", "a.b.c", "x" * 3000):
            client.cookies.set(
                "__Secure-refresh", cookie, domain="clouddocs.test", path="/auth/refresh"
            )
            assert (await client.post("/auth/refresh")).status_code == 401, cookie


# Finding: FastAPI's default 422 echoes each bad value back in ``input``; an over-long
# password came back in the response body (and into whatever logs response bodies).
@pytest.mark.anyio
async def test_a_422_never_echoes_the_password(memory_db: Database) -> None:
    password = "my secret passphrase " * 7  # 147 characters: over the 128 limit
    async with asgi_client(create_token_app(_settings(memory_db))) as client:
        response = await client.post(
            "/auth/login", json={"email": ADA["email"], "password": password}
        )
    assert response.status_code == 422
    assert "my secret passphrase" not in response.text
    assert response.json()["detail"][0]["loc"] == ["body", "password"]


# Finding: refreshes were not audited, and neither was the reuse of a spent refresh token,
# the clearest sign that a token was stolen (the checklist: log login, logout, failure, refresh).
@pytest.mark.anyio
async def test_refresh_and_refresh_reuse_are_audited(memory_db: Database) -> None:
    app = create_token_app(_settings(memory_db))
    async with asgi_client(app, client_ip="198.51.100.7") as client:
        await _log_in(client)
        spent = client.cookies["__Secure-refresh"]
        assert (await client.post("/auth/refresh")).status_code == 200
        client.cookies.set("__Secure-refresh", spent, domain="clouddocs.test", path="/auth/refresh")
        assert (await client.post("/auth/refresh")).status_code == 401
    async with memory_db.sessions() as session:
        events = (await session.execute(select(AuditEvent.event, AuditEvent.user_id))).all()
    assert [tuple(row) for row in events] == [
        ("login.succeeded", 1),
        ("token.refreshed", 1),
        ("token.refresh_reused", 1),
    ]
