"""The Starlette routes: read the request, call Authlib's server core, shape the answer."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import MissingAuthorizationError, OAuth2Error
from authlib.oauth2.rfc6750 import InsufficientScopeError, InvalidTokenError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from authcourse.idp.claims import user_claims
from authcourse.idp.discovery import (
    AUTHORIZE_PATH,
    DISCOVERY_PATH,
    INTROSPECTION_PATH,
    JWKS_PATH,
    REVOCATION_PATH,
    TOKEN_PATH,
    USERINFO_PATH,
    provider_metadata,
)
from authcourse.idp.endpoints import userinfo_protector
from authcourse.idp.models import User
from authcourse.idp.pages import error_page, login_page
from authcourse.idp.passwords import verify_password
from authcourse.idp.requests import CapturedRequest, FormRequest, MalformedRequest, capture
from authcourse.idp.server import AuthorizationServer, OAuthResponse
from authcourse.idp.store import MemoryStore

_CREDENTIAL_FIELDS = ("username", "password")
# RFC 6749 §5.1: token responses MUST carry "Cache-Control: no-store" (and Pragma for
# HTTP/1.0 caches); applied to every answer of the token-handling endpoints.
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def build_app(server: AuthorizationServer) -> Starlette:
    """The provider's ASGI app. An issuer with a path (``https://idp.test/tenant``) mounts there."""
    routes = _ProviderRoutes(server)
    endpoints: list[BaseRoute] = [
        Route(DISCOVERY_PATH, routes.discovery, methods=["GET"]),
        Route(JWKS_PATH, routes.jwks, methods=["GET"]),
        Route(AUTHORIZE_PATH, routes.authorize, methods=["GET", "POST"]),
        Route(TOKEN_PATH, routes.token, methods=["POST"]),
        Route(REVOCATION_PATH, routes.revoke, methods=["POST"]),
        Route(INTROSPECTION_PATH, routes.introspect, methods=["POST"]),
        # OpenID Connect Core §5.3.1: the UserInfo endpoint MUST support GET and POST.
        Route(USERINFO_PATH, routes.userinfo, methods=["GET", "POST"]),
    ]
    issuer_path = urlsplit(server.issuer).path
    return Starlette(routes=[Mount(issuer_path, routes=endpoints)] if issuer_path else endpoints)


class _ProviderRoutes:
    def __init__(self, server: AuthorizationServer) -> None:
        self._server = server
        self._userinfo = userinfo_protector(server.store)
        self._authorize_action = urlsplit(server.issuer).path + AUTHORIZE_PATH

    async def discovery(self, request: Request) -> Response:
        metadata = provider_metadata(self._server.issuer, self._server.store.all_scopes())
        return JSONResponse(metadata)

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self._server.keys.jwks())

    async def authorize(self, request: Request) -> Response:
        """GET shows the login form; POSTing it back with credentials issues the code."""
        try:
            captured = await capture(request, read_form=True)
        except MalformedRequest as error:
            return error_page(error.error, error.description, status_code=error.status_code)
        credentials = _login_credentials(captured)
        oauth_request = self._server.create_oauth2_request(
            captured.without_fields(*_CREDENTIAL_FIELDS)
        )
        try:
            grant = self._server.get_consent_grant(oauth_request, end_user=None)
        except OAuth2Error as error:
            return _authorization_answer(
                self._server.authorization_error_response(oauth_request, error), request
            )
        if credentials is None:
            return self._login_form(oauth_request)
        user = _authenticate(self._server.store, *credentials)
        if user is None:
            # One message for unknown user and wrong password: no username enumeration.
            return self._login_form(
                oauth_request, error="Incorrect username or password.", status_code=401
            )
        # First-party provider: no consent screen, a successful login is the user's consent.
        response = self._server.create_authorization_response(
            oauth_request, grant_user=user, grant=grant
        )
        return _authorization_answer(response, request)

    async def token(self, request: Request) -> Response:
        try:
            captured = await capture(request, read_form=True)
        except MalformedRequest as error:
            return _json_error(error)
        return _to_starlette(self._server.create_token_response(captured), _NO_STORE)

    async def revoke(self, request: Request) -> Response:
        return await self._token_endpoint("revocation", request)

    async def introspect(self, request: Request) -> Response:
        return await self._token_endpoint("introspection", request)

    async def userinfo(self, request: Request) -> Response:
        try:
            captured = await capture(request, read_form=False)
        except MalformedRequest as error:
            return _json_error(error)
        oauth_request = self._server.create_oauth2_request(captured)
        try:
            token = self._userinfo.validate_request(["openid"], oauth_request)
            user = self._server.store.user_by_subject(token.subject) if token.subject else None
            if user is None:  # a client-credentials token has no user to describe
                raise InvalidTokenError()
        except OAuth2Error as error:
            return _bearer_error(error)
        return JSONResponse(user_claims(user, token.scope), headers=_NO_STORE)

    async def _token_endpoint(self, name: str, request: Request) -> Response:
        try:
            captured = await capture(request, read_form=True)
        except MalformedRequest as error:
            return _json_error(error)
        return _to_starlette(self._server.create_endpoint_response(name, captured), _NO_STORE)

    def _login_form(
        self, oauth_request: FormRequest, *, error: str | None = None, status_code: int = 200
    ) -> Response:
        return login_page(
            action=self._authorize_action,
            issuer=self._server.issuer,
            client_name=oauth_request.client.name,
            scope=oauth_request.scope,
            hidden_fields=oauth_request.payload.data,
            error=error,
            status_code=status_code,
        )


def _login_credentials(captured: CapturedRequest) -> tuple[str, str] | None:
    """The submitted username and password, or None when the form has not been posted yet."""
    if not any(field in captured.form for field in _CREDENTIAL_FIELDS):
        return None
    return captured.form.get("username", ""), captured.form.get("password", "")


def _authenticate(store: MemoryStore, username: str, password: str) -> User | None:
    user = store.user_by_username(username)
    password_hash = user.password_hash if user is not None else None
    # Always run the hash, even for an unknown user, so timing does not tell them apart.
    return user if verify_password(password_hash, password) else None


def _authorization_answer(response: OAuthResponse, request: Request) -> Response:
    """Redirect back to the client, or show an error page when redirecting is not safe."""
    if response.location is None:
        # RFC 6749 §4.1.2.1: with an unknown client or an unregistered redirect URI the
        # server MUST NOT redirect; it tells the user instead.
        body = response.body if isinstance(response.body, dict) else {}
        return error_page(
            str(body.get("error", "invalid_request")),
            str(body.get("error_description", "The authorization request is invalid.")),
        )
    # RFC 9700 §4.12: after a POST carrying credentials, redirect with 303, never 307,
    # so the browser does not re-send the password to the client.
    status_code = 303 if request.method == "POST" else 302
    return RedirectResponse(response.location, status_code=status_code, headers=_NO_STORE)


def _to_starlette(response: OAuthResponse, extra_headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(response.body) if isinstance(response.body, dict) else response.body
    headers = dict(response.headers) | (extra_headers or {})
    return Response(body, status_code=response.status_code, headers=headers)


def _bearer_error(error: OAuth2Error) -> Response:
    """A failed /userinfo call, with the RFC 6750 §3 ``WWW-Authenticate`` challenge."""
    if isinstance(error, MissingAuthorizationError):
        # RFC 6750 §3.1: a request without a token gets a challenge but no error code.
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    challenge = f'Bearer error="{error.error}"'
    if isinstance(error, InsufficientScopeError):
        challenge += ', scope="openid"'
    return JSONResponse(
        {"error": error.error},
        status_code=error.status_code,
        headers={"WWW-Authenticate": challenge, **_NO_STORE},
    )


def _json_error(error: MalformedRequest) -> Response:
    headers = dict(_NO_STORE)
    if error.status_code == 401:
        # RFC 6749 §5.2: a 401 invalid_client MUST include WWW-Authenticate.
        headers["WWW-Authenticate"] = 'Basic error="invalid_client"'
    content = {"error": error.error, "error_description": error.description}
    return JSONResponse(content, status_code=error.status_code, headers=headers)
