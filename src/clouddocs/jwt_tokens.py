# Generated from notebooks/03_jwt.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Access tokens: short-lived signed JWTs that say who the caller is, for a few minutes.

Signed, not encrypted: anyone holding a token can read its claims, so nothing secret goes
in them. Verification pins everything the token could otherwise choose for itself: the
algorithm (per key, RFC 8725 §3.1), the key (by ``kid`` from our own allow-list, never
from ``jku``/``jwk`` headers), the token type (RFC 8725 §3.11, RFC 9068 §4), the issuer
and the audience (RFC 8725 §3.8–3.9), and the time claims against an injectable clock.
"""

import base64
import binascii
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from clouddocs.clock import Clock, SystemClock

#: The ``typ`` header of an access token (RFC 9068 §2.1) and of a refresh token.
ACCESS_TOKEN_TYPE = "at+jwt"
REFRESH_TOKEN_TYPE = "refresh+jwt"

#: Access tokens cannot be recalled once issued, so they must die quickly.
MAX_ACCESS_LIFETIME = timedelta(minutes=15)
#: Clock skew tolerated between servers; more than a minute hides real expiry bugs.
MAX_LEEWAY = timedelta(seconds=60)
#: An HS256 key as long as the hash output: 256 bits (RFC 7518 §3.2).
MIN_HS256_SECRET_BYTES = 32

#: Claims every token must carry; a token missing one is refused, not defaulted.
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti")
#: Header parameters that would let a token name its own verification key. Never honoured.
KEY_SOURCE_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c"})

Algorithm = Literal["HS256", "RS256", "EdDSA"]


class InvalidToken(Exception):
    """A token was refused. The message is for logs and tests; clients get a bare 401."""


_FACTORY = object()  # only HS256Secret's own constructors hold it
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class HS256Secret(bytes):
    """An HS256 key: at least 32 random bytes, never a password.

    Made in one of two ways only: ``generate()`` (the OS's CSPRNG, via ``secrets``), or
    ``from_base64url(text)`` for a key generated that way elsewhere and kept in a secret
    store. Length alone proves nothing: ``b"password" * 4`` is 32 bytes that a word list
    finds in milliseconds. It is still ``bytes``, so PyJWT and ``hmac`` take it as is.
    """

    def __new__(cls, raw: bytes, *, _made_by: object = None) -> "HS256Secret":
        if _made_by is not _FACTORY:
            raise TypeError(
                "an HS256 key comes from HS256Secret.generate() or"
                " HS256Secret.from_base64url(<32+ random bytes, base64url>), never from raw bytes"
            )
        return super().__new__(cls, raw)

    @classmethod
    def generate(cls) -> "HS256Secret":
        """256 fresh bits from the operating system's CSPRNG."""
        return cls(secrets.token_bytes(MIN_HS256_SECRET_BYTES), _made_by=_FACTORY)

    @classmethod
    def from_base64url(cls, text: str) -> "HS256Secret":
        """A stored key, e.g. made by ``python -c "import secrets; print(secrets.token_urlsafe(32))"``."""
        if not _BASE64URL.fullmatch(text):
            raise ValueError("an HS256 key must be given as base64url text")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise ValueError("an HS256 key must be given as base64url text") from None
        if len(raw) < MIN_HS256_SECRET_BYTES:
            raise ValueError(f"an HS256 key needs at least {MIN_HS256_SECRET_BYTES} random bytes")
        # No test proves randomness, but these catch an encoded passphrase for certain: 32
        # random bytes are all printable with odds of ~1e-14, and hold ~30 distinct values.
        if all(32 <= byte < 127 for byte in raw) or len(set(raw)) < 16:
            raise ValueError("this HS256 key is text or a pattern, not random bytes")
        return cls(raw, _made_by=_FACTORY)

    def __repr__(self) -> str:
        return "HS256Secret(•••)"  # never print key material, in a notebook or a log line

    __str__ = __repr__


PrivateKey = HS256Secret | RSAPrivateKey | Ed25519PrivateKey
PublicKey = HS256Secret | RSAPublicKey | Ed25519PublicKey


@dataclass(frozen=True, repr=False)
class SigningKey:
    """One key, its id and the single algorithm it may be used with.

    The key is a parsed object (or an ``HS256Secret``), loaded once at start-up: parsing a
    PEM file on every request costs far more than the signature itself.
    """

    kid: str
    algorithm: Algorithm
    private_key: PrivateKey

    def __post_init__(self) -> None:
        expected: dict[str, tuple[type, str]] = {
            "HS256": (HS256Secret, "an HS256Secret (HS256Secret.generate() or .from_base64url)"),
            "RS256": (RSAPrivateKey, "an RSA private key"),
            "EdDSA": (Ed25519PrivateKey, "an Ed25519 private key"),
        }
        kind, wanted = expected[self.algorithm]
        if not isinstance(self.private_key, kind):
            raise TypeError(
                f"{self.algorithm} needs {wanted}, not {type(self.private_key).__name__}"
            )

    @property
    def public_key(self) -> PublicKey:
        """What verifies this key's signatures (the secret itself for HS256)."""
        if isinstance(self.private_key, HS256Secret):
            return self.private_key
        return self.private_key.public_key()

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, algorithm={self.algorithm!r})"


@dataclass(frozen=True)
class VerificationKey:
    """A key a verifier accepts, pinned to exactly one algorithm."""

    algorithm: Algorithm
    # For HS256 this *is* the secret: keep it out of reprs, tracebacks and logs.
    key: PublicKey = field(repr=False)


def new_hs256_key(kid: str) -> SigningKey:
    """A fresh 256-bit HS256 key from the operating system's CSPRNG."""
    return SigningKey(kid, "HS256", HS256Secret.generate())


class KeyRing:
    """The key an issuer signs with now, plus older keys it still accepts during rotation."""

    def __init__(self, current: SigningKey) -> None:
        self._keys: dict[str, SigningKey] = {}
        self._verification: dict[str, VerificationKey] = {}
        self._current = current
        self._add(current)

    @property
    def current(self) -> SigningKey:
        return self._current

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    def signing_keys(self) -> list[SigningKey]:
        return list(self._keys.values())

    def rotate(self, new_key: SigningKey) -> None:
        """Sign with ``new_key`` from now on; tokens signed by older keys still verify."""
        self._add(new_key)
        self._current = new_key

    def retire(self, kid: str) -> None:
        """Stop accepting a key (once every token it signed has expired)."""
        if kid == self._current.kid:
            raise ValueError("rotate to a new key before retiring the current one")
        del self._keys[kid]
        del self._verification[kid]

    def verification_keys(self) -> Mapping[str, VerificationKey]:
        return self._verification

    def _add(self, key: SigningKey) -> None:
        if key.kid in self._keys:
            raise ValueError(f"key id {key.kid!r} is already in the ring")
        self._keys[key.kid] = key
        # Derived once here, so verifying never re-derives or re-parses a key.
        self._verification[key.kid] = VerificationKey(key.algorithm, key.public_key)


def verify_jwt(
    token: str,
    keys: Mapping[str, VerificationKey],
    *,
    token_type: str,
    issuer: str,
    audience: str,
    clock: Clock,
    leeway: timedelta,
) -> dict[str, Any]:
    """Verify ``token`` and return its claims, or raise ``InvalidToken``.

    Every choice is the verifier's, none is the token's: the key comes from ``keys`` by
    ``kid`` (an allow-list), the algorithm is the one pinned to that key, and the type,
    issuer and audience must be the expected ones.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as error:
        raise InvalidToken("malformed token") from error
    if KEY_SOURCE_HEADERS & header.keys():
        raise InvalidToken("the token tries to supply its own key (jku/jwk/x5u/x5c)")
    if media_type(header.get("typ")) != media_type(token_type):
        raise InvalidToken(f"wrong token type: expected {token_type!r}")
    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise InvalidToken("unknown key id")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm],
            issuer=issuer,
            audience=audience,
            # PyJWT compares exp/iat/nbf with the wall clock (datetime.now) and offers no
            # hook for another clock. We switch those three checks off here and make them
            # in check_time_claims against the injected clock: the same code then expires
            # tokens under SystemClock in production and under FrozenClock in tests.
            options={
                "require": list(REQUIRED_CLAIMS),
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidTokenError as error:
        raise InvalidToken(f"rejected by the JWT library: {type(error).__name__}") from error
    # The issuer once more, by exact comparison, whatever PyJWT release is installed:
    # 2.10.0 accepted any iss that was a substring of the expected one (CVE-2024-53861).
    if not isinstance(claims["iss"], str) or claims["iss"] != issuer:
        raise InvalidToken("wrong issuer")
    check_time_claims(claims, now=clock.time(), leeway=leeway)
    return claims


def media_type(typ: object) -> str | None:
    """A ``typ`` header compared as the media type it is (RFC 7515 §4.1.9).

    The ``application/`` prefix may be left out and media types ignore case, so RFC 9068 §4
    has resource servers accept both ``at+jwt`` and ``application/at+jwt``. Anything else,
    a missing ``typ`` included, stays different from every expected type.
    """
    if not isinstance(typ, str):
        return None
    return typ.lower().removeprefix("application/")


def check_time_claims(claims: Mapping[str, Any], *, now: float, leeway: timedelta) -> None:
    """Refuse a token that has expired, was issued in the future or is not valid yet."""
    slack = leeway.total_seconds()
    times = {name: claims[name] for name in ("exp", "iat", "nbf") if name in claims}
    for name, value in times.items():
        # JSON parsers accept NaN and Infinity: an exp of NaN would never compare as past.
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidToken(f"the {name} claim is not a number")
    if now >= times["exp"] + slack:
        raise InvalidToken("the token has expired")
    if now + slack < times["iat"]:
        raise InvalidToken("the token was issued in the future")
    if now + slack < times.get("nbf", times["iat"]):
        raise InvalidToken("the token is not valid yet")


@dataclass(frozen=True)
class TokenSettings:
    """Who issues tokens, for whom, and for how long."""

    issuer: str
    audience: str
    access_lifetime: timedelta = timedelta(minutes=10)
    leeway: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        if not timedelta(0) < self.access_lifetime <= MAX_ACCESS_LIFETIME:
            raise ValueError(f"access tokens must live at most {MAX_ACCESS_LIFETIME}")
        if not timedelta(0) <= self.leeway <= MAX_LEEWAY:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY}")


@dataclass
class TokenService:
    """Issues and verifies CloudDocs tokens with the keys of one ``KeyRing``."""

    keys: KeyRing
    settings: TokenSettings
    clock: Clock = field(default_factory=SystemClock)

    def issue(
        self,
        subject: str,
        *,
        token_type: str = ACCESS_TOKEN_TYPE,
        audience: str | None = None,
        lifetime: timedelta | None = None,
        claims: Mapping[str, Any] | None = None,
        jti: str | None = None,
    ) -> str:
        """Sign a token for ``subject``; registered claims cannot be overridden by ``claims``."""
        lifetime = lifetime or self.settings.access_lifetime
        if token_type == ACCESS_TOKEN_TYPE and lifetime > MAX_ACCESS_LIFETIME:
            raise ValueError(f"access tokens must live at most {MAX_ACCESS_LIFETIME}")
        now = int(self.clock.time())
        payload = {
            **(claims or {}),
            "iss": self.settings.issuer,
            "sub": subject,
            "aud": audience or self.settings.audience,
            "iat": now,
            "exp": now + int(lifetime.total_seconds()),
            "jti": jti or secrets.token_urlsafe(16),
        }
        key = self.keys.current
        return jwt.encode(
            payload,
            key.private_key,
            algorithm=key.algorithm,
            headers={"typ": token_type, "kid": key.kid},
        )

    def verify(
        self, token: str, *, token_type: str = ACCESS_TOKEN_TYPE, audience: str | None = None
    ) -> dict[str, Any]:
        """The claims of a valid token of ``token_type``; ``InvalidToken`` otherwise."""
        return verify_jwt(
            token,
            self.keys.verification_keys(),
            token_type=token_type,
            issuer=self.settings.issuer,
            audience=audience or self.settings.audience,
            clock=self.clock,
            leeway=self.settings.leeway,
        )
