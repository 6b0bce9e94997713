"""``IdentityProvider``: an in-process OAuth 2.0 / OpenID Connect provider for the course."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from authlib.common.security import is_secure_transport
from starlette.applications import Starlette

from authcourse.clock import Clock, SystemClock
from authcourse.idp.app import build_app
from authcourse.idp.discovery import provider_metadata
from authcourse.idp.keys import SigningKeys
from authcourse.idp.models import Client, User, scope_list, secret_digest
from authcourse.idp.passwords import hash_password
from authcourse.idp.server import AuthorizationServer
from authcourse.idp.store import MemoryStore

SUPPORTED_GRANT_TYPES = frozenset({"authorization_code", "refresh_token", "client_credentials"})
DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")
DEFAULT_SCOPE = "openid profile email"


class IdentityProvider:
    """An offline stand-in for Google or an enterprise IdP.

    >>> idp = IdentityProvider(issuer="https://idp.test")
    >>> alice = idp.add_user("alice", "correct horse battery staple", email="alice@example.com")
    >>> web = idp.add_client("clouddocs-web", secret="s3cret",
    ...                      redirect_uris=["https://clouddocs.test/auth/callback"])
    >>> idp.metadata["token_endpoint"]
    'https://idp.test/token'

    ``idp.app`` is the ASGI app; talk to it with ``authcourse.client.browser`` or
    ``httpx2.ASGITransport``, or over the loopback network with ``authcourse.idp.serve``.
    """

    def __init__(self, issuer: str = "https://idp.test", *, clock: Clock | None = None) -> None:
        _check_issuer(issuer)
        self.issuer = issuer
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._store = MemoryStore()
        self._keys = SigningKeys()
        self._server = AuthorizationServer(
            issuer=issuer, store=self._store, keys=self._keys, clock=self.clock
        )
        self.app: Starlette = build_app(self._server)

    def add_user(
        self,
        username: str,
        password: str,
        *,
        email: str | None = None,
        email_verified: bool = False,
        name: str | None = None,
        picture: str | None = None,
        hd: str | None = None,
        groups: Sequence[str] = (),
    ) -> User:
        """Register a user who can sign in at /authorize. ``hd`` is Google's hosted domain."""
        user = User(
            username=username,
            subject=self._subject_for(username),
            password_hash=hash_password(password),
            email=email,
            email_verified=email_verified,
            name=name,
            picture=picture,
            hosted_domain=hd,
            groups=tuple(groups),
        )
        self._store.add_user(user)
        return user

    def add_client(
        self,
        client_id: str,
        *,
        secret: str | None = None,
        redirect_uris: Sequence[str] = (),
        grant_types: Sequence[str] = DEFAULT_GRANT_TYPES,
        scope: str | Sequence[str] = DEFAULT_SCOPE,
        name: str | None = None,
    ) -> Client:
        """Register a client: confidential with a ``secret``, public (PKCE required) without."""
        unknown = set(grant_types) - SUPPORTED_GRANT_TYPES
        if unknown:
            raise ValueError(f"unsupported grant types: {sorted(unknown)}")
        if "client_credentials" in grant_types and secret is None:
            # RFC 6749 §4.4: the client credentials grant MUST only be used by confidential clients.
            raise ValueError("the client_credentials grant needs a confidential client (a secret)")
        if "authorization_code" in grant_types and not redirect_uris:
            raise ValueError("the authorization_code grant needs at least one redirect URI")
        for uri in redirect_uris:
            _check_redirect_uri(uri)
        client = Client(
            client_id=client_id,
            secret_digest=secret_digest(secret) if secret is not None else None,
            redirect_uris=tuple(redirect_uris),
            grant_types=tuple(grant_types),
            scopes=scope_list(scope),
            name=name or client_id,
        )
        self._store.add_client(client)
        return client

    def rotate_keys(self) -> str:
        """Sign with a new key from now on; the previous key stays published until the next rotation."""
        return self._keys.rotate()

    @property
    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public keys, as served at /jwks."""
        return self._keys.jwks()

    @property
    def metadata(self) -> dict[str, Any]:
        """The discovery document, as served at /.well-known/openid-configuration."""
        return provider_metadata(self.issuer, self._store.all_scopes())

    def _subject_for(self, username: str) -> str:
        # Opaque and numeric like Google's ``sub``, different per issuer, and stable across
        # runs so notebook outputs do not change.
        digest = hashlib.sha256(f"{self.issuer}|{username}".encode()).digest()
        return str(int.from_bytes(digest[:8], "big"))

    def __repr__(self) -> str:
        return f"IdentityProvider(issuer={self.issuer!r})"


def _check_issuer(issuer: str) -> None:
    parts = urlsplit(issuer)
    # OpenID Connect Discovery §3 / RFC 8414 §2: an https URL (loopback http is tolerated
    # for local serving) with no query or fragment.
    if not is_secure_transport(issuer) or parts.query or parts.fragment:
        raise ValueError(f"issuer must be an https URL without query or fragment: {issuer!r}")
    if issuer.endswith("/"):
        raise ValueError(f"issuer must not end with '/' (it is compared exactly): {issuer!r}")


def _check_redirect_uri(uri: str) -> None:
    parts = urlsplit(uri)
    # RFC 6749 §3.1.2: the redirection endpoint MUST be an absolute URI without a fragment.
    if not parts.scheme or not parts.netloc or parts.fragment:
        raise ValueError(f"redirect URIs must be absolute and fragment-free: {uri!r}")
