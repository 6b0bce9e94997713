"""The Starlette routes: read the request, call Authlib's server core, shape the answer."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import MissingAuthorizationError, OAuth2Error
from authlib.oauth2.rfc6750 import InsufficientScopeError, InvalidTokenError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from authcourse.idp.authorize import NO_STORE, AuthorizeRoute
from authcourse.idp.browser import BrowserCookies
from authcourse.idp.claims import user_claims
from authcourse.idp.discovery import (
    AUTHORIZE_PATH,
    DISCOVERY_PATH,
    END_SESSION_PATH,
    INTROSPECTION_PATH,
    JWKS_PATH,
    REVOCATION_PATH,
    TOKEN_PATH,
    USERINFO_PATH,
    provider_metadata,
)
from authcourse.idp.endpoints import userinfo_protector
from authcourse.idp.logout import LogoutRoute
from authcourse.idp.requests import MalformedRequest, capture
from authcourse.idp.server import AuthorizationServer, OAuthResponse
from authcourse.idp.throttle import LoginThrottle
from clouddocs.security import SecurityHeadersMiddleware


def build_app(server: AuthorizationServer, throttle: LoginThrottle) -> Starlette:
    """The provider's ASGI app. An issuer with a path (``https://idp.test/tenant``) mounts there."""
    routes = _ProviderRoutes(server)
    cookies = BrowserCookies(server.issuer, server.store, server.clock)
    endpoints: list[BaseRoute] = [
        Route(DISCOVERY_PATH, routes.discovery, methods=["GET"]),
        Route(JWKS_PATH, routes.jwks, methods=["GET"]),
        Route(
            AUTHORIZE_PATH,
            AuthorizeRoute(server, cookies, throttle).endpoint,
            methods=["GET", "POST"],
        ),
        # OpenID Connect RP-Initiated Logout 1.0 §2: GET and POST.
        Route(END_SESSION_PATH, LogoutRoute(server, cookies).endpoint, methods=["GET", "POST"]),
        Route(TOKEN_PATH, routes.token, methods=["POST"]),
        Route(REVOCATION_PATH, routes.revoke, methods=["POST"]),
        Route(INTROSPECTION_PATH, routes.introspect, methods=["POST"]),
        # OpenID Connect Core §5.3.1: the UserInfo endpoint MUST support GET and POST.
        Route(USERINFO_PATH, routes.userinfo, methods=["GET", "POST"]),
    ]
    issuer_path = urlsplit(server.issuer).path
    return Starlette(
        routes=[Mount(issuer_path, routes=endpoints)] if issuer_path else endpoints,
        # HSTS over https, nosniff, no framing, no referrer, no-store on credentialed
        # answers: the same baseline as the course's apps (a provider is a web app too).
        middleware=[Middleware(SecurityHeadersMiddleware)],
    )


class _ProviderRoutes:
    def __init__(self, server: AuthorizationServer) -> None:
        self._server = server
        self._userinfo = userinfo_protector(server.store, server.userinfo_resource)

    async def discovery(self, request: Request) -> Response:
        metadata = provider_metadata(self._server.issuer, self._server.store.all_scopes())
        return JSONResponse(metadata)

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self._server.keys.jwks())

    async def token(self, request: Request) -> Response:
        try:
            captured = await capture(request, read_form=True)
        except MalformedRequest as error:
            return _json_error(error)
        return _to_starlette(self._server.create_token_response(captured), NO_STORE)

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
        return JSONResponse(user_claims(user, token.scope), headers=NO_STORE)

    async def _token_endpoint(self, name: str, request: Request) -> Response:
        try:
            captured = await capture(request, read_form=True)
        except MalformedRequest as error:
            return _json_error(error)
        response = self._server.create_endpoint_response(name, captured)
        if name == "introspection" and response.status_code == 400:
            body = response.body if isinstance(response.body, dict) else {}
            if body.get("error") == "invalid_client":
                # RFC 7662 §2.3: a caller that is not an authenticated resource server gets
                # 401, whichever way it tried (or did not try) to authenticate.
                response.status_code = 401
                response.headers.append(("WWW-Authenticate", 'Basic error="invalid_client"'))
        return _to_starlette(response, NO_STORE)


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
        headers={"WWW-Authenticate": challenge, **NO_STORE},
    )


def _json_error(error: MalformedRequest) -> Response:
    headers = dict(NO_STORE)
    if error.status_code == 401:
        # RFC 6749 §5.2: a 401 invalid_client MUST include WWW-Authenticate.
        headers["WWW-Authenticate"] = 'Basic error="invalid_client"'
    content = {"error": error.error, "error_description": error.description}
    return JSONResponse(content, status_code=error.status_code, headers=headers)
