"""Chapter 3's lab helpers: the issuer and audience the lab's tokens carry, and the
vulnerable verifier exercise 03.2 attacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from clouddocs.jwt_tokens import InvalidToken

ISSUER = "https://clouddocs.test"
AUDIENCE = "https://api.clouddocs.test"
JWKS_URL = "https://clouddocs.test/.well-known/jwks.json"


def b64decode(part: str) -> bytes:
    """A base64url JWT segment (no padding) as bytes."""
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def naive_verify_rs256(token: str, public_pem: bytes) -> dict[str, Any]:
    """The vulnerable verifier of exercise 03.2: it lets the header choose the algorithm."""
    header_part, payload_part, signature_part = token.split(".")
    header = json.loads(b64decode(header_part))
    signing_input = f"{header_part}.{payload_part}".encode("ascii")
    signature = b64decode(signature_part)
    if header.get("alg") == "HS256":
        expected = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            raise InvalidToken("bad signature")
    elif header.get("alg") == "RS256":
        key = serialization.load_pem_public_key(public_pem)
        assert isinstance(key, rsa.RSAPublicKey)
        try:
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as error:
            raise InvalidToken("bad signature") from error
    else:
        raise InvalidToken("unsupported algorithm")
    payload: dict[str, Any] = json.loads(b64decode(payload_part))
    return payload
