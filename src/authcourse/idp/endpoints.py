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
    """POST /introspect: a registered resource server asks about an access token sent to it.

    RFC 7662 §2.1: the caller MUST authenticate; here only resource servers' credentials
    are accepted (see ``Client.check_endpoint_auth_method``), everyone else gets 401.
    RFC 7662 §4: a resource server only learns about tokens addressed to it; for any other
    token, and for refresh tokens, the answer is ``{"active": false}``, exactly as for an
    unknown token, so the endpoint cannot be used to probe other APIs' tokens.
    """

    server: AuthorizationServer
    CLIENT_AUTH_METHODS = _CONFIDENTIAL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        return self.server.store.token(token_string)

    def check_permission(self, token: IssuedToken, client: Client, request: OAuth2Request) -> bool:
        return (
            token.kind == "access_token"
            and client.resource_identifier is not None
            and token.audience == client.resource_identifier
        )

    def introspect_token(self, token: IssuedToken) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "active": True,
            "scope": token.scope,
            "client_id": token.client_id,
            "sub": token.subject or token.client_id,
            "aud": token.audience,
            "iss": self.server.issuer,
            "iat": int(token.issued_at),
            "exp": int(token.expires_at),
        }
        payload["token_type"] = "Bearer"
        return payload


class AccessTokenValidator(BearerTokenValidator):
    """Looks bearer tokens up in the store, so revoked ones stop working immediately.

    Only tokens whose audience is ``resource`` are accepted: a token minted for another
    API (RFC 8707) is no good here, even though this provider issued it.
    """

    def __init__(self, store: MemoryStore, resource: str) -> None:
        super().__init__()
        self._store = store
        self._resource = resource

    def authenticate_token(self, token_string: str) -> IssuedToken | None:
        token = self._store.token(token_string, "access_token")
        if token is None or token.audience != self._resource:
            return None
        return token


def userinfo_protector(store: MemoryStore, resource: str) -> ResourceProtector:
    """The RFC 6750 bearer check in front of /userinfo."""
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokenValidator(store, resource))
    return protector
