"""``IdentityProvider``: an in-process OAuth 2.0 / OpenID Connect provider for the course."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from authlib.common.security import is_secure_transport
from joserfc import jwt
from starlette.applications import Starlette

from authcourse.clock import Clock, SystemClock
from authcourse.idp.app import build_app
from authcourse.idp.discovery import provider_metadata
from authcourse.idp.keys import SIGNING_ALGORITHM, SigningKeys
from authcourse.idp.models import Client, User, scope_list, secret_digest
from authcourse.idp.passwords import hash_password
from authcourse.idp.resources import is_resource_identifier
from authcourse.idp.server import AuthorizationServer
from authcourse.idp.store import MemoryStore, ResourceServer
from authcourse.idp.throttle import ACCOUNT_LIMIT, IP_LIMIT, LoginThrottle
from authcourse.idp.tokens import ACCESS_TOKEN_LIFETIME, GRANT_LIFETIME

SUPPORTED_GRANT_TYPES = frozenset({"authorization_code", "refresh_token", "client_credentials"})
DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")
DEFAULT_SCOPE = "openid profile email"


class IdentityProvider:
    """An offline stand-in for Google or an enterprise IdP.

    >>> idp = IdentityProvider(issuer="https://idp.test")
    >>> alice = idp.add_user("alice", "correct horse battery staple", email="alice@example.com")
    >>> api = idp.add_resource_server("https://api.clouddocs.test", client_id="docs-api",
    ...                               secret="api-s3cret")
    >>> web = idp.add_client("clouddocs-web", secret="s3cret",
    ...                      redirect_uris=["https://clouddocs.test/auth/callback"],
    ...                      default_resource="https://api.clouddocs.test")
    >>> idp.metadata["token_endpoint"]
    'https://idp.test/token'

    ``idp.app`` is the ASGI app; talk to it with ``authcourse.client.browser`` or
    ``httpx2.ASGITransport``, or over the loopback network with ``authcourse.idp.serve``.

    What it promises:

    * **Access tokens** live ``access_token_lifetime`` (10 minutes by default) and are for
      one resource server: their ``aud`` is the RFC 8707 ``resource`` the client asked for,
      or the client's ``default_resource``, or, failing both, this provider's /userinfo.
      They are RS256 JWTs (RFC 9068, ``typ: at+jwt``), or opaque strings for clients or
      resource servers registered with ``opaque_access_tokens=True``.
    * **The JWT trade-off.** Revoking a grant (``/revoke``, a replayed refresh token or
      code) stops its refresh tokens, its opaque access tokens, /userinfo and
      /introspect at once; but a JWT access token already handed out still verifies
      offline, with the public keys, until its ``exp``. Short lifetimes bound that window;
      an API that needs revocation at once uses opaque tokens and introspection.
    * **Grants** end ``grant_lifetime`` (30 days by default) after the user approved them,
      however often the refresh token is rotated.
    * **Introspection** is for registered resource servers only, about tokens addressed to
      them (RFC 7662 §4); others get 401, or ``{"active": false}``.
    * **Sign-in** has a CSRF token, an Origin check and per-account / per-IP throttling
      (``account_login_limit``, ``ip_login_limit``, counted by ``limits`` in
      ``rate_limit_storage``); it opens a single sign-on session that RP-initiated logout
      (``/logout``) ends. **Consent** is asked once per (user, client, scopes) for each
      resource server, and remembered; ``first_party`` clients skip it.
    """

    def __init__(
        self,
        issuer: str = "https://idp.test",
        *,
        clock: Clock | None = None,
        access_token_lifetime: int = ACCESS_TOKEN_LIFETIME,
        grant_lifetime: int = GRANT_LIFETIME,
        account_login_limit: str = ACCOUNT_LIMIT,
        ip_login_limit: str = IP_LIMIT,
        rate_limit_storage: str = "memory://",
    ) -> None:
        _check_issuer(issuer)
        if not 0 < access_token_lifetime <= grant_lifetime:
            raise ValueError("access tokens must live a positive time, within the grant's")
        self.issuer = issuer
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._store = MemoryStore()
        self._keys = SigningKeys()
        self._server = AuthorizationServer(
            issuer=issuer,
            store=self._store,
            keys=self._keys,
            clock=self.clock,
            access_token_lifetime=access_token_lifetime,
            grant_lifetime=grant_lifetime,
        )
        throttle = LoginThrottle(
            self.clock,
            account_limit=account_login_limit,
            ip_limit=ip_login_limit,
            storage_uri=rate_limit_storage,
            # Several providers may share one Redis: keep their counters apart.
            namespace="idp:" + issuer,
        )
        self.app: Starlette = build_app(self._server, throttle)

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
        first_party: bool = False,
        default_resource: str | None = None,
        resources: Sequence[str] = (),
        opaque_access_tokens: bool = False,
        post_logout_redirect_uris: Sequence[str] = (),
        pkce_required: bool = True,
        insecure_demo: bool = False,
    ) -> Client:
        """Register a client: confidential with a ``secret``, public without.

        PKCE (S256) is required from every client. ``pkce_required=False`` exists only for
        the stolen-code demonstration and is refused unless ``insecure_demo=True`` too.
        ``first_party`` clients skip the consent screen. ``default_resource`` and
        ``resources`` name the resource servers (RFC 8707) it may get tokens for.
        """
        if not pkce_required and not insecure_demo:
            raise ValueError(
                "pkce_required=False makes stolen authorization codes usable; it is only "
                "for demonstrations and needs insecure_demo=True as well"
            )
        if client_id.isdigit():
            # User subjects are all digits; client ids never are, so the two namespaces
            # cannot meet (RFC 9068 §5: a client must not pick a user's ``sub``).
            raise ValueError(
                f"client ids must not be all digits (user subjects are): {client_id!r}"
            )
        for resource in (default_resource, *resources):
            if resource is not None and self._store.resource_server(resource) is None:
                raise ValueError(f"unknown resource server {resource!r}: add_resource_server first")
        for uri in post_logout_redirect_uris:
            _check_redirect_uri(uri)
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
            first_party=first_party,
            pkce_required=pkce_required,
            default_resource=default_resource,
            resources=tuple(resources),
            opaque_access_tokens=opaque_access_tokens,
            post_logout_redirect_uris=tuple(post_logout_redirect_uris),
        )
        self._store.add_client(client)
        return client

    def add_resource_server(
        self,
        identifier: str,
        *,
        client_id: str,
        secret: str,
        opaque_access_tokens: bool = False,
    ) -> ResourceServer:
        """Register an API by its RFC 8707 identifier (an absolute URI, the tokens' ``aud``).

        ``client_id`` and ``secret`` are its credentials at /introspect, which they open for
        tokens addressed to ``identifier`` and nothing else (they work at no other endpoint).
        With ``opaque_access_tokens`` every token for this API is opaque.
        """
        if not is_resource_identifier(identifier):
            raise ValueError(
                f"a resource identifier is an absolute URI without fragment: {identifier!r}"
            )
        if client_id.isdigit():
            raise ValueError(
                f"client ids must not be all digits (user subjects are): {client_id!r}"
            )
        resource_server = ResourceServer(identifier, client_id, opaque_access_tokens)
        self._store.add_resource_server(resource_server)
        self._store.add_client(
            Client(
                client_id=client_id,
                secret_digest=secret_digest(secret),
                redirect_uris=(),
                grant_types=(),
                scopes=(),
                name=client_id,
                resource_identifier=identifier,
            )
        )
        return resource_server

    def rotate_keys(self) -> str:
        """Sign with a new key from now on; the previous key stays published until the next rotation."""
        return self._keys.rotate()

    def sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        """Sign a JWT with the current key, as this provider signs its ID tokens.

        For test harnesses that need a token this provider would never issue on its own
        (the audit's misbehaving provider: a wrong ``aud``, an expired ``exp``...). The
        ``alg`` and ``kid`` header fields are set here; anything else in ``header`` is kept.
        """
        protected = {**header, "alg": SIGNING_ALGORITHM, "kid": self._keys.current_kid}
        return jwt.encode(protected, claims, self._keys.current, algorithms=[SIGNING_ALGORITHM])

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
