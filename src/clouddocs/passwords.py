# Generated from notebooks/02_passwords_sessions.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Password hashing for CloudDocs: Argon2id at OWASP parameters, with upgrade on login.

``PasswordHasher`` hashes new passwords with Argon2id, verifies any hash CloudDocs has
ever stored (Argon2id, legacy bcrypt, legacy unsalted SHA-1) and says when a stored hash
should be replaced, so old hashes are upgraded the next time their owner logs in.
Passwords are normalised to Unicode NFKC before anything else touches them.
"""

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Argon2Profile:
    """Argon2id cost parameters: memory in KiB, passes over it, and lanes."""

    memory_kib: int
    time_cost: int
    parallelism: int


#: OWASP Password Storage Cheat Sheet: Argon2id with 19 MiB, 2 iterations, 1 lane.
OWASP_ARGON2 = Argon2Profile(memory_kib=19456, time_cost=2, parallelism=1)

#: Deliberately weak, for tests only: hashing in microseconds keeps test suites fast.
#: Never use it in production; pass it explicitly where a test needs it.
TEST_ARGON2 = Argon2Profile(memory_kib=64, time_cost=1, parallelism=1)


def normalize_password(password: str) -> str:
    """Unicode NFKC (NIST SP 800-63B rev 4): "é" typed as one code point or as "e" plus a
    combining accent is one password, whichever keyboard or phone produced it."""
    return unicodedata.normalize("NFKC", password)


class HashScheme(StrEnum):
    """Which algorithm produced a stored hash."""

    ARGON2ID = "argon2id"
    BCRYPT = "bcrypt"
    SHA1_UNSALTED = "sha1-unsalted"
    UNKNOWN = "unknown"


_BCRYPT = re.compile(r"^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$")
_SHA1_HEX = re.compile(r"^[0-9a-fA-F]{40}$")


def identify(stored_hash: str) -> HashScheme:
    """Recognise a stored hash by its shape (never by trying to verify it)."""
    if stored_hash.startswith("$argon2id$"):
        return HashScheme.ARGON2ID
    if _BCRYPT.match(stored_hash):
        return HashScheme.BCRYPT
    if _SHA1_HEX.match(stored_hash):
        return HashScheme.SHA1_UNSALTED
    return HashScheme.UNKNOWN


@dataclass(frozen=True)
class PasswordCheck:
    """The outcome of checking a password at login: does it match, must the hash be redone?"""

    matches: bool
    needs_rehash: bool


import hashlib
import hmac
import secrets

import argon2
import bcrypt
from argon2.exceptions import InvalidHashError, VerificationError


class PasswordHasher:
    """Hash with Argon2id at ``profile``; verify current and legacy hashes; flag upgrades.

    ``dummy_hash`` is a hash of a random password at the same profile, verified when an
    account does not exist, so a login for an unknown email costs as much as one for a
    known email.
    """

    dummy_hash: str

    def __init__(self, profile: Argon2Profile = OWASP_ARGON2) -> None:
        self.profile = profile
        self._argon2 = argon2.PasswordHasher(
            time_cost=profile.time_cost,
            memory_cost=profile.memory_kib,
            parallelism=profile.parallelism,
            type=argon2.Type.ID,
        )
        # Made now, not at the first unknown-email login: a lazy dummy would make that one
        # login pay for an extra hash, a timing difference an attacker could notice.
        self.dummy_hash = self.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """A salted Argon2id hash of the NFKC form, in PHC format (``$argon2id$v=19$m=…``)."""
        return self._argon2.hash(normalize_password(password))

    def verify(self, stored_hash: str, password: str) -> bool:
        """True if ``password`` matches ``stored_hash``; False for a mismatch or a malformed hash."""
        return self.check(stored_hash, password).matches

    def check(self, stored_hash: str, password: str) -> PasswordCheck:
        """Verify for a login: the NFKC form first, then the form as typed, which is what
        hashes stored before normalisation was introduced were made from (those need a
        rehash). The second try depends only on the input, never on the account."""
        normalized = normalize_password(password)
        if self._matches(stored_hash, normalized):
            return PasswordCheck(True, self.needs_rehash(stored_hash))
        if normalized != password and self._matches(stored_hash, password):
            return PasswordCheck(True, needs_rehash=True)
        return PasswordCheck(False, needs_rehash=False)

    def _matches(self, stored_hash: str, password: str) -> bool:
        scheme = identify(stored_hash)
        if scheme is HashScheme.ARGON2ID:
            try:
                return self._argon2.verify(stored_hash, password)
            except (VerificationError, InvalidHashError):
                return False
        if scheme is HashScheme.BCRYPT:
            try:
                return bcrypt.checkpw(password.encode(), stored_hash.encode())
            except ValueError:  # e.g. bcrypt 5 refuses passwords over 72 bytes
                return False
        if scheme is HashScheme.SHA1_UNSALTED:
            computed = hashlib.sha1(password.encode()).hexdigest()
            return hmac.compare_digest(computed, stored_hash.lower())
        return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True if the hash is legacy or was made with other Argon2 parameters than ours."""
        if identify(stored_hash) is not HashScheme.ARGON2ID:
            return True
        try:
            return self._argon2.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError):
            return True

    def __repr__(self) -> str:
        return f"PasswordHasher({self.profile})"
