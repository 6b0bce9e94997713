"""Regression tests for the reference code chapter 2 exports (clouddocs.passwords, accounts,
lockout, csrf, audit_log, session_app): one test per finding of the chapter's security review.

Race tests use a file-backed SQLite database: the in-memory one shares a single connection
between sessions, so it cannot show what two concurrent requests do to a real database.
"""

import asyncio
import hashlib
import threading
from typing import Any

import pytest
from service_urls import database_url
from sqlalchemy import func, select

from authcourse import FrozenClock, asgi_client
from clouddocs.audit_log import AuditEvent
from clouddocs.db import Database, Tenant, User
from clouddocs.lockout import AccountLockout, LoginThrottle
from clouddocs.passwords import TEST_ARGON2, PasswordCheck, PasswordHasher
from clouddocs.ratelimit import RateDecision, RateLimiter
from clouddocs.session_app import SessionAppSettings, create_session_app
from clouddocs.sessions import SessionManager, WebSession, hash_session_id

from .conftest import ADA

ORIGIN = {"Origin": "https://clouddocs.test"}


class CountingHasher(PasswordHasher):
    """A cheap hasher that counts verifications."""

    def __init__(self) -> None:
        super().__init__(TEST_ARGON2)
        self.verifications = 0

    def check(self, stored_hash: str, password: str) -> PasswordCheck:
        self.verifications += 1
        return super().check(stored_hash, password)


def _app(database: Database, hasher: PasswordHasher | None = None, **settings: Any) -> Any:
    return create_session_app(
        SessionAppSettings(
            database=database,
            hasher=hasher or PasswordHasher(TEST_ARGON2),
            clock=FrozenClock(),
            login_rate_per_ip="1000/minute",
            **settings,
        )
    )


# Finding: the dummy hash was made lazily, so the first unknown-email login paid for an
# extra hash (a one-time timing difference).
@pytest.mark.anyio
async def test_dummy_hash_exists_before_the_first_login(memory_db: Database) -> None:
    hasher = PasswordHasher(TEST_ARGON2)

    def no_hashing_during_login(password: str) -> str:
        raise AssertionError("login hashed a password: the dummy hash was not ready")

    hasher.hash = no_hashing_during_login  # type: ignore[method-assign]
    async with asgi_client(_app(memory_db, hasher), headers=ORIGIN) as client:
        response = await client.post("/login", json={"email": "zoe@example.com", "password": "x"})
    assert response.status_code == 401
    assert hasher.dummy_hash.startswith("$argon2id$v=19$m=64,t=1,p=1$")  # at the profile


# Finding: FastAPI's default 422 echoed the rejected value (a 129-character password came
# back in the body), and a lone surrogate it could not encode turned the 422 into a 500.
@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "raw_body"),
    [
        ("/login", b'{"email": "ada@example.com", "password": "%s"}' % (b"S3cret-" * 20)),
        ("/login", b'{"email": "ada@example.com", "password": "\\ud800 secret"}'),
        (
            "/signup/activate",
            b'{"token": "t", "password": "%s", "display_name": "Z"}' % (b"S3cret-" * 20),
        ),
    ],
)
async def test_validation_errors_never_echo_what_was_sent(
    memory_db: Database, path: str, raw_body: bytes
) -> None:
    async with asgi_client(_app(memory_db), headers=ORIGIN) as client:
        response = await client.post(
            path, content=raw_body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422
    assert "S3cret" not in response.text and "secret" not in response.text
    assert response.json()["detail"][0]["loc"] == ["body", "password"]


# Finding: a malformed Referer (with Origin: null) made urlsplit raise: a 500 on every
# public and private POST.
@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/login", "/register", "/logout"])
async def test_malformed_referer_is_a_403_not_a_500(memory_db: Database, path: str) -> None:
    async with asgi_client(_app(memory_db)) as client:
        if path == "/logout":
            await client.post("/login", json=ADA, headers=ORIGIN)
        response = await client.post(
            path, json=ADA, headers={"Origin": "null", "Referer": "http://[::1"}
        )
    assert response.status_code == 403


# Finding: two sign-ups racing for one address both passed the "is it taken?" lookup and
# the loser's INSERT failed with IntegrityError: a 500 (which also revealed the race). Since
# issue 13 /register creates no account at all; racing requests still get one same 202.
@pytest.mark.anyio
async def test_racing_registrations_for_one_email_all_get_the_same_202(file_db: Database) -> None:
    body = {"email": "race@example.com"}
    async with asgi_client(_app(file_db), headers=ORIGIN) as client:
        responses = await asyncio.gather(*(client.post("/register", json=body) for _ in range(5)))
    assert {(r.status_code, r.content) for r in responses} == {(202, responses[0].content)}
    async with file_db.sessions() as db:
        count = await db.scalar(select(func.count()).where(User.email == "race@example.com"))
    assert count == 0  # nothing usable until the emailed link is followed


# Finding: "is it locked? -> verify -> count the failure" let parallel guesses all pass the
# check while the first ones were being verified, and two first failures for one name
# collided on INSERT (IntegrityError: a 500).
@pytest.mark.anyio
async def test_parallel_guesses_get_no_more_than_five_verifications(file_db: Database) -> None:
    hasher = CountingHasher()
    async with asgi_client(_app(file_db, hasher), headers=ORIGIN) as client:
        responses = await asyncio.gather(
            *(
                client.post("/login", json={"email": ADA["email"], "password": f"guess {n}"})
                for n in range(20)
            )
        )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [401] * 5 + [429] * 15
    assert hasher.verifications == 5


# Brief: the lockout must not tell whether an account exists: same statuses, bodies and
# Retry-After for a registered and an unregistered email.
@pytest.mark.anyio
async def test_lockout_answers_the_same_for_known_and_unknown_emails(memory_db: Database) -> None:
    async def seven_wrong_guesses(email: str) -> list[tuple[int, bytes, str | None]]:
        async with asgi_client(_app(memory_db), headers=ORIGIN) as client:
            answers = []
            for n in range(7):
                response = await client.post("/login", json={"email": email, "password": f"{n}"})
                answers.append(
                    (response.status_code, response.content, response.headers.get("retry-after"))
                )
            return answers

    known, unknown = await seven_wrong_guesses(ADA["email"]), await seven_wrong_guesses("z@x.test")
    assert known == unknown
    assert [status for status, _, _ in known] == [401] * 5 + [429] * 2


# Finding: lockout keys and audit events held SHA-256(email as typed): anyone with the table
# could test a list of addresses, and a password typed into the email field was stored as
# an unsalted fast hash.
@pytest.mark.anyio
async def test_lockout_table_and_audit_log_hold_no_email_or_password(memory_db: Database) -> None:
    typed = ["ada@example.com", "zoe@example.com", "my secret passphrase"]
    async with asgi_client(_app(memory_db), headers=ORIGIN) as client:
        for login_name in typed:
            for _ in range(6):
                await client.post("/login", json={"email": login_name, "password": "wrong pw"})
        await client.post("/login", json=ADA)
    async with memory_db.sessions() as db:
        keys = (await db.scalars(select(LoginThrottle.account_key))).all()
        events = (await db.scalars(select(AuditEvent))).all()
    stored = " ".join(
        [*keys, *(f"{e.event} {e.user_id} {e.account_key} {e.client_ip}" for e in events)]
    )
    assert keys and any(e.event == "account.locked" for e in events)
    for value in [*typed, "wrong pw", ADA["password"]]:
        assert value not in stored
        assert hashlib.sha256(value.encode()).hexdigest() not in stored
        assert hashlib.sha256(value.lower().encode()).hexdigest() not in stored


def test_lockout_keys_are_keyed_and_the_key_stays_private() -> None:
    first, second = AccountLockout(key=b"k" * 32), AccountLockout(key=b"k" * 32)
    assert first.account_key("Ada@Example.com ") == second.account_key("ada@example.com")
    assert AccountLockout().account_key("ada@example.com") != first.account_key("ada@example.com")
    assert "k" * 8 not in repr(first)


@pytest.mark.anyio
async def test_hit_async_counts_in_a_worker_thread_not_on_the_event_loop() -> None:
    # With Redis storage `hit` waits on the network; from async code it must not run on
    # the loop's own thread, or every request the worker serves waits with it.
    limiter = RateLimiter("2/minute")
    loop_thread = threading.get_ident()
    threads: list[int] = []
    original_hit = limiter.hit

    def recording_hit(key: str) -> RateDecision:
        threads.append(threading.get_ident())
        return original_hit(key)

    limiter.hit = recording_hit  # type: ignore[method-assign]
    decisions = [await limiter.hit_async("203.0.113.9") for _ in range(3)]
    assert [decision.allowed for decision in decisions] == [True, True, False]
    assert decisions[-1].retry_after > 0
    assert loop_thread not in threads


@pytest.mark.anyio
async def test_last_seen_is_written_at_most_once_a_minute() -> None:
    # Writing on every authenticated request made each one a database write (one writer at
    # a time on SQLite); the idle timeout only needs minute precision.
    clock = FrozenClock()
    async with database_url("sqlite+aiosqlite:///:memory:") as url:
        database = Database(url)
        try:
            await database.create_all()
            async with database.sessions() as db:
                db.add(Tenant(id=1, name="Acme"))
                db.add(User(id=1, tenant_id=1, email="ada@example.com", display_name="Ada"))
                await db.commit()
                manager = SessionManager(database, clock=clock)
                session_id = await manager.start(db, 1)
                stored = select(WebSession.last_seen_at).where(
                    WebSession.id_hash == hash_session_id(session_id)
                )
                started = await db.scalar(stored)
                assert started is not None

                clock.advance(seconds=30)
                assert await manager.resolve(session_id) is not None
                assert await db.scalar(stored) == started  # no write within the minute
                clock.advance(seconds=40)
                assert await manager.resolve(session_id) is not None
                assert await db.scalar(stored) == started + 70
                clock.advance(minutes=30, seconds=1)
                assert await manager.resolve(session_id) is None  # idle timeout still holds
        finally:
            await database.dispose()


# Issue 15: the app's error answers are part of its contract: declared in the OpenAPI with
# the headers that come with them.
def test_the_openapi_declares_the_error_responses() -> None:
    app = create_session_app(SessionAppSettings(database=Database(), clock=FrozenClock()))
    paths = app.openapi()["paths"]
    expected = {
        ("/register", "post"): {"400", "403", "429"},
        ("/signup/activate", "post"): {"400", "403", "429"},
        ("/login", "post"): {"401", "403", "429"},
        ("/me", "get"): {"401", "403"},
        ("/documents", "post"): {"401", "403"},
        ("/invitations", "post"): {"400", "401", "403"},
    }
    for (path, method), codes in expected.items():
        responses = paths[path][method]["responses"]
        assert codes <= set(responses), (path, sorted(responses))
        if "401" in codes:
            assert "WWW-Authenticate" in responses["401"]["headers"]
        if "429" in codes:
            assert "Retry-After" in responses["429"]["headers"]


# Issue 15: the session app sent no HSTS, no nosniff and no `Cache-Control: no-store` on
# `/me` (an email in the body), and read a 10 MB JSON password in full.
@pytest.mark.anyio
async def test_the_app_is_hardened(memory_db: Database) -> None:
    async with asgi_client(_app(memory_db), headers=ORIGIN) as browser:
        await browser.post("/login", json=ADA)
        me = await browser.get("/me")
        huge = await browser.post(
            "/login",
            content=b'{"email": "ada@example.com", "password": "' + b"x" * 10_000_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
    assert me.status_code == 200
    assert me.headers["cache-control"] == "no-store"
    assert me.headers["x-content-type-options"] == "nosniff"
    assert "max-age" in me.headers["strict-transport-security"]
    assert huge.status_code == 413
