"""Token revocation (RFC 7009), introspection (RFC 7662) and the /userinfo bearer check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import OAuth2Request, ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint

from authcourse.idp.models import Client, IssuedToken
from authcourse.idp.store import MemoryStore

if TYPE_CHECKING:
    from authcourse.idp.server import AuthorizationServer

_CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class RevocationEndpoint(_RevocationEndpoint):
    """POST /revoke: clients revoke their own tokens."""

    server: AuthorizationServer
    # RFC 7009 §2.1: confidential clients authenticate; public clients identify themselves.
    CLIENT_AUTH_METHODS = [*_CONFIDENTIAL_AUTH_METHODS, "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        # RFC 7009 §2.1: a wrong hint MUST NOT stop the search, so the hint is not used.
        return self.server.store.token(token_string)

    def revoke_token(self, token: IssuedToken, request: OAuth2Request) -> None:
        if token.kind == "refresh_token":
            # RFC 7009 §2.1: revoking a refresh token SHOULD also invalidate the access
            # tokens of the same grant.
            self.server.store.revoke_grant(token.grant_id)
        else:
            token.revoked = True


class IntrospectionEndpoint(_IntrospectionEndpoint):
    """POST /introspect: resource servers (registered as confidential clients) ask about a token."""

    server: AuthorizationServer
    # RFC 7662 §2.1: the endpoint MUST require authorization, so public clients cannot use it.
    CLIENT_AUTH_METHODS = _CONFIDENTIAL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        return self.server.store.token(token_string)

    def check_permission(self, token: IssuedToken, client: Client, request: OAuth2Request) -> bool:
        # Any authenticated confidential client may introspect (as resource servers do).
        return True

    def introspect_token(self, token: IssuedToken) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "active": True,
            "scope": token.scope,
            "client_id": token.client_id,
            "sub": token.subject or token.client_id,
            "aud": token.client_id,
            "iss": self.server.issuer,
            "iat": int(token.issued_at),
            "exp": int(token.expires_at),
        }
        if token.kind == "access_token":
            payload["token_type"] = "Bearer"
        return payload


class AccessTokenValidator(BearerTokenValidator):
    """Looks bearer tokens up in the store, so revoked ones stop working immediately."""

    def __init__(self, store: MemoryStore) -> None:
        super().__init__()
        self._store = store

    def authenticate_token(self, token_string: str) -> IssuedToken | None:
        return self._store.token(token_string, "access_token")


def userinfo_protector(store: MemoryStore) -> ResourceProtector:
    """The RFC 6750 bearer check in front of /userinfo."""
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokenValidator(store))
    return protector
