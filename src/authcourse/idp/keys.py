"""The provider's RSA signing keys, their public JWKS, and key rotation."""

from __future__ import annotations

from collections import deque
from typing import Any

from joserfc.jwk import KeySet, RSAKey

SIGNING_ALGORITHM = "RS256"

# The current key plus the one it replaced: a token signed just before a rotation must stay
# verifiable until it expires, so the previous key is published until the next rotation.
_PUBLISHED_KEYS = 2


class SigningKeys:
    """A rotating set of RS256 keys. ``current`` signs; ``jwks()`` publishes the public halves."""

    def __init__(self, key_size: int = 2048) -> None:
        self._key_size = key_size
        self._keys: deque[RSAKey] = deque(maxlen=_PUBLISHED_KEYS)

    @property
    def current(self) -> RSAKey:
        return self._published()[-1]

    @property
    def current_kid(self) -> str:
        kid = self.current.kid
        assert kid is not None  # every key is created with a kid
        return kid

    def rotate(self) -> str:
        """Start signing with a fresh key; return its ``kid``. The oldest key is unpublished."""
        key = RSAKey.generate_key(
            self._key_size, parameters={"use": "sig", "alg": SIGNING_ALGORITHM}, auto_kid=True
        )
        self._keys.append(key)
        return self.current_kid

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JSON Web Key Set (RFC 7517 §5): public parameters only, newest key first."""
        keys = reversed(self._published())
        return {"keys": [dict(key.as_dict(private=False)) for key in keys]}

    def published(self) -> KeySet:
        """The keys a token signed by this provider may still be verified with."""
        return KeySet(list(self._published()))

    def _published(self) -> deque[RSAKey]:
        # The first key is made on first use: generating an RSA key costs ~50-100 ms, and a
        # provider that only ever refuses requests (many tests) never needs one.
        if not self._keys:
            self.rotate()
        return self._keys
