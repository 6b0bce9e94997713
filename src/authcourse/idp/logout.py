"""GET/POST /logout: OpenID Connect RP-Initiated Logout 1.0 (the ``end_session_endpoint``).

A relying party sends the user here to end the provider's session too. The rules:

* ``id_token_hint``, when sent, must be an ID token this provider signed (with a key it
  still publishes) for a registered client; an expired one is accepted (§2 says the OP
  SHOULD, since RPs often log out long after sign-in). If it names another user than the
  one signed in, nothing is ended.
* ``post_logout_redirect_uri`` is honoured only when the client is known (from the hint or
  ``client_id``, which must agree) and the URI is one it registered, compared as an exact
  string (§3); otherwise the provider shows an error and never redirects (no open redirect).
* Without a valid hint, a signed-in user is asked to confirm with a form (CSRF token and
  Origin check, as at /authorize): a bare link on another site cannot sign anyone out.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authcourse.idp.authorize import NO_STORE
from authcourse.idp.browser import BrowserCookies, BrowserVisit
from authcourse.idp.discovery import END_SESSION_PATH
from authcourse.idp.keys import SIGNING_ALGORITHM
from authcourse.idp.pages import error_page, logout_page, message_page
from authcourse.idp.requests import MalformedRequest, capture
from authcourse.idp.server import AuthorizationServer

_LOGOUT_PARAMETERS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state")


class LogoutRoute:
    def __init__(self, server: AuthorizationServer, cookies: BrowserCookies) -> None:
        self._server = server
        self._cookies = cookies
        self._action = urlsplit(server.issuer).path + END_SESSION_PATH

    async def endpoint(self, request: Request) -> Response:
        try:
            captured = await capture(request, read_form=True)
        except MalformedRequest as error:
            return error_page(error.error, error.description, status_code=error.status_code)
        parameters = captured.form if request.method == "POST" else captured.query
        visit = self._cookies.visit(request)

        hint = parameters.get("id_token_hint")
        claims = self._verify_hint(hint) if hint else None
        if hint and claims is None:
            return error_page("invalid_request", "The id_token_hint is not valid.")
        client_id = parameters.get("client_id")
        if claims is not None:
            if client_id is not None and client_id != claims["aud"]:
                return error_page("invalid_request", "client_id does not match the hint.")
            client_id = claims["aud"]
        redirect_uri = parameters.get("post_logout_redirect_uri")
        if redirect_uri is not None:
            client = self._server.store.client(client_id) if client_id else None
            if client is None or redirect_uri not in client.post_logout_redirect_uris:
                return error_page(
                    "invalid_request", "The post_logout_redirect_uri is not registered."
                )

        if visit.session is not None:
            if claims is not None and claims.get("sub") != visit.session.subject:
                return error_page(
                    "invalid_request", "The id_token_hint is for another user.", status_code=400
                )
            if claims is None and not self._confirmed(request, visit, captured.form):
                fields = {k: v for k, v in parameters.items() if k in _LOGOUT_PARAMETERS}
                fields["csrf_token"] = self._cookies.csrf_token(visit)
                page = logout_page(
                    action=self._action, issuer=self._server.issuer, hidden_fields=fields
                )
                return self._cookies.apply(visit, page)
            self._cookies.end_session(visit)

        if redirect_uri is None:
            page = message_page("Signed out", f"You are signed out of {self._server.issuer}.")
            return self._cookies.apply(visit, page)
        state = parameters.get("state")
        query = urlencode({"state": state}) if state is not None else ""
        location = redirect_uri + (("&" if "?" in redirect_uri else "?") + query if query else "")
        status_code = 303 if request.method == "POST" else 302
        redirect = RedirectResponse(location, status_code=status_code, headers=NO_STORE)
        return self._cookies.apply(visit, redirect)

    def _confirmed(self, request: Request, visit: BrowserVisit, form: Any) -> bool:
        if request.method != "POST" or form.get("logout") != "yes":
            return False
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            return False
        return self._cookies.check_csrf(visit, form.get("csrf_token", ""))

    def _verify_hint(self, hint: str) -> dict[str, Any] | None:
        """The hint's claims if this provider issued it as an ID token for a known client."""
        try:
            token = jwt.decode(hint, self._server.keys.published(), algorithms=[SIGNING_ALGORITHM])
        except (JoseError, ValueError, TypeError):
            return None
        claims = dict(token.claims)
        # An access token (typ at+jwt) is not an ID token, even though we signed it too.
        if token.header.get("typ") == "at+jwt" or claims.get("iss") != self._server.issuer:
            return None
        audience = claims.get("aud")
        if not isinstance(audience, str) or self._server.store.client(audience) is None:
            return None
        return claims
