"""Chapter 2 lab checks: hashing with rehash, policy, session rotation (02.1–02.3 here), and
CSRF, lockout, enumeration-safe authentication and an attack-then-fix on a leaky login
(02.4–02.7, in ``ch02_defences``).

Each case builds its own database, clock and app (helpers in ``ch02_support``), runs the
learner's code for real, and says in plain words what it tried. Happy-path cases are
marked ``positive``: refusal cases only count once those pass.
"""

import hashlib
import unicodedata
from typing import Any

import bcrypt
from sqlalchemy import select

from authcourse.checks import ch02_defences, exercise, expect, expect_equal
from authcourse.checks.ch02_support import (
    closes_databases,
    hash_once,
    plain,
    session_fixture,
    sha256_hex,
)
from authcourse.checks.core import Namespace
from clouddocs.passwords import TEST_ARGON2, PasswordHasher
from clouddocs.sessions import SessionManager, WebSession

ORIGIN = "https://clouddocs.test"
SESSION_COOKIE = "__Host-session"

# Importing ch02_defences registers 02.4–02.7.
__all__ = ["ch02_defences"]

# --------------------------------------------------------------------------------------
# 02.1 Hash, verify and rehash
# --------------------------------------------------------------------------------------

OWASP_PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"
PASSPHRASE = "correct horse battery staple"

ex1 = exercise(
    "02.1",
    "Hash, verify and rehash passwords",
    points=2,
    needs=("hash_password", "verify_password", "needs_rehash"),
    answered_by=(
        "clouddocs.passwords.PasswordHasher.hash",
        "clouddocs.passwords.PasswordHasher.verify",
        "clouddocs.passwords.PasswordHasher.check",
        "clouddocs.passwords.PasswordHasher.needs_rehash",
    ),
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
    stored = hash_once(ns, PASSPHRASE)
    expect(
        isinstance(stored, str) and stored.startswith(OWASP_PREFIX),
        f"hashing {PASSPHRASE!r}",
        f"a string starting with {OWASP_PREFIX}",
        repr(stored)[:60],
    )


@ex1.case("the same password hashed twice gives two different hashes (a salt)")
def _(ns: Namespace) -> None:
    first = hash_once(ns, PASSPHRASE)
    second = plain(ns["hash_password"](PASSPHRASE), "hash_password")
    expect(
        first != second,
        f"hashing {PASSPHRASE!r} twice",
        "two different hashes",
        "the same hash twice",
    )


@ex1.case(
    "verify accepts the right password and refuses a wrong one or a malformed hash", positive=True
)
def _(ns: Namespace) -> None:
    def verify(stored_hash: str, password: str) -> Any:
        return plain(ns["verify_password"](stored_hash, password), "verify_password")

    stored = hash_once(ns, PASSPHRASE)
    expect_equal(verify(stored, PASSPHRASE), True, "verifying the right password")
    expect_equal(
        verify(stored, "Correct horse battery staple"), False, "verifying a wrong password"
    )
    expect_equal(
        verify("$argon2id$not-a-hash", "anything"),
        False,
        "verifying against a malformed stored hash (it must return False, not raise)",
    )


@ex1.case("a password typed composed or decomposed is one password (NFKC)")
def _(ns: Namespace) -> None:
    composed = "crème brûlée for two"
    decomposed = unicodedata.normalize("NFD", composed)
    stored = hash_once(ns, decomposed)
    expect_equal(
        plain(ns["verify_password"](stored, composed), "verify_password"),
        True,
        "hashing 'crème brûlée for two' typed with combining accents, then verifying it typed"
        " with precomposed letters (one password; NFKC makes the two byte strings equal)",
    )


@ex1.case("every character counts: no truncation after 72 bytes")
def _(ns: Namespace) -> None:
    prefix = "a-long-passphrase-" * 5  # 90 characters
    stored = plain(ns["hash_password"](prefix + "A"), "hash_password")
    expect_equal(
        plain(ns["verify_password"](stored, prefix + "B"), "verify_password"),
        False,
        "verifying a 91-character password that differs from the stored one only in its last character",
    )


@ex1.case("needs_rehash flags toy parameters, bcrypt and SHA-1, but not a fresh hash")
def _(ns: Namespace) -> None:
    def needs_rehash(stored_hash: str) -> Any:
        return plain(ns["needs_rehash"](stored_hash), "needs_rehash")

    toy = PasswordHasher(TEST_ARGON2).hash("summer2024")
    legacy_bcrypt = bcrypt.hashpw(b"summer2024", bcrypt.gensalt(rounds=4)).decode()
    legacy_sha1 = hashlib.sha1(b"summer2024").hexdigest()
    for name, stored in [
        ("an Argon2id hash at 64 KiB, t=1", toy),
        ("a bcrypt hash", legacy_bcrypt),
        ("an unsalted SHA-1 hash", legacy_sha1),
    ]:
        expect_equal(needs_rehash(stored), True, f"asking needs_rehash about {name}")
    fresh = hash_once(ns, PASSPHRASE)
    expect_equal(needs_rehash(fresh), False, "asking needs_rehash about a hash you just made")


# --------------------------------------------------------------------------------------
# 02.2 Password policy
# --------------------------------------------------------------------------------------

ex2 = exercise(
    "02.2",
    "A password policy without composition rules",
    points=2,
    needs=("password_problems",),
    answered_by=("clouddocs.password_policy.PasswordPolicy",),
    hints=(
        "Normalise first: password = unicodedata.normalize('NFKC', password); then measure it.",
        "Return a list of strings; an empty list means the password is acceptable.",
        "Compare against COMMON_PASSWORDS with password.lower(): the list is lower case.",
        "The email's local part is email.split('@')[0]; check it with `in` on lower-cased text.",
        "Only a local part of 4 characters or more says something about the password: 'al'"
        " would refuse 'crystal ball' and every other password that happens to contain it.",
    ),
)

GOOD_EMAIL = "grace.hopper@example.com"


def _problems(ns: Namespace, password: str, email: str = GOOD_EMAIL) -> list[str]:
    result = plain(ns["password_problems"](password, email), "password_problems")
    expect(
        isinstance(result, list), f"checking {password[:20]!r}", "a list of problems", repr(result)
    )
    return list(result)


@ex2.case("15 characters are accepted, 14 are refused (a single-factor password)", positive=True)
def _(ns: Namespace) -> None:
    expect_equal(_problems(ns, "vq7-lpmz-rt4-wx"), [], "checking the 15-character 'vq7-lpmz-rt4-wx'")
    expect(
        _problems(ns, "vq7-lpmz-rt4-w") != [],
        "checking the 14-character 'vq7-lpmz-rt4-w' (NIST SP 800-63B rev 4 asks 15 when the"
        " password is the only factor)",
        "a problem",
        "none",
    )


@ex2.case("lengths are counted after Unicode NFKC, on what will be hashed")
def _(ns: Namespace) -> None:
    composed = "crème brûlée!"  # 13 characters once composed
    decomposed = unicodedata.normalize("NFD", composed) + "x"  # 17 code points as typed
    expect(
        _problems(ns, decomposed) != [],
        f"checking {decomposed!r}: 17 code points as typed, 14 characters after NFKC",
        "a problem (too short once normalised)",
        "none: the length was counted before normalising",
    )


@ex2.case("long passphrases are accepted up to 128 characters; 129 are refused")
def _(ns: Namespace) -> None:
    for length in (64, 100, 128):
        candidate = ("walrus tango " * 11)[:length]
        expect_equal(_problems(ns, candidate), [], f"checking a {length}-character passphrase")
    expect(_problems(ns, "w" * 129) != [], "checking a 129-character password", "a problem", "none")


@ex2.case("common passwords are refused whatever their case")
def _(ns: Namespace) -> None:
    for candidate in ("ADMINISTRATOR007", "Basketball12345", "QwertyUiop12345"):
        expect(
            _problems(ns, candidate) != [],
            f"checking the common password {candidate!r}",
            "a problem",
            "no problem",
        )


@ex2.case(
    "no composition rules: lower-case passphrases and digit-free passwords are fine"
)
def _(ns: Namespace) -> None:
    for candidate in (
        "correct horse battery staple",
        "lighthouse keeper at dusk",
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
    answered_by=("clouddocs.sessions.SessionManager.start",),
    hints=(
        "secrets.token_urlsafe(32) gives 256 bits in 43 characters.",
        "Store hashlib.sha256(session_id.encode()).hexdigest() as WebSession.id_hash, never the id.",
        "If previous_session_id is not None, delete the row whose id_hash is its SHA-256 first.",
    ),
)


@ex3.case("ids carry at least 256 bits and differ every time")
@closes_databases
async def _(ns: Namespace) -> None:
    database, user_id, clock = await session_fixture()
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
    database, user_id, clock = await session_fixture()
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
    row = next((r for r in rows if r.id_hash == sha256_hex(session_id)), None)
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
    database, user_id, clock = await session_fixture()
    async with database.sessions() as db:
        planted = await ns["start_session"](db, user_id, None, clock)
        fresh = await ns["start_session"](db, user_id, planted, clock)
        old_row = await db.get(WebSession, sha256_hex(planted))
    expect(
        fresh != planted, "logging in with a planted id", "a different id", "the planted id again"
    )
    expect(
        old_row is None, "looking up the planted id after login", "no row", "its row is still there"
    )


@ex3.case("the new session is live for clouddocs' SessionManager", positive=True)
@closes_databases
async def _(ns: Namespace) -> None:
    database, user_id, clock = await session_fixture()
    async with database.sessions() as db:
        session_id = await ns["start_session"](db, user_id, None, clock)
        current = await SessionManager(database, clock=clock).resolve(session_id)
    expect(
        current is not None and current.user_id == user_id,
        "resolving the new id with SessionManager.resolve",
        f"a session of user {user_id}",
        repr(current),
    )
