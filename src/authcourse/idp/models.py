"""The records the provider keeps: users, registered clients, authorization codes, tokens.

Authlib's server core is storage-agnostic: it calls duck-typed methods (``check_redirect_uri``,
``get_scope``, ``is_expired``...) on whatever objects the provider hands it. These dataclasses
implement those methods (Authlib's ``ClientMixin``, ``AuthorizationCodeMixin`` and
``TokenMixin`` interfaces) on plain in-memory records.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from authcourse.clock import Clock

TokenKind = Literal["access_token", "refresh_token"]


@dataclass
class User:
    """A resource owner. ``subject`` is the stable ``sub`` claim; the password is only a hash."""

    username: str
    subject: str
    password_hash: str = field(repr=False)
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    picture: str | None = None
    hosted_domain: str | None = None
    groups: tuple[str, ...] = ()


@dataclass
class Client:
    """A registered OAuth client: confidential when it has a secret, public otherwise.

    A resource server's credentials are a ``Client`` too, with ``resource_identifier`` set:
    such a client may only call /introspect, and only learns about tokens addressed to it.
    """

    client_id: str
    secret_digest: bytes | None = field(repr=False)
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    name: str
    #: Skip the consent screen: the provider and the client belong to the same party.
    first_party: bool = False
    #: False only for the chapter 5 stolen-code demo (``insecure_demo=True`` is required).
    pkce_required: bool = True
    #: The ``aud`` of access tokens when the client names no RFC 8707 ``resource``.
    default_resource: str | None = None
    #: The resource indicators this client may ask tokens for (besides the default).
    resources: tuple[str, ...] = ()
    #: Issue opaque access tokens (checked by introspection) instead of JWTs.
    opaque_access_tokens: bool = False
    #: RP-Initiated Logout 1.0 §3: must be registered; compared here as exact strings.
    post_logout_redirect_uris: tuple[str, ...] = ()
    #: Set for a resource server's credentials: the identifier it introspects tokens for.
    resource_identifier: str | None = None

    @property
    def is_public(self) -> bool:
        return self.secret_digest is None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        # OpenID Connect Core §3.1.2.1: redirect_uri is REQUIRED, so there is no default.
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The scope to grant, or None (Authlib answers ``invalid_scope``) if any is not allowed."""
        if not scope:
            # RFC 6749 §3.3: an omitted scope gets the pre-defined default value.
            return " ".join(self.scopes)
        requested = scope.split()
        if not set(requested) <= set(self.scopes):
            return None
        return " ".join(dict.fromkeys(requested))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # RFC 9700 §4.1.3: redirect URIs MUST be compared by exact string matching.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_digest is None:
            return False
        return hmac.compare_digest(secret_digest(client_secret), self.secret_digest)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # RFC 7662 §2.1 and §4: introspection is for registered resource servers only, and
        # a resource server's credentials are good for nothing else.
        if (endpoint == "introspection") != (self.resource_identifier is not None):
            return False
        if self.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class AuthorizationCode:
    """A one-time code, bound to its client, redirect URI, user and PKCE challenge."""

    code: str = field(repr=False)
    client_id: str
    redirect_uri: str
    scope: str
    subject: str
    grant_id: str
    auth_time: int
    expires_at: float
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    #: The RFC 8707 resource the tokens will be for (the ``aud`` of the access tokens).
    resource: str | None = None
    used: bool = False

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


@dataclass
class Grant:
    """One authorization: what a user approved for a client, once, and until when.

    Its ``expires_at`` is absolute: rotating refresh tokens never moves it, so a grant
    cannot be kept alive forever by refreshing often.
    """

    grant_id: str
    client_id: str
    subject: str | None
    resource: str
    created_at: float
    expires_at: float


@dataclass
class IssuedToken:
    """One access or refresh token. Tokens from the same authorization share a ``grant_id``.

    The store keeps tokens under a SHA-256 digest of their value, never the value itself.
    """

    kind: TokenKind
    client_id: str
    subject: str | None
    scope: str
    grant_id: str
    #: The resource server the token is for (``aud``); for a refresh token, the grant's.
    audience: str
    issued_at: float
    expires_at: float
    clock: Clock = field(repr=False, compare=False)
    revoked: bool = False
    #: A refresh token that has been exchanged once; presenting it again signals theft.
    rotated: bool = False

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.expires_at - self.issued_at)

    def is_expired(self) -> bool:
        return self.clock.time() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked or self.rotated


def token_digest(value: str) -> bytes:
    """The key a token is stored under: a leaked store does not leak usable tokens."""
    return hashlib.sha256(value.encode()).digest()


def secret_digest(secret: str) -> bytes:
    """Client secrets are random and high-entropy, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(secret.encode()).digest()


def scope_list(scope: str | Sequence[str]) -> tuple[str, ...]:
    """Accept ``"openid email"`` or ``["openid", "email"]``."""
    items = scope.split() if isinstance(scope, str) else list(scope)
    return tuple(dict.fromkeys(items))
