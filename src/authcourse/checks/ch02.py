"""Chapter 2 lab checks: hashing with rehash, policy, session rotation, CSRF, lockout,
enumeration-safe authentication, and an attack-then-fix on a leaky login.

Each case builds its own in-memory database, clock and app, runs the learner's code for
real, and says in plain words what it tried. The leaky login app the learner attacks in
02.7 lives here, so the lab imports it instead of copying it.
"""

# No `from __future__ import annotations`: FastAPI must resolve the Annotated[..., Depends(x)]
# hints of the nested endpoints below, whose dependencies are local variables.

import contextlib
import functools
import hashlib
import hmac
import secrets
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

import bcrypt
from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authcourse.checks import exercise, expect, expect_equal
from authcourse.checks.core import Namespace
from authcourse.client import asgi_client
from authcourse.clock import FrozenClock
from clouddocs.accounts import PasswordCredential
from clouddocs.db import Database, Tenant, User
from clouddocs.passwords import TEST_ARGON2, Argon2Profile, PasswordHasher
from clouddocs.sessions import SessionManager, WebSession

ORIGIN = "https://clouddocs.test"
SESSION_COOKIE = "__Host-session"

# --------------------------------------------------------------------------------------
# Shared fixtures
# --------------------------------------------------------------------------------------


_opened = threading.local()  # databases a case created, closed when the case ends


def closes_databases(
    case: Callable[[Namespace], Awaitable[None]],
) -> Callable[[Namespace], Awaitable[None]]:
    """Dispose of every database the case opened (each case runs on its own event loop)."""

    @functools.wraps(case)
    async def run(ns: Namespace) -> None:
        _opened.databases = []
        try:
            await case(ns)
        finally:
            for database in _opened.databases:
                await database.dispose()

    return run


async def database_with_users(
    hasher: PasswordHasher, users: dict[str, str] | None = None
) -> tuple[Database, dict[str, User]]:
    """A fresh in-memory database with one tenant and ``users`` (email → password)."""
    database = Database()
    getattr(_opened, "databases", []).append(database)
    await database.create_all()
    created: dict[str, User] = {}
    async with database.sessions() as db:
        db.add(Tenant(id=1, name="Acme"))
        await db.flush()
        for email, password in (users or {}).items():
            user = User(tenant_id=1, email=email, display_name=email.split("@")[0])
            db.add(user)
            await db.flush()
            db.add(PasswordCredential(user_id=user.id, password_hash=hasher.hash(password)))
            created[email] = user
        await db.commit()
    return database, created


class CountingHasher(PasswordHasher):
    """A cheap hasher that counts verifications (to see whether unknown emails cost work)."""

    def __init__(self) -> None:
        super().__init__(TEST_ARGON2)
        self.verifications = 0

    def verify(self, stored_hash: str, password: str) -> bool:
        self.verifications += 1
        return super().verify(stored_hash, password)


class _LeakyCredentials(BaseModel):
    email: str
    password: str


def create_leaky_login_app(database: Database, hasher: PasswordHasher) -> FastAPI:
    """The login most tutorials write: it tells everyone which accounts exist."""
    app = FastAPI()

    @app.post("/login")
    async def login(
        body: _LeakyCredentials, db: Annotated[AsyncSession, Depends(database.session)]
    ) -> dict[str, int]:
        user = await db.scalar(select(User).where(User.email == body.email))
        if user is None:
            raise HTTPException(404, "no account with this email")
        credential = await db.get(PasswordCredential, user.id)
        if credential is None or not hasher.verify(credential.password_hash, body.password):
            raise HTTPException(401, "wrong password")
        return {"user_id": user.id}

    return app


# --------------------------------------------------------------------------------------
# 02.1 Hash, verify and rehash
# --------------------------------------------------------------------------------------

OWASP_PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"
PASSPHRASE = "correct horse battery staple"

#: hash_password -> {password: its hash}. At OWASP cost each hash takes 20-40 ms, so the
#: cases share one hash per learner function (a re-run cell is a new function: no staleness).
_hashes: "weakref.WeakKeyDictionary[Any, dict[str, Any]]" = weakref.WeakKeyDictionary()


def _hash_once(ns: Namespace, password: str) -> Any:
    """``hash_password(password)``, computed once per version of the learner's function."""
    hash_password = ns["hash_password"]
    try:
        known = _hashes.setdefault(hash_password, {})
    except TypeError:  # not weak-referenceable (a builtin, say): just call it
        return hash_password(password)
    if password not in known:
        known[password] = hash_password(password)
    return known[password]


ex1 = exercise(
    "02.1",
    "Hash, verify and rehash passwords",
    points=2,
    needs=("hash_password", "verify_password", "needs_rehash"),
    hints=(
        "Build one argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1) and reuse it.",
        "verify raises VerifyMismatchError for a wrong password and InvalidHashError for a"
        " malformed hash: catch both (argon2.exceptions.VerificationError covers the first).",
        "needs_rehash: a hash that does not start with '$argon2id$' is legacy (True);"
        " otherwise ask check_needs_rehash.",
    ),
)


@ex1.case("new hashes are Argon2id at the OWASP parameters (19 MiB, t=2, p=1)")
def _(ns: Namespace) -> None:
    stored = _hash_once(ns, PASSPHRASE)
    expect(
        isinstance(stored, str) and stored.startswith(OWASP_PREFIX),
        f"hashing {PASSPHRASE!r}",
        f"a string starting with {OWASP_PREFIX}",
        repr(stored)[:60],
    )


@ex1.case("the same password hashed twice gives two different hashes (a salt)")
def _(ns: Namespace) -> None:
    first, second = _hash_once(ns, PASSPHRASE), ns["hash_password"](PASSPHRASE)
    expect(
        first != second,
        f"hashing {PASSPHRASE!r} twice",
        "two different hashes",
        "the same hash twice",
    )


@ex1.case("verify accepts the right password and refuses a wrong one or a malformed hash")
def _(ns: Namespace) -> None:
    verify = ns["verify_password"]
    stored = _hash_once(ns, PASSPHRASE)
    expect_equal(verify(stored, PASSPHRASE), True, "verifying the right password")
    expect_equal(
        verify(stored, "Correct horse battery staple"), False, "verifying a wrong password"
    )
    expect_equal(
        verify("$argon2id$not-a-hash", "anything"),
        False,
        "verifying against a malformed stored hash (it must return False, not raise)",
    )


@ex1.case("every character counts: no truncation after 72 bytes")
def _(ns: Namespace) -> None:
    prefix = "a-long-passphrase-" * 5  # 90 characters
    stored = ns["hash_password"](prefix + "A")
    expect_equal(
        ns["verify_password"](stored, prefix + "B"),
        False,
        "verifying a 91-character password that differs from the stored one only in its last character",
    )


@ex1.case("needs_rehash flags toy parameters, bcrypt and SHA-1, but not a fresh hash")
def _(ns: Namespace) -> None:
    needs_rehash = ns["needs_rehash"]
    toy = PasswordHasher(TEST_ARGON2).hash("summer2024")
    legacy_bcrypt = bcrypt.hashpw(b"summer2024", bcrypt.gensalt(rounds=4)).decode()
    legacy_sha1 = hashlib.sha1(b"summer2024").hexdigest()
    for name, stored in [
        ("an Argon2id hash at 64 KiB, t=1", toy),
        ("a bcrypt hash", legacy_bcrypt),
        ("an unsalted SHA-1 hash", legacy_sha1),
    ]:
        expect_equal(needs_rehash(stored), True, f"asking needs_rehash about {name}")
    fresh = _hash_once(ns, PASSPHRASE)
    expect_equal(needs_rehash(fresh), False, "asking needs_rehash about a hash you just made")


# --------------------------------------------------------------------------------------
# 02.2 Password policy
# --------------------------------------------------------------------------------------

ex2 = exercise(
    "02.2",
    "A password policy without composition rules",
    points=2,
    needs=("password_problems",),
    hints=(
        "Return a list of strings; an empty list means the password is acceptable.",
        "Compare against COMMON_PASSWORDS with password.lower(): the list is lower case.",
        "The email's local part is email.split('@')[0]; check it with `in` on lower-cased text.",
        "Only a local part of 4 characters or more says something about the password: 'al'"
        " would refuse 'crystal ball' and every other password that happens to contain it.",
    ),
)

GOOD_EMAIL = "grace.hopper@example.com"


def _problems(ns: Namespace, password: str, email: str = GOOD_EMAIL) -> list[str]:
    result = ns["password_problems"](password, email)
    expect(
        isinstance(result, list), f"checking {password[:20]!r}", "a list of problems", repr(result)
    )
    return list(result)


@ex2.case("7 characters are refused, 8 are accepted")
def _(ns: Namespace) -> None:
    expect(
        _problems(ns, "vq7-lpm") != [], "checking the 7-character 'vq7-lpm'", "a problem", "none"
    )
    expect_equal(_problems(ns, "vq7-lpmz"), [], "checking the 8-character 'vq7-lpmz'")


@ex2.case("long passphrases are accepted up to 128 characters; 129 are refused")
def _(ns: Namespace) -> None:
    for length in (64, 100, 128):
        candidate = ("walrus tango " * 11)[:length]
        expect_equal(_problems(ns, candidate), [], f"checking a {length}-character passphrase")
    expect(_problems(ns, "w" * 129) != [], "checking a 129-character password", "a problem", "none")


@ex2.case("common passwords are refused whatever their case")
def _(ns: Namespace) -> None:
    for candidate in ("password1", "QWERTY123", "Iloveyou2024"):
        expect(
            _problems(ns, candidate) != [],
            f"checking the common password {candidate!r}",
            "a problem",
            "no problem",
        )


@ex2.case("no composition rules: lower-case passphrases and digit-free passwords are fine")
def _(ns: Namespace) -> None:
    for candidate in (
        "correct horse battery staple",
        "lighthouse keeper",
        "SHOUTING INTO THE VOID",
    ):
        expect_equal(_problems(ns, candidate), [], f"checking {candidate!r}")


@ex2.case("a password built from the email's local part is refused")
def _(ns: Namespace) -> None:
    expect(
        _problems(ns, "Grace.Hopper.1906") != [],
        f"checking 'Grace.Hopper.1906' for {GOOD_EMAIL}",
        "a problem",
        "no problem",
    )


@ex2.case("a local part of 3 characters or fewer does not refuse ordinary passwords")
def _(ns: Namespace) -> None:
    email = "al@example.com"
    expect_equal(
        _problems(ns, "crystal ball at midnight", email),
        [],
        f"checking 'crystal ball at midnight' for {email} ('al' is in it only by chance)",
    )


# --------------------------------------------------------------------------------------
# 02.3 Session rotation at login
# --------------------------------------------------------------------------------------

ex3 = exercise(
    "02.3",
    "Start a session with a fresh id at login",
    points=2,
    needs=("start_session",),
    hints=(
        "secrets.token_urlsafe(32) gives 256 bits in 43 characters.",
        "Store hashlib.sha256(session_id.encode()).hexdigest() as WebSession.id_hash, never the id.",
        "If previous_session_id is not None, delete the row whose id_hash is its SHA-256 first.",
    ),
)


async def _session_fixture() -> tuple[Database, int, FrozenClock]:
    database, users = await database_with_users(
        PasswordHasher(TEST_ARGON2), {"ada@example.com": "x"}
    )
    return database, users["ada@example.com"].id, FrozenClock()


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@ex3.case("ids carry at least 256 bits and differ every time")
@closes_databases
async def _(ns: Namespace) -> None:
    database, user_id, clock = await _session_fixture()
    async with database.sessions() as db:
        ids = [await ns["start_session"](db, user_id, None, clock) for _ in range(3)]
    expect(
        all(isinstance(i, str) and len(i) >= 43 for i in ids),
        "starting three sessions",
        "ids of at least 43 URL-safe characters (256 bits)",
        f"ids of lengths {[len(str(i)) for i in ids]}",
    )
    expect(len(set(ids)) == 3, "starting three sessions", "three different ids", "a repeated id")


@ex3.case("only the SHA-256 of the id is stored, with the clock's time")
@closes_databases
async def _(ns: Namespace) -> None:
    database, user_id, clock = await _session_fixture()
    async with database.sessions() as db:
        session_id = await ns["start_session"](db, user_id, None, clock)
        rows = (await db.scalars(select(WebSession))).all()
    stored = [row.id_hash for row in rows]
    expect(
        session_id not in stored,
        "looking for the raw id in web_sessions",
        "not there",
        "the raw id",
    )
    row = next((r for r in rows if r.id_hash == _sha256(session_id)), None)
    expect(row is not None, "looking for SHA-256(id) in web_sessions", "one row", f"keys {stored}")
    assert row is not None
    expect_equal(
        (row.user_id, row.created_at, row.last_seen_at),
        (user_id, clock.time(), clock.time()),
        "reading the row's user_id, created_at and last_seen_at",
    )


@ex3.case("login destroys the id the browser brought and issues a new one (no fixation)")
@closes_databases
async def _(ns: Namespace) -> None:
    database, user_id, clock = await _session_fixture()
    async with database.sessions() as db:
        planted = await ns["start_session"](db, user_id, None, clock)
        fresh = await ns["start_session"](db, user_id, planted, clock)
        old_row = await db.get(WebSession, _sha256(planted))
    expect(
        fresh != planted, "logging in with a planted id", "a different id", "the planted id again"
    )
    expect(
        old_row is None, "looking up the planted id after login", "no row", "its row is still there"
    )


@ex3.case("the new session is live for clouddocs' SessionManager")
@closes_databases
async def _(ns: Namespace) -> None:
    database, user_id, clock = await _session_fixture()
    async with database.sessions() as db:
        session_id = await ns["start_session"](db, user_id, None, clock)
        current = await SessionManager(database, clock=clock).resolve(session_id)
    expect(
        current is not None and current.user_id == user_id,
        "resolving the new id with SessionManager.resolve",
        f"a session of user {user_id}",
        repr(current),
    )


# --------------------------------------------------------------------------------------
# 02.4 CSRF dependency
# --------------------------------------------------------------------------------------

ex4 = exercise(
    "02.4",
    "A CSRF dependency: session-bound token plus Origin check",
    points=3,
    needs=("csrf_token_for", "verify_csrf"),
    hints=(
        "csrf_token_for: hmac.new(session_id.encode(), b'some label', hashlib.sha256), then base64url.",
        "verify_csrf: GET/HEAD/OPTIONS pass; otherwise check Origin first, then the header.",
        "Compare with hmac.compare_digest(submitted.encode(), expected.encode()), never ==.",
    ),
)


def _csrf_app(verify: Callable[..., Any]) -> FastAPI:
    app = FastAPI()

    @app.get("/documents", dependencies=[Depends(verify)])
    async def list_documents() -> dict[str, str]:
        return {"documents": "listed"}

    @app.post("/documents", dependencies=[Depends(verify)])
    async def create_document() -> dict[str, str]:
        return {"documents": "created"}

    return app


async def _csrf_post(
    ns: Namespace, *, session_id: str, token: str | None, origin: str = ORIGIN
) -> int:
    headers = {"Origin": origin}
    if token is not None:
        headers["X-CSRF-Token"] = token
    async with asgi_client(_csrf_app(ns["verify_csrf"]), headers=headers) as client:
        client.cookies.set(SESSION_COOKIE, session_id, domain="clouddocs.test")
        return (await client.post("/documents")).status_code


@ex4.case("a same-origin POST with this session's token is accepted")
async def _(ns: Namespace) -> None:
    session_id = secrets.token_urlsafe(32)
    status = await _csrf_post(ns, session_id=session_id, token=ns["csrf_token_for"](session_id))
    expect_equal(status, 200, "POSTing with Origin https://clouddocs.test and the session's token")


@ex4.case("a POST without a token is refused with 403")
async def _(ns: Namespace) -> None:
    status = await _csrf_post(ns, session_id=secrets.token_urlsafe(32), token=None)
    expect_equal(status, 403, "POSTing from our origin with no X-CSRF-Token")


@ex4.case("a token that belongs to another session is refused")
async def _(ns: Namespace) -> None:
    other_token = ns["csrf_token_for"](secrets.token_urlsafe(32))
    status = await _csrf_post(ns, session_id=secrets.token_urlsafe(32), token=other_token)
    expect_equal(status, 403, "POSTing with a valid token of a different session")


@ex4.case("a POST from another origin is refused, even with the right token")
async def _(ns: Namespace) -> None:
    session_id = secrets.token_urlsafe(32)
    token = ns["csrf_token_for"](session_id)
    status = await _csrf_post(ns, session_id=session_id, token=token, origin="https://evil.test")
    expect_equal(status, 403, "POSTing with Origin https://evil.test and the right token")


@ex4.case("GET requests pass without a token")
async def _(ns: Namespace) -> None:
    async with asgi_client(_csrf_app(ns["verify_csrf"])) as client:
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


@contextlib.contextmanager
def _spy_on_compare_digest(functions: list[Any]) -> Iterator[list[tuple[Any, Any]]]:
    """Record every call to hmac.compare_digest, however the learner imported it."""
    original = hmac.compare_digest
    calls: list[tuple[Any, Any]] = []

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return original(a, b)

    namespaces = [hmac.__dict__, secrets.__dict__]
    namespaces += [fn.__globals__ for fn in functions if hasattr(fn, "__globals__")]
    patched = [(space, name) for space in namespaces for name, v in space.items() if v is original]
    for space, name in patched:
        space[name] = spy
    try:
        yield calls
    finally:
        for space, name in patched:
            space[name] = original


@ex4.case("the token is compared in constant time (hmac.compare_digest, not ==)")
async def _(ns: Namespace) -> None:
    session_id = secrets.token_urlsafe(32)
    token = ns["csrf_token_for"](session_id)
    with _spy_on_compare_digest([ns["verify_csrf"], ns["csrf_token_for"]]) as calls:
        await _csrf_post(ns, session_id=session_id, token=token)
    compared = any(token in (_text(a), _text(b)) for a, b in calls)
    expect(
        compared,
        "POSTing a valid token and watching hmac.compare_digest",
        "the submitted token passed to hmac.compare_digest",
        "no constant-time comparison of the token",
    )


def _text(value: Any) -> Any:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


# --------------------------------------------------------------------------------------
# 02.5 Lockout driven by the clock
# --------------------------------------------------------------------------------------

ex5 = exercise(
    "02.5",
    "Lock an account after 5 failures, on the injected clock",
    points=2,
    needs=("Lockout",),
    hints=(
        "Keep, per account: the failure count, when the current 15-minute window started,"
        " and until when it is locked.",
        "Always read the time from self.clock.now(), never datetime.now() or time.time().",
        "record_success deletes only that account's entry.",
    ),
)


def _lockout(ns: Namespace) -> tuple[Any, FrozenClock]:
    clock = FrozenClock()
    return ns["Lockout"](clock), clock


def _fail(lockout: Any, account: str, times: int) -> None:
    for _ in range(times):
        lockout.record_failure(account)


@ex5.case("4 failures do not lock the account; the 5th does")
def _(ns: Namespace) -> None:
    lockout, _clock = _lockout(ns)
    _fail(lockout, "ada@example.com", 4)
    expect_equal(lockout.is_locked("ada@example.com"), False, "checking after 4 failures")
    _fail(lockout, "ada@example.com", 1)
    expect_equal(lockout.is_locked("ada@example.com"), True, "checking after 5 failures")


@ex5.case("a lock lasts 15 minutes on the clock, then lifts")
def _(ns: Namespace) -> None:
    lockout, clock = _lockout(ns)
    _fail(lockout, "ada@example.com", 5)
    clock.advance(minutes=14, seconds=59)
    expect_equal(lockout.is_locked("ada@example.com"), True, "checking 14:59 after the lock")
    clock.advance(seconds=2)
    expect_equal(lockout.is_locked("ada@example.com"), False, "checking 15:01 after the lock")


@ex5.case("a success on another account does not reset this account's counter")
def _(ns: Namespace) -> None:
    lockout, _clock = _lockout(ns)
    _fail(lockout, "ada@example.com", 4)
    lockout.record_success("mallory@example.com")
    _fail(lockout, "ada@example.com", 1)
    expect_equal(
        lockout.is_locked("ada@example.com"),
        True,
        "4 failures for ada, a success for mallory, then a 5th failure for ada",
    )


@ex5.case("a success resets the account's own counter")
def _(ns: Namespace) -> None:
    lockout, _clock = _lockout(ns)
    _fail(lockout, "ada@example.com", 4)
    lockout.record_success("ada@example.com")
    _fail(lockout, "ada@example.com", 1)
    expect_equal(
        lockout.is_locked("ada@example.com"), False, "4 failures, a success, then 1 failure for ada"
    )


@ex5.case("failures older than the 15-minute window are forgotten")
def _(ns: Namespace) -> None:
    lockout, clock = _lockout(ns)
    _fail(lockout, "ada@example.com", 4)
    clock.advance(minutes=16)
    _fail(lockout, "ada@example.com", 1)
    expect_equal(
        lockout.is_locked("ada@example.com"), False, "4 failures, 16 minutes, then 1 failure"
    )


# --------------------------------------------------------------------------------------
# 02.6 Enumeration-safe authenticate, with rehash
# --------------------------------------------------------------------------------------

ex6 = exercise(
    "02.6",
    "An authenticate that does not reveal accounts, and upgrades hashes",
    points=3,
    needs=("authenticate_user",),
    hints=(
        "Look the user up, then their PasswordCredential; if either is missing, verify"
        " hasher.dummy_hash instead of returning.",
        "Decide only after verifying: return None unless user, credential and match are all there.",
        "After a match, if hasher.needs_rehash(stored) store hasher.hash(password) and commit.",
    ),
)

ADA = ("ada@example.com", "correct horse battery staple")


@ex6.case("the right password returns the user, a wrong one None")
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
    return sorted(found)


@ex7.case("the attack finds exactly the registered emails on the leaky app")
@closes_databases
async def _(ns: Namespace) -> None:
    hasher = PasswordHasher(TEST_ARGON2)
    database, _users = await database_with_users(hasher, REGISTERED)
    found = await _attack(ns, create_leaky_login_app(database, hasher))
    expect_equal(found, sorted(REGISTERED), f"running your attack on {CANDIDATES}")


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


@ex7.case("the right password still logs in (200)")
@closes_databases
async def _(ns: Namespace) -> None:
    hasher = PasswordHasher(TEST_ARGON2)
    database, _users = await database_with_users(hasher, REGISTERED)
    async with asgi_client(ns["create_safe_login_app"](database, hasher)) as client:
        response = await client.post(
            "/login", json={"email": "ada@example.com", "password": REGISTERED["ada@example.com"]}
        )
    expect_equal(response.status_code, 200, "logging in as Ada with her password")
