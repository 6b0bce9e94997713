"""Access and refresh tokens: RS256 JWT access tokens (RFC 9068 profile) or opaque ones.

**The trade-off of JWT access tokens.** A resource server verifies a JWT access token
offline, with the provider's public keys, and never calls back. That is why JWTs scale,
and also why revoking the grant (``/revoke``, a refresh-token replay, a code replay) cannot
recall a JWT access token already handed out: it keeps verifying until its ``exp``. The
provider bounds that window by keeping access tokens short-lived (10 minutes by default).
A resource server that must see revocation at once uses *opaque* access tokens instead
(per client or per resource server) and asks ``/introspect`` on every request, paying a
round trip for it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from joserfc import jwt

from authcourse.clock import Clock
from authcourse.idp.keys import SIGNING_ALGORITHM, SigningKeys
from authcourse.idp.models import Client, User

#: The checklist caps access tokens at 15 minutes; 10 leaves margin for clock skew.
ACCESS_TOKEN_LIFETIME = 10 * 60  # seconds
REFRESH_TOKEN_LIFETIME = 14 * 24 * 3600  # seconds
#: Absolute: however often a client refreshes, the user signs in again after this.
GRANT_LIFETIME = 30 * 24 * 3600  # seconds
ID_TOKEN_LIFETIME = 3600  # seconds


@dataclass(frozen=True)
class TokenRequest:
    """Everything needed to mint one token response."""

    client: Client
    user: User | None
    scope: str
    #: The resource server the access token is for; it becomes ``aud``.
    audience: str
    opaque: bool
    #: Seconds the access token lives (already capped by the grant's absolute lifetime).
    expires_in: int
    include_refresh_token: bool


class TokenIssuer:
    """Mints bearer token responses (RFC 6749 §5.1) with JWT or opaque access tokens."""

    def __init__(self, issuer: str, keys: SigningKeys, clock: Clock) -> None:
        self._issuer = issuer
        self._keys = keys
        self._clock = clock

    def issue(self, request: TokenRequest) -> dict[str, Any]:
        if request.opaque:
            # Opaque and unguessable: only the provider can say what it means (RFC 7662).
            access_token = secrets.token_urlsafe(32)
        else:
            access_token = self._jwt_access_token(request)
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access_token,
            "expires_in": request.expires_in,
            "scope": request.scope,
        }
        if request.include_refresh_token:
            # Opaque too: a refresh token is only ever read by the provider itself.
            token["refresh_token"] = secrets.token_urlsafe(32)
        return token

    def _jwt_access_token(self, request: TokenRequest) -> str:
        now = int(self._clock.time())
        client_id = request.client.client_id
        claims: dict[str, Any] = {
            "iss": self._issuer,
            # RFC 9068 §3: the resource named in the request (RFC 8707), or a default one,
            # is the audience; never the client, so an access token is not an ID token.
            "aud": request.audience,
            "client_id": client_id,
            # RFC 9068 §2.2: with no resource owner, ``sub`` identifies the client itself
            # (client ids and user subjects never overlap: see ``MemoryStore``).
            "sub": request.user.subject if request.user is not None else client_id,
            "scope": request.scope,
            "iat": now,
            "exp": now + request.expires_in,
            "jti": secrets.token_urlsafe(16),
        }
        # RFC 9068 §2.1: JWT access tokens MUST carry typ "at+jwt", so an ID token can
        # never be replayed as an access token (or the other way round).
        header = {"alg": SIGNING_ALGORITHM, "typ": "at+jwt", "kid": self._keys.current_kid}
        return jwt.encode(header, claims, self._keys.current, algorithms=[SIGNING_ALGORITHM])
