# Generated from notebooks/03_jwt.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Asymmetric signing (RS256, EdDSA), a JWKS document and a verifier that uses it.

With HS256 every verifier holds the signing secret, so every verifier could mint tokens.
With RS256 or EdDSA only the issuer holds the private key; other services fetch the
public keys from the issuer's JWKS endpoint (RFC 7517) and pick one by the token's
``kid`` — from that fetched set only, never from a URL or key inside the token.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from fastapi import APIRouter, Response
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from clouddocs.clock import Clock, SystemClock
from clouddocs.jwt_tokens import (
    ACCESS_TOKEN_TYPE,
    Algorithm,
    InvalidToken,
    KeyRing,
    SigningKey,
    VerificationKey,
    verify_jwt,
)

#: The only algorithms a JWKS verifier will ever accept: asymmetric ones.
ASYMMETRIC_ALGORITHMS: frozenset[str] = frozenset({"RS256", "EdDSA"})


def new_rsa_key(kid: str) -> SigningKey:
    """A 2048-bit RSA key for RS256 (the widest-supported JWT algorithm)."""
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def new_ed25519_key(kid: str) -> SigningKey:
    """An Ed25519 key for EdDSA: small keys, fast deterministic signatures."""
    return SigningKey(kid, "EdDSA", ed25519.Ed25519PrivateKey.generate())


def public_jwk(key: SigningKey) -> dict[str, Any]:
    """The public half of ``key`` as a JWK, tagged with its ``kid`` and pinned ``alg``."""
    public = key.public_key
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ed25519.Ed25519PublicKey):
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    else:
        raise ValueError("an HS256 secret is not public and never goes in a JWKS")
    return {**jwk, "kid": key.kid, "alg": key.algorithm, "use": "sig"}


def jwks_document(ring: KeyRing) -> dict[str, Any]:
    """Every public key of the ring, the current one and those still being phased out."""
    return {"keys": [public_jwk(key) for key in ring.signing_keys()]}


def jwks_router(ring: KeyRing, path: str = "/.well-known/jwks.json") -> APIRouter:
    """Publish the ring's public keys. Public by design: they verify, they cannot sign."""
    router = APIRouter()

    @router.get(path, tags=["public"])
    async def jwks(response: Response) -> dict[str, Any]:
        # Let verifiers cache for a few minutes; rotation keeps old keys published longer.
        response.headers["Cache-Control"] = "public, max-age=300"
        return jwks_document(ring)

    return router


def keys_from_jwks(document: Mapping[str, Any]) -> dict[str, VerificationKey]:
    """Parse a JWKS once into ``kid`` → key pinned to its algorithm.

    Keys without a ``kid``, without an ``alg``, with a symmetric or unknown algorithm, or
    not meant for signatures are skipped: they could only widen what we accept.
    """
    keys: dict[str, VerificationKey] = {}
    for jwk in document.get("keys", []):
        kid, algorithm = jwk.get("kid"), jwk.get("alg")
        if not isinstance(kid, str) or algorithm not in ASYMMETRIC_ALGORITHMS:
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        try:
            parsed = jwt.PyJWK.from_dict(jwk)
        except jwt.PyJWTError:
            continue
        keys[kid] = VerificationKey(cast(Algorithm, algorithm), parsed.key)
    return keys


@dataclass
class JwksVerifier:
    """What a resource service uses to verify tokens from an issuer it does not trust with keys."""

    jwks: Mapping[str, Any]
    issuer: str
    audience: str
    clock: Clock = field(default_factory=SystemClock)
    leeway: timedelta = timedelta(seconds=30)
    keys: dict[str, VerificationKey] = field(init=False)

    def __post_init__(self) -> None:
        self.keys = keys_from_jwks(self.jwks)

    def update(self, jwks: Mapping[str, Any]) -> None:
        """Replace the key set (after re-fetching the issuer's JWKS on rotation)."""
        self.jwks = jwks
        self.keys = keys_from_jwks(jwks)

    def verify(self, token: str, *, token_type: str = ACCESS_TOKEN_TYPE) -> dict[str, Any]:
        if not self.keys:
            raise InvalidToken("no usable keys in the issuer's JWKS")
        return verify_jwt(
            token,
            self.keys,
            token_type=token_type,
            issuer=self.issuer,
            audience=self.audience,
            clock=self.clock,
            leeway=self.leeway,
        )
