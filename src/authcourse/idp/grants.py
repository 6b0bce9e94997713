"""Authlib grants and extensions, bound to the in-memory store and the injectable clock."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey

from authcourse.idp.claims import user_claims
from authcourse.idp.keys import SIGNING_ALGORITHM
from authcourse.idp.models import AuthorizationCode, Client, IssuedToken, User
from authcourse.idp.tokens import ID_TOKEN_LIFETIME

if TYPE_CHECKING:
    from authcourse.idp.server import AuthorizationServer

#: RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
CODE_LIFETIME = 600  # seconds

_CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class S256CodeChallenge(CodeChallenge):
    """PKCE (RFC 7636), S256 only, and mandatory for public clients."""

    # RFC 7636 §4.2: a client able to use S256 MUST use it; "plain" leaks the verifier
    # to anyone who sees the authorization request.
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: grants.BaseGrant, redirect_uri: str) -> None:
        parameters = grant.request.payload.data
        client: Client = grant.request.client
        # RFC 9700 §2.1.1: public clients MUST use PKCE; RFC 7636 §4.4.1: a server that
        # requires it answers a request without code_challenge with invalid_request.
        if client.is_public and not parameters.get("code_challenge"):
            raise InvalidRequestError("Public clients must send a PKCE 'code_challenge'.")
        # RFC 7636 §4.3: an absent code_challenge_method means "plain", which we refuse.
        if parameters.get("code_challenge") and parameters.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """The authorization code grant with single-use, short-lived, replay-detecting codes."""

    server: AuthorizationServer
    TOKEN_ENDPOINT_AUTH_METHODS = [*_CONFIDENTIAL_AUTH_METHODS, "none"]

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: Client) -> str:
        redirect_uri: str | None = request.payload.redirect_uri
        # OpenID Connect Core §3.1.2.1: redirect_uri is REQUIRED. RFC 6749 §4.1.2.1: when it
        # is missing or does not match, the server MUST NOT redirect the user-agent.
        if not redirect_uri:
            raise InvalidRequestError("Missing 'redirect_uri' parameter.")
        # RFC 9700 §4.1.3: exact string comparison, nothing looser.
        if not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("The 'redirect_uri' is not registered for this client.")
        return redirect_uri

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        parameters = request.payload.data
        now = self.server.clock.time()
        user: User = request.user
        self.server.store.add_code(
            AuthorizationCode(
                code=code,
                client_id=request.client.client_id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                subject=user.subject,
                grant_id=secrets.token_urlsafe(16),
                auth_time=int(now),
                expires_at=now + CODE_LIFETIME,
                nonce=parameters.get("nonce"),
                code_challenge=parameters.get("code_challenge"),
                code_challenge_method=parameters.get("code_challenge_method"),
            )
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        stored = self.server.store.code(code)
        if stored is None or stored.client_id != client.client_id:
            return None
        if stored.used:
            # RFC 6749 §4.1.2: a code used twice MUST be refused, and the server SHOULD
            # revoke all tokens already issued from it (RFC 9700 §4.5: it may be stolen).
            self.server.store.revoke_grant(stored.grant_id)
            return None
        if self.server.clock.time() >= stored.expires_at:
            return None
        return stored

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Marked rather than deleted, so that a replay can still be recognised (above).
        authorization_code.used = True

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
        return self.server.store.user_by_subject(authorization_code.subject)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Refresh with rotation: every use returns a new refresh token and retires the old one."""

    server: AuthorizationServer
    TOKEN_ENDPOINT_AUTH_METHODS = [*_CONFIDENTIAL_AUTH_METHODS, "none"]
    # RFC 9700 §4.14.2: refresh tokens for public clients MUST be sender-constrained or
    # rotated; we rotate for every client.
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedToken | None:
        token = self.server.store.token(refresh_token, "refresh_token")
        if token is None:
            return None
        if token.rotated:
            # RFC 9700 §4.14.2: an already-rotated refresh token coming back means two
            # parties hold it; revoke the whole grant so the thief's copy dies too.
            self.server.store.revoke_grant(token.grant_id)
            return None
        if token.is_revoked() or token.is_expired():
            return None
        return token

    def authenticate_user(self, refresh_token: IssuedToken) -> User | None:
        if refresh_token.subject is None:
            return None
        return self.server.store.user_by_subject(refresh_token.subject)

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        refresh_token.rotated = True


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """Machine-to-machine tokens; RFC 6749 §4.4: only for confidential clients."""

    TOKEN_ENDPOINT_AUTH_METHODS = _CONFIDENTIAL_AUTH_METHODS


class IdTokens(OpenIDCode):
    """OpenID Connect: adds an RS256 ``id_token`` to code-flow token responses."""

    def __init__(self, server: AuthorizationServer) -> None:
        super().__init__(require_nonce=False)
        self._server = server

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self._server.keys.current

    def get_encode_header(self, client: Client) -> dict[str, str]:
        # The kid tells relying parties which JWKS key to verify with (RFC 7515 §4.1.4).
        return {"alg": SIGNING_ALGORITHM, "typ": "JWT", "kid": self._server.keys.current_kid}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(self._server.clock.time())
        return {
            "iss": self._server.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_LIFETIME,
        }

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return self._server.store.nonce_was_used(request.payload.client_id, nonce)

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        return UserInfo(user_claims(user, scope))
