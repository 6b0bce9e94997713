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
from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oauth2.rfc9207 import IssuerParameter

from authcourse.clock import Clock
from authcourse.idp.endpoints import IntrospectionEndpoint, RevocationEndpoint
from authcourse.idp.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    IdTokens,
    RefreshTokenGrant,
    S256CodeChallenge,
)
from authcourse.idp.keys import SigningKeys
from authcourse.idp.models import Client, IssuedToken
from authcourse.idp.requests import CapturedRequest, FormRequest
from authcourse.idp.store import MemoryStore
from authcourse.idp.tokens import REFRESH_TOKEN_LIFETIME, token_generator


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

    def __init__(self, *, issuer: str, store: MemoryStore, keys: SigningKeys, clock: Clock) -> None:
        super().__init__()
        self.issuer = issuer
        self.store = store
        self.keys = keys
        self.clock = clock
        self.register_token_generator("default", token_generator(issuer, keys, clock))
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
        if request.authorization_code is not None:
            grant_id = request.authorization_code.grant_id
        elif request.refresh_token is not None:
            grant_id = request.refresh_token.grant_id
        else:
            grant_id = secrets.token_urlsafe(16)
        now = self.clock.time()
        subject = request.user.subject if request.user is not None else None
        common = {
            "client_id": request.client.client_id,
            "subject": subject,
            "scope": token["scope"],
        }
        self.store.add_token(
            IssuedToken(
                value=token["access_token"],
                kind="access_token",
                grant_id=grant_id,
                issued_at=now,
                expires_at=now + token["expires_in"],
                clock=self.clock,
                **common,
            )
        )
        if "refresh_token" in token:
            self.store.add_token(
                IssuedToken(
                    value=token["refresh_token"],
                    kind="refresh_token",
                    grant_id=grant_id,
                    issued_at=now,
                    expires_at=now + REFRESH_TOKEN_LIFETIME,
                    clock=self.clock,
                    **common,
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
