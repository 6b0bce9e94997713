# Generated from notebooks/05_oauth2.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""CloudDocs as an OAuth 2.0 client: PKCE, the authorization request, the callback, tokens.

The authorization code flow in four steps, each a small function:

1. ``begin_login`` draws a ``state`` and a PKCE pair (RFC 7636, S256) and builds the URL
   that sends the user to the authorization server;
2. ``callback_code`` takes the redirect back, refuses it unless its ``state`` matches the
   one this browser was given (compared in constant time), and returns the code;
3. ``exchange_code`` redeems the code with the ``code_verifier``;
4. ``refresh`` and ``revoke`` keep and end the grant (RFC 6749 §6, RFC 7009).

``ClientCredentials`` is the machine-to-machine side: one cached token shared by every
caller until shortly before it expires, fetched once however many callers ask at once.
"""

import asyncio
import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx2

from clouddocs.clock import Clock, SystemClock

VERIFIER_BYTES = 64  # 86 base64url characters (RFC 7636 §4.1 allows 43 to 128)
STATE_BYTES = 32  # 256 bits: unguessable per login attempt


def s256_challenge(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding: the S256 ``code_challenge``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """A fresh ``(code_verifier, code_challenge)`` drawn from ``secrets``."""
    verifier = secrets.token_urlsafe(VERIFIER_BYTES)
    return verifier, s256_challenge(verifier)


@dataclass(frozen=True)
class PendingLogin:
    """What the client keeps (server side) between the redirect out and the callback."""

    state: str
    code_verifier: str
    redirect_uri: str


def authorization_url(
    endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    scope: str,
    state: str,
    code_challenge: str,
    resource: str | None = None,
) -> str:
    """The authorization request (RFC 6749 §4.1.1 + RFC 7636 §4.3 + RFC 8707 §2)."""
    parameters = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": code_challenge,
        # Say S256 explicitly: a server's default is ``plain``, which protects nothing.
        "code_challenge_method": "S256",
    }
    if resource is not None:
        parameters["resource"] = resource
    # urlencode escapes every value: a redirect URI with its own query stays one value.
    separator = "&" if "?" in endpoint else "?"  # an endpoint may carry a query of its own
    return f"{endpoint}{separator}{urlencode(parameters)}"


def begin_login(
    endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    scope: str,
    resource: str | None = None,
) -> tuple[str, PendingLogin]:
    """The URL to send the browser to, and what to remember until it comes back."""
    state = secrets.token_hex(STATE_BYTES)  # 64 hex digits
    verifier, challenge = pkce_pair()
    url = authorization_url(
        endpoint,
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        code_challenge=challenge,
        resource=resource,
    )
    return url, PendingLogin(state, verifier, redirect_uri)


class LoginFailed(Exception):
    """The callback cannot finish a login: wrong ``state``, a provider error, no code."""


def callback_code(pending: PendingLogin, callback_url: str) -> str:
    """The authorization code in ``callback_url``, once its ``state`` is the expected one."""
    query = parse_qs(urlsplit(callback_url).query, keep_blank_values=True)
    states = query.get("state", [])
    received = states[0] if len(states) == 1 else ""
    # Constant time: the state is a per-login secret; == would leak how much of it matched.
    if not hmac.compare_digest(received.encode(), pending.state.encode()):
        # Login CSRF: someone else's code (their account) pushed into this browser.
        raise LoginFailed("the state in the callback is not the one this browser was given")
    if "error" in query:
        raise LoginFailed(f"the provider answered {query['error'][0]!r}")
    codes = query.get("code", [])
    if len(codes) != 1 or not codes[0]:
        raise LoginFailed("the callback carries no authorization code")
    return codes[0]


def _client_auth(form: dict[str, str], client_id: str, secret: str | None) -> dict[str, Any]:
    """The request's form and credentials: HTTP Basic for a confidential client, with id
    and secret form-urlencoded first (RFC 6749 §2.3.1); ``client_id`` in the form otherwise."""
    if secret is None:
        return {"data": {**form, "client_id": client_id}}
    return {"data": form, "auth": (quote(client_id, safe=""), quote(secret, safe=""))}


class TokenError(Exception):
    """The token endpoint said no; ``error`` is its RFC 6749 §5.2 code."""

    def __init__(self, status_code: int, error: str) -> None:
        super().__init__(f"token endpoint answered {status_code} {error}")
        self.status_code = status_code
        self.error = error


async def token_request(
    http: httpx2.AsyncClient,
    token_endpoint: str,
    form: dict[str, str],
    *,
    client_id: str,
    client_secret: str | None = None,
) -> dict[str, Any]:
    """POST ``form`` to the token endpoint, as a confidential client (Basic) or a public one."""
    response = await http.post(token_endpoint, **_client_auth(form, client_id, client_secret))
    try:
        body = response.json()
    except ValueError:  # not JSON: a proxy's error page, say
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code != 200 or "access_token" not in body:
        raise TokenError(response.status_code, str(body.get("error", "invalid_response")))
    return dict(body)


async def exchange_code(
    http: httpx2.AsyncClient,
    token_endpoint: str,
    pending: PendingLogin,
    code: str,
    *,
    client_id: str,
    client_secret: str | None = None,
) -> dict[str, Any]:
    """Redeem ``code`` with the verifier only this client knows (RFC 6749 §4.1.3)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": pending.redirect_uri,
        "code_verifier": pending.code_verifier,
    }
    return await token_request(
        http, token_endpoint, form, client_id=client_id, client_secret=client_secret
    )


async def refresh(
    http: httpx2.AsyncClient,
    token_endpoint: str,
    refresh_token: str,
    *,
    client_id: str,
    client_secret: str | None = None,
) -> dict[str, Any]:
    """New tokens for a refresh token; keep the *new* refresh token (it rotates)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return await token_request(
        http, token_endpoint, form, client_id=client_id, client_secret=client_secret
    )


async def revoke(
    http: httpx2.AsyncClient,
    revocation_endpoint: str,
    token: str,
    *,
    token_type_hint: str,
    client_id: str,
    client_secret: str | None = None,
) -> None:
    """Ask the server to revoke ``token`` (RFC 7009). It answers 200 even for unknown tokens."""
    form = {"token": token, "token_type_hint": token_type_hint}
    response = await http.post(revocation_endpoint, **_client_auth(form, client_id, client_secret))
    if response.status_code != 200:
        raise TokenError(response.status_code, "revocation refused")


class ClientCredentials:
    """A machine client's access token (RFC 6749 §4.4), cached and shared.

    ``token()`` returns the cached token until ``skew`` seconds before it expires, then
    fetches a new one. Concurrent callers wait on one lock, and whoever gets it second
    finds the fresh token already there: N callers at once cost one token request.
    ``send()`` calls an API with the token and, on a 401, fetches a new one and retries once.
    """

    def __init__(
        self,
        http: httpx2.AsyncClient,
        token_endpoint: str,
        *,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        resource: str | None = None,
        clock: Clock | None = None,
        skew: float = 30.0,
    ) -> None:
        self._http = http
        self._token_endpoint = token_endpoint
        self._client_id = client_id
        self._client_secret = client_secret
        extra = {"scope": scope, "resource": resource}
        self._form = {"grant_type": "client_credentials"} | {
            name: value for name, value in extra.items() if value is not None
        }
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._skew = skew
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many token requests were sent (the notebook counts them)

    def _fresh(self) -> str | None:
        if self._token is not None and self._clock.time() < self._expires_at - self._skew:
            return self._token
        return None

    async def token(self) -> str:
        """The current access token, fetched only when there is no fresh one."""
        token = self._fresh()
        if token is not None:
            return token
        async with self._lock:
            # Whoever held the lock before us may have fetched already: check again.
            token = self._fresh()
            if token is None:
                issued = await token_request(
                    self._http,
                    self._token_endpoint,
                    self._form,
                    client_id=self._client_id,
                    client_secret=self._client_secret,
                )
                self.fetches += 1
                token = str(issued["access_token"])
                self._token = token
                self._expires_at = self._clock.time() + float(issued.get("expires_in", 0))
            return token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the API refused it) unless a newer one replaced it already."""
        if self._token is not None and hmac.compare_digest(self._token, token):
            self._token = None

    async def send(self, api: httpx2.AsyncClient, method: str, url: str) -> httpx2.Response:
        """Call ``url`` on ``api`` with the token; after a 401, once more with a new token."""
        token = await self.token()
        response = await api.request(method, url, headers={"Authorization": f"Bearer {token}"})
        if response.status_code == 401:
            self.invalidate(token)
            token = await self.token()
            response = await api.request(method, url, headers={"Authorization": f"Bearer {token}"})
        return response
