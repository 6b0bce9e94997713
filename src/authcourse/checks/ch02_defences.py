"""Chapter 2 lab checks, exercises 02.4–02.7: CSRF, atomic lockout, enumeration-safe
authentication, and the attack-then-fix on a leaky login.

Split from ``ch02`` (02.1–02.3: hashing, policy, sessions), which imports this module so
that loading chapter 2 registers all seven. Each case builds its own database, clock and
app (``ch02_support``) and runs the learner's code for real.
"""

import asyncio
import hashlib
import secrets

from fastapi import FastAPI

from authcourse.checks import exercise, expect, expect_equal
from authcourse.checks.ch02_support import (
    CountingHasher,
    as_text,
    attempts,
    closes_databases,
    csrf_app,
    csrf_post,
    database_with_users,
    lockout_for,
    plain,
    spy_on_compare_digest,
)
from authcourse.checks.core import Namespace
from authcourse.client import asgi_client
from authcourse.lab_helpers.ch02 import create_leaky_login_app
from clouddocs.accounts import PasswordCredential
from clouddocs.db import User
from clouddocs.passwords import TEST_ARGON2, Argon2Profile, PasswordHasher

ORIGIN = "https://clouddocs.test"
SESSION_COOKIE = "__Host-session"


# --------------------------------------------------------------------------------------
# 02.4 CSRF dependency
# --------------------------------------------------------------------------------------

ex4 = exercise(
    "02.4",
    "A CSRF dependency: session-bound token plus Origin check",
    points=3,
    needs=("csrf_token_for", "verify_csrf"),
    answered_by=("clouddocs.csrf.csrf_token_for", "clouddocs.csrf.CsrfProtection"),
    hints=(
        "csrf_token_for: hmac.new(session_id.encode(), b'some label', hashlib.sha256), then base64url.",
        "verify_csrf: GET/HEAD/OPTIONS pass; otherwise check Origin first, then the header.",
        "Compare with hmac.compare_digest(submitted.encode(), expected.encode()), never ==.",
    ),
)


@ex4.case("a same-origin POST with this session's token is accepted", positive=True)
async def _(ns: Namespace) -> None:
    session_id = secrets.token_urlsafe(32)
    token = plain(ns["csrf_token_for"](session_id), "csrf_token_for")
    expect(
        isinstance(token, str) and token != "",
        "computing the token of a session",
        "a non-empty string to send in X-CSRF-Token",
        repr(token),
    )
    status = await csrf_post(ns, session_id=session_id, token=token)
    expect_equal(status, 200, "POSTing with Origin https://clouddocs.test and the session's token")


@ex4.case("a POST without a token is refused with 403")
async def _(ns: Namespace) -> None:
    status = await csrf_post(ns, session_id=secrets.token_urlsafe(32), token=None)
    expect_equal(status, 403, "POSTing from our origin, with a session cookie but no X-CSRF-Token")


@ex4.case("a token that belongs to another session is refused")
async def _(ns: Namespace) -> None:
    other_token = ns["csrf_token_for"](secrets.token_urlsafe(32))
    status = await csrf_post(ns, session_id=secrets.token_urlsafe(32), token=other_token)
    expect_equal(status, 403, "POSTing with a valid token of a different session")


@ex4.case("a POST from another origin is refused, even with the right token")
async def _(ns: Namespace) -> None:
    session_id = secrets.token_urlsafe(32)
    token = ns["csrf_token_for"](session_id)
    status = await csrf_post(ns, session_id=session_id, token=token, origin="https://evil.test")
    expect_equal(status, 403, "POSTing with Origin https://evil.test and the right token")


@ex4.case("GET requests pass without a token")
async def _(ns: Namespace) -> None:
    async with asgi_client(csrf_app(ns["verify_csrf"])) as client:
        status = (await client.get("/documents")).status_code
    expect_equal(status, 200, "GET /documents with no token and no Origin")


@ex4.case("the token is neither the session id nor the same for two sessions")
def _(ns: Namespace) -> None:
    first, second = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    token = ns["csrf_token_for"](first)
    expect(
        token != first,
        "computing a session's token",
        "a value other than the session id",
        "the session id",
    )
    expect(
        token != ns["csrf_token_for"](second),
        "computing tokens for two sessions",
        "two different tokens",
        "the same token",
    )


@ex4.case("the token is compared in constant time (hmac.compare_digest, not ==)")
async def _(ns: Namespace) -> None:
    session_id = secrets.token_urlsafe(32)
    token = ns["csrf_token_for"](session_id)
    with spy_on_compare_digest([ns["verify_csrf"], ns["csrf_token_for"]]) as calls:
        await csrf_post(ns, session_id=session_id, token=token)
    compared = any(token in (as_text(a), as_text(b)) for a, b in calls)
    expect(
        compared,
        "POSTing a valid token and watching hmac.compare_digest",
        "the submitted token passed to hmac.compare_digest",
        "no constant-time comparison of the token",
    )


# --------------------------------------------------------------------------------------
# 02.5 Lockout: count first, atomically, on the injected clock
# --------------------------------------------------------------------------------------

ex5 = exercise(
    "02.5",
    "Count first: a lockout that parallel guesses cannot slip past",
    points=3,
    needs=("Lockout",),
    answered_by=("clouddocs.lockout.AccountLockout",),
    hints=(
        "Key every row by email.strip().lower(), in begin_attempt and in record_success.",
        "Create the row with sqlite_insert(LoginThrottle).values(...).on_conflict_do_nothing():"
        " no 'does it exist?' query first.",
        "Then ONE update(LoginThrottle).where(...).values(failures=case(...), ...)"
        ".returning(LoginThrottle.locked_until): a SELECT followed by an UPDATE lets parallel"
        " attempts all read the old count.",
        "Read the time only from self.clock.time(), never time.time() or datetime.now().",
    ),
)

ADA_EMAIL = "ada@example.com"


@ex5.case("5 attempts are allowed; the 6th, with no success in between, is refused", positive=True)
@closes_databases
async def _(ns: Namespace) -> None:
    lockout, _clock = await lockout_for(ns)
    allowed = await attempts(lockout, ADA_EMAIL, 6)
    expect_equal(allowed, [True] * 5 + [False], "calling begin_attempt 6 times for one email")


@ex5.case("a lock lasts 15 minutes on the clock, then lifts")
@closes_databases
async def _(ns: Namespace) -> None:
    lockout, clock = await lockout_for(ns)
    await attempts(lockout, ADA_EMAIL, 6)
    clock.advance(minutes=14, seconds=59)
    expect_equal(
        await lockout.begin_attempt(ADA_EMAIL), False, "an attempt 14:59 after the lock"
    )
    clock.advance(seconds=2)
    expect_equal(
        await lockout.begin_attempt(ADA_EMAIL),
        True,
        "an attempt 15:01 after the lock (on the check's clock, not the wall clock)",
    )


@ex5.case("a success on another account does not reset this account's counter")
@closes_databases
async def _(ns: Namespace) -> None:
    lockout, _clock = await lockout_for(ns)
    await attempts(lockout, ADA_EMAIL, 5)
    await lockout.record_success("mallory@example.com")
    expect_equal(
        await lockout.begin_attempt(ADA_EMAIL),
        False,
        "5 attempts for ada, a success for mallory, then a 6th attempt for ada",
    )


@ex5.case("a success resets the account's own counter")
@closes_databases
async def _(ns: Namespace) -> None:
    lockout, _clock = await lockout_for(ns)
    await attempts(lockout, ADA_EMAIL, 5)
    await lockout.record_success(ADA_EMAIL)
    expect_equal(
        await lockout.begin_attempt(ADA_EMAIL), True, "5 attempts, a success, then one more"
    )


@ex5.case("attempts older than the 15-minute window are forgotten")
@closes_databases
async def _(ns: Namespace) -> None:
    lockout, clock = await lockout_for(ns)
    await attempts(lockout, ADA_EMAIL, 4)
    clock.advance(minutes=16)
    allowed = await attempts(lockout, ADA_EMAIL, 2)
    expect_equal(allowed, [True, True], "4 attempts, 16 minutes, then 2 more")


@ex5.case("case variants and spaces of one address share one counter")
@closes_databases
async def _(ns: Namespace) -> None:
    lockout, _clock = await lockout_for(ns)
    variants = ["ada@example.com", "Ada@Example.com", " ADA@example.com", "ada@EXAMPLE.com ", "AdA@example.com"]
    for variant in variants:
        await lockout.begin_attempt(variant)
    expect_equal(
        await lockout.begin_attempt("ada@example.com"),
        False,
        f"a 6th attempt after 5 attempts spelled {variants}",
    )


@ex5.case("12 parallel attempts let exactly 5 through (check and count in one step)")
@closes_databases
async def _(ns: Namespace) -> None:
    lockout, _clock = await lockout_for(ns, in_file=True)
    allowed = await asyncio.gather(*(lockout.begin_attempt(ADA_EMAIL) for _ in range(12)))
    expect_equal(
        sum(1 for result in allowed if result is True),
        5,
        "12 begin_attempt calls at once (asyncio.gather, file-backed database); allowed ones",
    )


# --------------------------------------------------------------------------------------
# 02.6 Enumeration-safe authenticate, with rehash
# --------------------------------------------------------------------------------------

ex6 = exercise(
    "02.6",
    "An authenticate that does not reveal accounts, and upgrades hashes",
    points=3,
    needs=("authenticate_user",),
    answered_by=("clouddocs.accounts.authenticate",),
    hints=(
        "Look the user up by email.strip().lower(), then their PasswordCredential; if either"
        " is missing, verify hasher.dummy_hash instead of returning.",
        "Decide only after verifying: return None unless user, credential and match are all there.",
        "After a match, if hasher.needs_rehash(stored) store hasher.hash(password) and commit.",
    ),
)

ADA = ("ada@example.com", "correct horse battery staple")


@ex6.case("the right password returns the user, a wrong one None", positive=True)
@closes_databases
async def _(ns: Namespace) -> None:
    hasher = PasswordHasher(TEST_ARGON2)
    database, users = await database_with_users(hasher, dict([ADA]))
    async with database.sessions() as db:
        right = await ns["authenticate_user"](db, ADA[0], ADA[1], hasher)
        wrong = await ns["authenticate_user"](db, ADA[0], "wrong password", hasher)
    expect(
        isinstance(right, User) and right.id == users[ADA[0]].id,
        "authenticating Ada with her password",
        "Ada's User",
        repr(right),
    )
    expect_equal(wrong, None, "authenticating Ada with a wrong password")


@ex6.case("the email matches whatever its case and surrounding spaces")
@closes_databases
async def _(ns: Namespace) -> None:
    hasher = PasswordHasher(TEST_ARGON2)
    database, users = await database_with_users(hasher, dict([ADA]))
    async with database.sessions() as db:
        found = await ns["authenticate_user"](db, " Ada@Example.COM ", ADA[1], hasher)
    expect(
        isinstance(found, User) and found.id == users[ADA[0]].id,
        "authenticating ' Ada@Example.COM ' with Ada's password (addresses are stored lower-case)",
        "Ada's User",
        repr(found),
    )


@ex6.case("an unknown email costs a password verification too (dummy hash)")
@closes_databases
async def _(ns: Namespace) -> None:
    hasher = CountingHasher()
    database, _users = await database_with_users(hasher, dict([ADA]))
    hasher.verifications = 0
    async with database.sessions() as db:
        result = await ns["authenticate_user"](db, "nobody@example.com", "whatever", hasher)
    expect_equal(result, None, "authenticating an unknown email")
    expect(
        hasher.verifications >= 1,
        "authenticating an unknown email and counting hasher.verify calls",
        "at least one verification (so it takes as long as a wrong password)",
        "none: unknown emails answer faster, which reveals that they do not exist",
    )


@ex6.case("a hash made with old parameters is upgraded at a successful login")
@closes_databases
async def _(ns: Namespace) -> None:
    hasher = PasswordHasher(TEST_ARGON2)
    old_hasher = PasswordHasher(Argon2Profile(memory_kib=32, time_cost=1, parallelism=1))
    database, users = await database_with_users(old_hasher, dict([ADA]))
    async with database.sessions() as db:
        await ns["authenticate_user"](db, ADA[0], ADA[1], hasher)
    async with database.sessions() as db:
        credential = await db.get(PasswordCredential, users[ADA[0]].id)
    assert credential is not None
    expect(
        not hasher.needs_rehash(credential.password_hash)
        and hasher.verify(credential.password_hash, ADA[1]),
        "logging in with a hash made at m=32 KiB while the hasher uses m=64 KiB",
        "the stored hash replaced by one at the hasher's parameters",
        "the old hash is still stored",
    )


@ex6.case("a legacy unsalted SHA-1 hash is accepted once and upgraded")
@closes_databases
async def _(ns: Namespace) -> None:
    hasher = PasswordHasher(TEST_ARGON2)
    database, users = await database_with_users(hasher, dict([ADA]))
    user_id = users[ADA[0]].id
    async with database.sessions() as db:
        credential = await db.get(PasswordCredential, user_id)
        assert credential is not None
        credential.password_hash = hashlib.sha1(ADA[1].encode()).hexdigest()
        await db.commit()
        result = await ns["authenticate_user"](db, ADA[0], ADA[1], hasher)
    async with database.sessions() as db:
        upgraded = await db.get(PasswordCredential, user_id)
    assert upgraded is not None
    expect(
        isinstance(result, User), "logging in with a legacy SHA-1 hash", "Ada's User", repr(result)
    )
    expect(
        upgraded.password_hash.startswith("$argon2id$"),
        "reading the stored hash after that login",
        "an Argon2id hash",
        upgraded.password_hash[:20] + "…",
    )


# --------------------------------------------------------------------------------------
# 02.7 Attack then fix: account enumeration through the login endpoint
# --------------------------------------------------------------------------------------

ex7 = exercise(
    "02.7",
    "Attack then fix: enumerate accounts through a leaky login",
    points=3,
    needs=("find_existing_accounts", "create_safe_login_app"),
    hints=(
        "The attack: first ask about an address that cannot exist; any email answered differently has an account.",
        "The fix: one failure response for every reason: 401, the same detail, WWW-Authenticate.",
        "Use your authenticate_user from 02.6 inside the route, with Depends(database.session).",
    ),
)

REGISTERED = {
    "ada@example.com": "correct horse battery staple",
    "bob@example.com": "lighthouse keeper at dawn",
}
CANDIDATES = ["carol@example.com", "ada@example.com", "dave@example.com", "bob@example.com"]


async def _attack(ns: Namespace, app: FastAPI) -> list[str]:
    async with asgi_client(app, headers={"Origin": ORIGIN}) as client:
        found = await ns["find_existing_accounts"](client, list(CANDIDATES))
    return found if not isinstance(found, list) else sorted(found)


@ex7.case("the attack finds exactly the registered emails on the leaky app", positive=True)
@closes_databases
async def _(ns: Namespace) -> None:
    hasher = PasswordHasher(TEST_ARGON2)
    database, _users = await database_with_users(hasher, REGISTERED)
    found = await _attack(ns, create_leaky_login_app(database, hasher))
    expect(isinstance(found, list), "running your attack", "a list of emails", repr(found))
    expect_equal(sorted(found), sorted(REGISTERED), f"running your attack on {CANDIDATES}")


@ex7.case("the same attack finds nothing on your fixed app")
@closes_databases
async def _(ns: Namespace) -> None:
    hasher = PasswordHasher(TEST_ARGON2)
    database, _users = await database_with_users(hasher, REGISTERED)
    found = await _attack(ns, ns["create_safe_login_app"](database, hasher))
    expect_equal(found, [], "running your attack on your fixed app")


@ex7.case("wrong password and unknown email get byte-identical 401s with WWW-Authenticate")
@closes_databases
async def _(ns: Namespace) -> None:
    hasher = PasswordHasher(TEST_ARGON2)
    database, _users = await database_with_users(hasher, REGISTERED)
    async with asgi_client(ns["create_safe_login_app"](database, hasher)) as client:
        wrong = await client.post("/login", json={"email": "ada@example.com", "password": "nope"})
        unknown = await client.post("/login", json={"email": "zoe@example.com", "password": "nope"})
    expect_equal(wrong.status_code, 401, "logging in as Ada with a wrong password")
    expect(
        (wrong.status_code, wrong.content) == (unknown.status_code, unknown.content),
        "comparing the answers for a wrong password and an unknown email",
        "identical status and body",
        f"{wrong.status_code} {wrong.text} vs {unknown.status_code} {unknown.text}",
    )
    expect(
        "www-authenticate" in wrong.headers,
        "reading the 401's headers",
        "a WWW-Authenticate header",
        "none",
    )


@ex7.case("the right password still logs in (200)", positive=True)
@closes_databases
async def _(ns: Namespace) -> None:
    hasher = PasswordHasher(TEST_ARGON2)
    database, _users = await database_with_users(hasher, REGISTERED)
    async with asgi_client(ns["create_safe_login_app"](database, hasher)) as client:
        response = await client.post(
            "/login", json={"email": "ada@example.com", "password": REGISTERED["ada@example.com"]}
        )
    expect_equal(response.status_code, 200, "logging in as Ada with her password")
