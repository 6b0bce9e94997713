"""Access and refresh token generation: RS256 JWT access tokens (RFC 9068 profile)."""

from __future__ import annotations

import secrets
from typing import Any

from authlib.oauth2.rfc6750 import BearerTokenGenerator
from joserfc import jwt

from authcourse.clock import Clock
from authcourse.idp.keys import SIGNING_ALGORITHM, SigningKeys
from authcourse.idp.models import Client, User

ACCESS_TOKEN_LIFETIME = 3600  # seconds
REFRESH_TOKEN_LIFETIME = 14 * 24 * 3600  # seconds
ID_TOKEN_LIFETIME = 3600  # seconds


class JwtAccessTokens:
    """Signs access tokens as JWTs a resource server can verify offline against the JWKS."""

    def __init__(self, issuer: str, keys: SigningKeys, clock: Clock) -> None:
        self._issuer = issuer
        self._keys = keys
        self._clock = clock

    def __call__(self, *, client: Client, grant_type: str, user: User | None, scope: str) -> str:
        now = int(self._clock.time())
        claims: dict[str, Any] = {
            "iss": self._issuer,
            # RFC 9068 §2.2: without a resource indicator the client is the default audience.
            "aud": client.client_id,
            "client_id": client.client_id,
            # RFC 9068 §2.2: with no resource owner, ``sub`` identifies the client itself.
            "sub": user.subject if user is not None else client.client_id,
            "scope": scope,
            "iat": now,
            "exp": now + ACCESS_TOKEN_LIFETIME,
            "jti": secrets.token_urlsafe(16),
        }
        # RFC 9068 §2.1: JWT access tokens MUST carry typ "at+jwt", so an ID token can
        # never be replayed as an access token (or the other way round).
        header = {"alg": SIGNING_ALGORITHM, "typ": "at+jwt", "kid": self._keys.current_kid}
        return jwt.encode(header, claims, self._keys.current, algorithms=[SIGNING_ALGORITHM])


def _refresh_token(*, client: Client, grant_type: str, user: User | None, scope: str) -> str:
    # Opaque and unguessable: a refresh token is only ever read by the provider itself.
    return secrets.token_urlsafe(32)


def _access_token_lifetime(client: Client, grant_type: str) -> int:
    return ACCESS_TOKEN_LIFETIME


def token_generator(issuer: str, keys: SigningKeys, clock: Clock) -> BearerTokenGenerator:
    """Authlib's bearer-token response builder, wired to our JWT access tokens."""
    return BearerTokenGenerator(
        JwtAccessTokens(issuer, keys, clock), _refresh_token, _access_token_lifetime
    )
