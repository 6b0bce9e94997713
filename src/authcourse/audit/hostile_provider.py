"""The audit's own OpenID provider: a real ``authcourse.idp`` that can be told to misbehave.

The ``oauth_client`` probes point the app under test at this provider (through
``RelyingParty.connect``) and then play both the user's browser and a provider that lies:
an ID token with another ``nonce``, ``aud`` or ``iss``, an expired one, one signed with a
key the provider never published, an unverified email, or an authorization response that
names another issuer. A client that accepts any of these has skipped a check.

Everything runs in-process: the app's back channel (discovery, JWKS, token) goes through
``transport``, which records what the app sent and rewrites the ID token of the token
response when told to. The front channel (the browser) is driven by the probes.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl

import httpx2
from joserfc import jwt
from joserfc.jwk import RSAKey

from authcourse.audit.target import ClientRegistration
from authcourse.clock import Clock, SystemClock
from authcourse.idp import IdentityProvider, sign_in
from authcourse.idp.keys import SIGNING_ALGORITHM

ISSUER = "https://audit-idp.test"
#: The issuer a mix-up attacker's provider would name (RFC 9207).
OTHER_ISSUER = "https://other-idp.test"
CLIENT_ID = "audited-app"
#: Removes a claim when given as its new value in ``HostileProvider.tamper``.
REMOVE = object()

_users = itertools.count(1)


@dataclass(frozen=True)
class ProviderUser:
    username: str
    password: str = field(repr=False)
    email: str


@dataclass(frozen=True)
class TokenRequest:
    """One request the app sent to the token endpoint: its form fields and whether it
    authenticated with HTTP Basic."""

    form: dict[str, str]
    basic_auth: bool


class _Seconds(Protocol):
    def time(self) -> float: ...


class _TargetClock:
    """The target's clock (``time()`` only) as the provider's ``Clock``: both agree on now."""

    def __init__(self, source: _Seconds) -> None:
        self._source = source

    def time(self) -> float:
        return self._source.time()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._source.time(), UTC)


class HostileProvider:
    """An ``IdentityProvider`` plus the levers to make it lie to the app under test.

    ``clock`` should be the app's own clock (``Target.clock``), so that the two agree on
    which ID tokens are fresh; by default the wall clock.
    """

    def __init__(self, clock: _Seconds | None = None, issuer: str = ISSUER) -> None:
        self.clock: Clock = _TargetClock(clock) if clock is not None else SystemClock()
        self.idp = IdentityProvider(issuer, clock=self.clock)
        self.issuer = issuer
        self.client_secret = secrets.token_urlsafe(24)
        #: Claims to change in the next ID tokens (``REMOVE`` deletes one).
        self.tamper: dict[str, Any] = {}
        #: Sign the next ID tokens with a key the provider never published.
        self.foreign_key = False
        self.token_requests: list[TokenRequest] = []
        self.user = self.add_user()

    def add_user(self, email: str | None = None, *, email_verified: bool = True) -> ProviderUser:
        """A user who can sign in here (a fresh address unless ``email`` is given)."""
        number = next(_users)
        username = f"audit-user-{number}"
        password = secrets.token_urlsafe(18)
        address = email or f"audit-user-{number}@audit-idp.test"
        self.idp.add_user(username, password, email=address, email_verified=email_verified,
                          name=f"Audit user {number}")
        return ProviderUser(username, password, address)

    def register(self, redirect_uri: str, scope: str, resource: str | None) -> ClientRegistration:
        """Register the app as a confidential client; what ``RelyingParty.connect`` receives."""
        if resource is not None:
            self.idp.add_resource_server(resource, client_id="audited-api",
                                         secret=secrets.token_urlsafe(24))
        self.idp.add_client(
            CLIENT_ID,
            secret=self.client_secret,
            redirect_uris=[redirect_uri],
            scope=scope,
            first_party=True,  # no consent screen: the audit is not testing consent
            resources=[resource] if resource else (),
            default_resource=resource,
            # Accept a client without PKCE, so that the PKCE probe can see it: it judges
            # the authorization request itself, and the other probes still run.
            pkce_required=False,
            insecure_demo=True,
        )
        return ClientRegistration(
            issuer=self.issuer,
            client_id=CLIENT_ID,
            client_secret=self.client_secret,
            redirect_uri=redirect_uri,
            transport=_BackChannel(self),
        )

    async def authorize(self, browser: httpx2.AsyncClient, url: str,
                        user: ProviderUser | None = None) -> httpx2.Response:
        """Play the user at the provider: open ``url``, sign in; the provider's last answer."""
        chosen = user or self.user
        return await sign_in(browser, url, username=chosen.username, password=chosen.password)

    def browser(self) -> httpx2.AsyncClient:
        """The user's browser at the provider (its own cookie jar: the provider's session)."""
        return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=self.idp.app),
                                  base_url=self.issuer)

    # -- the back channel ------------------------------------------------------------------

    def rewrite_token_response(self, body: dict[str, Any]) -> dict[str, Any]:
        id_token = body.get("id_token")
        if not isinstance(id_token, str) or not (self.tamper or self.foreign_key):
            return body
        header, claims = _unverified(id_token)
        for name, value in self.tamper.items():
            if value is REMOVE:
                claims.pop(name, None)
            else:
                claims[name] = value
        if self.foreign_key:
            # Same kid as the published key, different key: only the signature tells.
            key = RSAKey.generate_key(2048, parameters={"alg": SIGNING_ALGORITHM})
            header = {**header, "alg": SIGNING_ALGORITHM}
            forged = jwt.encode(header, claims, key, algorithms=[SIGNING_ALGORITHM])
        else:
            forged = self.idp.sign({k: v for k, v in header.items() if k == "typ"}, claims)
        return {**body, "id_token": forged}

    def now(self) -> int:
        return int(self.clock.time())


class _BackChannel(httpx2.AsyncBaseTransport):
    """The app's requests to the provider, in-process: recorded, and the ID token rewritten."""

    def __init__(self, provider: HostileProvider) -> None:
        self._provider = provider
        self._inner = httpx2.ASGITransport(app=provider.idp.app)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        is_token = request.method == "POST" and request.url.path == "/token"
        if is_token:
            body = (await request.aread()).decode("utf-8", "replace")
            self._provider.token_requests.append(TokenRequest(
                dict(parse_qsl(body, keep_blank_values=True)),
                request.headers.get("authorization", "").lower().startswith("basic "),
            ))
        response = await self._inner.handle_async_request(request)
        if not is_token or response.status_code != 200:
            return response
        raw = await response.aread()
        try:
            answer = json.loads(raw)
        except ValueError:
            return httpx2.Response(response.status_code, headers=response.headers, content=raw)
        rewritten = json.dumps(self._provider.rewrite_token_response(answer)).encode()
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx2.Response(response.status_code, headers=headers, content=rewritten)


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWT this provider just minted (no need to verify our own)."""
    head, payload, _ = token.split(".")
    return _segment(head), _segment(payload)


def _segment(part: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def query(url: str) -> dict[str, str]:
    """The query parameters of ``url`` (the last value of a repeated one)."""
    return dict(parse_qsl(httpx2.URL(url).query.decode(), keep_blank_values=True))


def with_query(url: str, changes: Mapping[str, str | None]) -> str:
    """``url`` with query parameters changed (None removes one)."""
    parsed = httpx2.URL(url)
    pairs = [(k, v) for k, v in parse_qsl(parsed.query.decode(), keep_blank_values=True)
             if k not in changes]
    pairs += [(k, v) for k, v in changes.items() if v is not None]
    return str(parsed.copy_with(params=pairs))
