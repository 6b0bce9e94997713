"""Authlib grants and extensions, bound to the in-memory store and the injectable clock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, OAuth2Request, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey

from authcourse.idp.claims import user_claims
from authcourse.idp.keys import SIGNING_ALGORITHM
from authcourse.idp.models import AuthorizationCode, Client, Grant, IssuedToken, User
from authcourse.idp.requests import FormRequest
from authcourse.idp.resources import InvalidTargetError
from authcourse.idp.tokens import ID_TOKEN_LIFETIME

if TYPE_CHECKING:
    from authcourse.idp.server import AuthorizationServer

#: RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
CODE_LIFETIME = 600  # seconds

_CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class S256CodeChallenge(CodeChallenge):
    """PKCE (RFC 7636), S256 only, mandatory for every client but the no-PKCE demo one."""

    # RFC 7636 §4.2: a client able to use S256 MUST use it; "plain" leaks the verifier
    # to anyone who sees the authorization request.
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: grants.BaseGrant, redirect_uri: str) -> None:
        parameters = grant.request.payload.data
        client: Client = grant.request.client
        # RFC 9700 §2.1.1: public clients MUST use PKCE, confidential ones SHOULD; this
        # provider requires it from every client (only a registration marked
        # ``insecure_demo`` may turn it off). RFC 7636 §4.4.1: a server that requires PKCE
        # answers a request without code_challenge with invalid_request.
        if client.pkce_required and not parameters.get("code_challenge"):
            raise InvalidRequestError("This client must send a PKCE 'code_challenge'.")
        # RFC 7636 §4.3: an absent code_challenge_method means "plain", which we refuse.
        if parameters.get("code_challenge") and parameters.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.")
        super().validate_code_challenge(grant, redirect_uri)


class _IssuesTokens:
    """Every grant mints its tokens through the server, which knows the grant's audience."""

    server: AuthorizationServer
    request: FormRequest

    def generate_token(
        self,
        user: User | None = None,
        scope: str | None = None,
        grant_type: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        return self.server.issue_tokens(
            self.request, user=user, scope=scope or "", include_refresh_token=include_refresh_token
        )


def _check_requested_resource(request: FormRequest, grant: Grant) -> None:
    # RFC 8707 §2.2: a resource named at the token endpoint must be one the grant covers.
    requested = request.payload.data.get("resource")
    if requested is not None and requested != grant.resource:
        raise InvalidTargetError("The 'resource' is not the one this grant was issued for.")


class AuthorizationCodeGrant(_IssuesTokens, grants.AuthorizationCodeGrant):
    """The authorization code grant with single-use, short-lived, replay-detecting codes."""

    TOKEN_ENDPOINT_AUTH_METHODS = [*_CONFIDENTIAL_AUTH_METHODS, "none"]

    def validate_requested_scope(self) -> None:
        super().validate_requested_scope()
        # Runs inside Authlib's /authorize validation, after the redirect URI was checked,
        # so an invalid_target error is reported to the client by redirect (RFC 8707 §2).
        self.request.resource = self.server.resolve_resource(
            self.request.client, self.request.payload.data.get("resource")
        )

    def validate_token_request(self) -> None:
        super().validate_token_request()
        code: AuthorizationCode = self.request.authorization_code
        grant = self.server.store.grant(code.grant_id)
        if grant is None:
            raise InvalidGrantError("Invalid 'code' in request.")
        _check_requested_resource(self.request, grant)
        self.request.grant = grant

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

    def save_authorization_code(self, code: str, request: FormRequest) -> None:
        parameters = request.payload.data
        now = self.server.clock.time()
        user: User = request.user
        resource = request.resource or self.server.resolve_resource(request.client, None)
        grant = self.server.new_grant(request.client, user, resource)
        self.server.store.add_code(
            AuthorizationCode(
                code=code,
                client_id=request.client.client_id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                subject=user.subject,
                grant_id=grant.grant_id,
                # OpenID Connect Core §2: when the user authenticated, not when the code
                # was made (a single sign-on session may be hours old).
                auth_time=request.auth_time if request.auth_time is not None else int(now),
                expires_at=now + CODE_LIFETIME,
                nonce=parameters.get("nonce"),
                code_challenge=parameters.get("code_challenge"),
                code_challenge_method=parameters.get("code_challenge_method"),
                resource=resource,
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


class RefreshTokenGrant(_IssuesTokens, grants.RefreshTokenGrant):
    """Refresh with rotation: every use returns a new refresh token and retires the old one."""

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
        grant = self.server.store.grant(token.grant_id)
        # The grant's absolute lifetime: rotation hands out new refresh tokens, never time.
        if grant is None or self.server.clock.time() >= grant.expires_at:
            return None
        return token

    def validate_token_request(self) -> None:
        super().validate_token_request()
        refresh_token: IssuedToken = self.request.refresh_token
        grant = self.server.store.grant(refresh_token.grant_id)
        if grant is None:
            raise InvalidGrantError("Invalid 'refresh_token' in request.")
        _check_requested_resource(self.request, grant)
        self.request.grant = grant

    def authenticate_user(self, refresh_token: IssuedToken) -> User | None:
        if refresh_token.subject is None:
            return None
        return self.server.store.user_by_subject(refresh_token.subject)

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        refresh_token.rotated = True


class ClientCredentialsGrant(_IssuesTokens, grants.ClientCredentialsGrant):
    """Machine-to-machine tokens; RFC 6749 §4.4: only for confidential clients."""

    TOKEN_ENDPOINT_AUTH_METHODS = _CONFIDENTIAL_AUTH_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client: Client = self.request.client
        resource = self.server.resolve_resource(client, self.request.payload.data.get("resource"))
        self.request.grant = self.server.new_grant(client, None, resource)


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
