"""The Authlib ``AuthorizationServer`` subclass: protocol logic from Authlib, storage from us.

Authlib's server core is framework-agnostic; a framework integration supplies request
adapters (``create_oauth2_request``), a response type (``handle_response``), ``send_signal``
and the storage hooks (``query_client``, ``save_token``). This is that integration, for
requests already captured from Starlette (see ``requests.py``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer as _AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidScopeError, OAuth2Error
from authlib.oauth2.rfc9207 import IssuerParameter

from authcourse.clock import Clock
from authcourse.idp.discovery import USERINFO_PATH
from authcourse.idp.endpoints import IntrospectionEndpoint, RevocationEndpoint
from authcourse.idp.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    IdTokens,
    RefreshTokenGrant,
    S256CodeChallenge,
)
from authcourse.idp.keys import SigningKeys
from authcourse.idp.models import Client, Grant, IssuedToken, User
from authcourse.idp.requests import CapturedRequest, FormRequest
from authcourse.idp.resources import InvalidTargetError, is_resource_identifier
from authcourse.idp.store import MemoryStore
from authcourse.idp.tokens import (
    ACCESS_TOKEN_LIFETIME,
    GRANT_LIFETIME,
    REFRESH_TOKEN_LIFETIME,
    TokenIssuer,
    TokenRequest,
)


@dataclass
class OAuthResponse:
    """What the server core answers, before it becomes a Starlette response."""

    status_code: int
    body: dict[str, Any] | str
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((value for name, value in self.headers if name == "Location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(name, v) for name, v in self.headers if name != "Location"]
        self.headers.append(("Location", value))


class _IssuerParameter(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self._issuer = issuer

    def get_issuer(self) -> str:
        return self._issuer


class AuthorizationServer(_AuthorizationServer):
    """One provider's OAuth 2.0 / OpenID Connect server core."""

    def __init__(
        self,
        *,
        issuer: str,
        store: MemoryStore,
        keys: SigningKeys,
        clock: Clock,
        access_token_lifetime: int = ACCESS_TOKEN_LIFETIME,
        grant_lifetime: int = GRANT_LIFETIME,
    ) -> None:
        super().__init__()
        self.issuer = issuer
        self.store = store
        self.keys = keys
        self.clock = clock
        self.access_token_lifetime = access_token_lifetime
        self.grant_lifetime = grant_lifetime
        #: The provider's own resource: tokens for /userinfo carry this ``aud``.
        self.userinfo_resource = issuer + USERINFO_PATH
        self._tokens = TokenIssuer(issuer, keys, clock)
        self.register_grant(
            AuthorizationCodeGrant, [S256CodeChallenge(required=True), IdTokens(self)]
        )
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(RevocationEndpoint)
        self.register_endpoint(IntrospectionEndpoint)
        # RFC 9207 §2: name the issuer in every authorization response, so a client talking
        # to several providers can tell which one answered (the mix-up attack defence).
        self._issuer_parameter = _IssuerParameter(issuer)
        self.register_extension(self._issuer_parameter)

    # -- storage hooks ------------------------------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        return self.store.client(client_id)

    def save_token(self, token: dict[str, Any], request: FormRequest) -> None:
        grant = request.grant
        assert grant is not None  # every grant sets it while validating the token request
        now = self.clock.time()
        subject = request.user.subject if request.user is not None else None
        common = {
            "client_id": request.client.client_id,
            "subject": subject,
            "scope": token["scope"],
            "grant_id": grant.grant_id,
            "audience": grant.resource,
            "issued_at": now,
            "clock": self.clock,
        }
        self.store.add_token(
            token["access_token"],
            IssuedToken(kind="access_token", expires_at=now + token["expires_in"], **common),
        )
        if "refresh_token" in token:
            expires_at = min(now + REFRESH_TOKEN_LIFETIME, grant.expires_at)
            self.store.add_token(
                token["refresh_token"],
                IssuedToken(kind="refresh_token", expires_at=expires_at, **common),
            )

    # -- grants, resources and token minting -------------------------------------------------

    def new_grant(self, client: Client, user: User | None, resource: str) -> Grant:
        """Record a fresh authorization; its absolute lifetime starts now."""
        now = self.clock.time()
        grant = Grant(
            grant_id=secrets.token_urlsafe(16),
            client_id=client.client_id,
            subject=user.subject if user is not None else None,
            resource=resource,
            created_at=now,
            expires_at=now + self.grant_lifetime,
        )
        self.store.add_grant(grant)
        return grant

    def resolve_resource(self, client: Client, requested: str | None) -> str:
        """The resource server a token will be for (RFC 8707), or ``InvalidTargetError``.

        Without a ``resource`` parameter: the client's registered default, else this
        provider's own /userinfo (RFC 9068 §3: a default resource is always used).
        """
        if requested is None:
            return client.default_resource or self.userinfo_resource
        if not is_resource_identifier(requested):
            raise InvalidTargetError("The 'resource' must be an absolute URI without fragment.")
        allowed = {self.userinfo_resource, *client.resources}
        if client.default_resource is not None:
            allowed.add(client.default_resource)
        if requested not in allowed:
            raise InvalidTargetError("This client may not ask for tokens for that resource.")
        return requested

    def issue_tokens(
        self, request: FormRequest, *, user: User | None, scope: str, include_refresh_token: bool
    ) -> dict[str, Any]:
        """The token response for ``request.grant`` (called by every grant type)."""
        grant = request.grant
        assert grant is not None
        client: Client = request.client
        # RFC 6749 §3.3: only scopes registered for the client (its default when omitted).
        allowed_scope = client.get_allowed_scope(scope)
        if allowed_scope is None:
            raise InvalidScopeError()
        resource_server = self.store.resource_server(grant.resource)
        remaining = int(grant.expires_at - self.clock.time())
        return self._tokens.issue(
            TokenRequest(
                client=client,
                user=user,
                scope=allowed_scope,
                audience=grant.resource,
                opaque=client.opaque_access_tokens
                or (resource_server is not None and resource_server.opaque_access_tokens),
                # No access token outlives the grant it comes from.
                expires_in=max(1, min(self.access_token_lifetime, remaining)),
                include_refresh_token=include_refresh_token,
            )
        )

    # -- framework integration ------------------------------------------------------------

    def create_oauth2_request(self, request: CapturedRequest | FormRequest) -> FormRequest:
        if isinstance(request, FormRequest):
            return request
        return FormRequest(request)

    def handle_response(
        self, status_code: int, body: dict[str, Any] | str, headers: list[tuple[str, str]]
    ) -> OAuthResponse:
        return OAuthResponse(status_code, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Authlib announces events (client authenticated, token revoked); nobody listens here."""

    def authorization_error_response(
        self, request: FormRequest, error: OAuth2Error
    ) -> OAuthResponse:
        """An error at /authorize: a redirect only if Authlib validated the redirect URI."""
        response: OAuthResponse = self.handle_error_response(request, error)
        if response.location is not None:
            # RFC 9207 §2: the iss parameter goes into error responses too.
            self._issuer_parameter.add_issuer_parameter(self, response)
        return response
