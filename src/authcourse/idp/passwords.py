"""Password hashing for the provider's users (Argon2id, with cheap parameters: this is a test IdP)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Deliberately cheap so a test suite can create many users; a real IdP uses the defaults
# (or stronger), as the password-storage chapter explains.
_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

# Verifying against this when the username is unknown makes that case cost the same as a
# wrong password, so response timing does not reveal which usernames exist.
_DECOY_HASH = _HASHER.hash("decoy password for unknown usernames")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; argon2 compares the digests in constant time."""
    try:
        matches = _HASHER.verify(password_hash or _DECOY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return matches and password_hash is not None
