"""GET/POST /authorize: validate the request, sign the user in, ask consent, issue the code.

One route, three steps, each re-validating the whole authorization request (it rides
along in hidden form fields, so nothing about it is kept between requests):

1. **Sign-in.** Skipped when the browser has a provider session (single sign-on), unless
   the client sends ``prompt=login`` or a ``max_age`` the session is older than. Form posts must come from this origin (``Origin``
   header, when the browser sends one) and carry the form's CSRF token; otherwise 403.
   Attempts are throttled per account and per IP (``throttle.py``): over budget, the answer
   is 429 with ``Retry-After`` and the form again with a generic message, and the
   password is not even checked.
2. **Consent.** Asked once per (user, client, scopes) and remembered (per resource server
   too: access to another API is asked for anew); a client registered
   as ``first_party`` skips it. "Deny" sends the client ``access_denied``.
3. **Code.** Authlib's server core makes the code and the redirect (with ``iss``, RFC 9207).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    BaseGrant,
    InvalidRequestError,
    OAuth2Error,
)
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authcourse.idp.browser import BrowserCookies, BrowserVisit
from authcourse.idp.discovery import AUTHORIZE_PATH
from authcourse.idp.models import Client, User
from authcourse.idp.pages import consent_page, error_page, login_page
from authcourse.idp.passwords import verify_password
from authcourse.idp.requests import CapturedRequest, FormRequest, MalformedRequest, capture
from authcourse.idp.server import AuthorizationServer, OAuthResponse
from authcourse.idp.store import MemoryStore
from authcourse.idp.throttle import LoginThrottle

#: Fields of the provider's own forms, never part of the authorization request.
FORM_FIELDS = ("username", "password", "csrf_token", "consent")
# RFC 6749 §5.1: token responses MUST carry "Cache-Control: no-store" (and Pragma for
# HTTP/1.0 caches); applied to every answer of the token-handling endpoints too.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

_SECONDS = re.compile(r"[0-9]{1,9}")
_BAD_CREDENTIALS = "Incorrect username or password."
_TOO_MANY_ATTEMPTS = "Too many sign-in attempts. Try again later."


class AuthorizeRoute:
    def __init__(
        self, server: AuthorizationServer, cookies: BrowserCookies, throttle: LoginThrottle
    ) -> None:
        self._server = server
        self._cookies = cookies
        self._throttle = throttle
        self._action = urlsplit(server.issuer).path + AUTHORIZE_PATH

    async def endpoint(self, request: Request) -> Response:
        try:
            captured = await capture(request, read_form=True)
        except MalformedRequest as error:
            return error_page(error.error, error.description, status_code=error.status_code)
        visit = self._cookies.visit(request)
        # A POST carrying only authorization parameters is a plain authorization request
        # (OpenID Connect Core §3.1.2.1); one carrying our form fields is a form submission.
        submitted = request.method == "POST" and any(name in captured.form for name in FORM_FIELDS)
        if submitted and not self._form_is_genuine(request, visit, captured):
            return error_page(
                "invalid_request",
                "This form could not be verified. Go back to the application and start again.",
                status_code=403,
            )
        oauth_request = self._server.create_oauth2_request(captured.without_fields(*FORM_FIELDS))
        user = self._session_user(visit)
        try:
            grant = self._server.get_consent_grant(oauth_request, end_user=user)
        except OAuth2Error as error:
            return self._error(oauth_request, error, request, visit)

        signed_in_now = False
        if submitted and "username" in captured.form:
            outcome = self._sign_in(request, visit, oauth_request, captured)
            if isinstance(outcome, Response):
                return outcome
            user, signed_in_now = outcome, True
        prompts = oauth_request.payload.data.get("prompt", "").split()
        # RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
        max_age = oauth_request.payload.data.get("max_age") or None
        if max_age is not None and not _SECONDS.fullmatch(max_age):
            refusal: OAuth2Error = InvalidRequestError("'max_age' must be a number of seconds.")
            return self._refuse(oauth_request, grant, refusal, request, visit)
        # OpenID Connect Core §3.1.2.1: a sign-in older than max_age seconds MUST be redone.
        too_old = (
            max_age is not None
            and visit.session is not None
            and self._server.clock.time() - visit.session.auth_time > int(max_age)
        )
        if user is None or (not signed_in_now and (too_old or grant.prompt == "login")):
            if "none" in prompts:  # OpenID Connect Core §3.1.2.6
                return self._refuse(oauth_request, grant, LoginRequiredError(), request, visit)
            return self._login_form(visit, oauth_request)

        client: Client = oauth_request.client
        scope: str = oauth_request.scope
        resource = oauth_request.resource or self._server.userinfo_resource
        asks_consent = "consent" in prompts or not self._server.store.has_consent(
            user.subject, client.client_id, resource, scope
        )
        if asks_consent and not client.first_party:
            decision = captured.form.get("consent") if submitted else None
            if decision is None:
                if "none" in prompts:  # OpenID Connect Core §3.1.2.6
                    refusal = ConsentRequiredError()
                    return self._refuse(oauth_request, grant, refusal, request, visit)
                return self._consent_form(visit, oauth_request, user, signed_in_now)
            if decision != "allow":
                # RFC 6749 §4.1.2.1: the resource owner denied the request.
                refusal = AccessDeniedError()
                return self._refuse(oauth_request, grant, refusal, request, visit)
            self._server.store.remember_consent(user.subject, client.client_id, resource, scope)

        assert visit.session is not None
        oauth_request.auth_time = visit.session.auth_time
        response = self._server.create_authorization_response(
            oauth_request, grant_user=user, grant=grant
        )
        return self._cookies.apply(visit, _authorization_answer(response, request))

    # -- the steps -------------------------------------------------------------------------

    def _form_is_genuine(
        self, request: Request, visit: BrowserVisit, captured: CapturedRequest
    ) -> bool:
        # Browsers send Origin with every POST; a cross-site one names the other site (or
        # "null"). Non-browser clients may omit it: the CSRF token still has to match.
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            return False
        return self._cookies.check_csrf(visit, captured.form.get("csrf_token", ""))

    def _session_user(self, visit: BrowserVisit) -> User | None:
        if visit.session is None:
            return None
        return self._server.store.user_by_subject(visit.session.subject)

    def _sign_in(
        self,
        request: Request,
        visit: BrowserVisit,
        oauth_request: FormRequest,
        captured: CapturedRequest,
    ) -> User | Response:
        username = captured.form.get("username", "")
        client_ip = request.client.host if request.client is not None else "unknown"
        retry_after = self._throttle.attempt(username, client_ip)
        if retry_after is not None:
            return self._login_form(
                visit,
                oauth_request,
                error=_TOO_MANY_ATTEMPTS,
                status_code=429,
                headers={"Retry-After": str(retry_after)},
            )
        user = _authenticate(self._server.store, username, captured.form.get("password", ""))
        if user is None:
            # One message for unknown user and wrong password: no username enumeration.
            return self._login_form(visit, oauth_request, error=_BAD_CREDENTIALS, status_code=401)
        self._throttle.succeeded(username)
        # A brand-new session id at sign-in: an id planted before it is worthless (fixation).
        self._cookies.start_session(visit, user.subject)
        return user

    # -- pages and answers -------------------------------------------------------------------

    def _login_form(
        self,
        visit: BrowserVisit,
        oauth_request: FormRequest,
        *,
        error: str | None = None,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        fields = oauth_request.payload.data | {"csrf_token": self._cookies.csrf_token(visit)}
        page = login_page(
            action=self._action,
            issuer=self._server.issuer,
            client_name=oauth_request.client.name,
            scope=oauth_request.scope,
            hidden_fields=fields,
            error=error,
            status_code=status_code,
            headers=headers,
        )
        return self._cookies.apply(visit, page)

    def _consent_form(
        self, visit: BrowserVisit, oauth_request: FormRequest, user: User, signed_in_now: bool
    ) -> Response:
        fields = oauth_request.payload.data | {"csrf_token": self._cookies.csrf_token(visit)}
        # prompt=login (and max_age, after a fresh sign-in) have been honoured by now;
        # carried on, they would send the user back to the password form in a loop.
        if "prompt" in fields:
            fields["prompt"] = " ".join(p for p in fields["prompt"].split() if p != "login")
        if signed_in_now:
            fields.pop("max_age", None)
        page = consent_page(
            action=self._action,
            user_name=user.name or user.username,
            client_name=oauth_request.client.name,
            scope=oauth_request.scope,
            resource=oauth_request.resource,
            hidden_fields=fields,
        )
        return self._cookies.apply(visit, page)

    def _refuse(
        self,
        oauth_request: FormRequest,
        grant: BaseGrant,
        error: OAuth2Error,
        request: Request,
        visit: BrowserVisit,
    ) -> Response:
        """Send the client an error for a request that was valid (so its redirect URI is)."""
        error.redirect_uri = grant.redirect_uri
        error.state = oauth_request.payload.state
        return self._error(oauth_request, error, request, visit)

    def _error(
        self, oauth_request: FormRequest, error: OAuth2Error, request: Request, visit: BrowserVisit
    ) -> Response:
        response = self._server.authorization_error_response(oauth_request, error)
        return self._cookies.apply(visit, _authorization_answer(response, request))


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
    return RedirectResponse(response.location, status_code=status_code, headers=NO_STORE)
