"""Fixtures for the chapter 6 reference tests: providers, a relying party, the SSO app."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from joserfc.jwk import RSAKey

from authcourse.client import browser
from authcourse.clock import FrozenClock
from authcourse.idp import IdentityProvider
from clouddocs.oidc import RelyingParty

ACME = "https://login.acme.test"
CALLBACK = "https://clouddocs.test/auth/callback"
SIGNED_OUT = "https://clouddocs.test/signed-out"
PASSWORD = "correct horse battery staple"
WEB_SECRET = "acme-web-secret-0123456789"

# RSA key generation (~80 ms) would dominate this suite: reuse a small pool, as tests/idp does.
_pool: list[RSAKey] = []
_draws = itertools.count()
_generate = RSAKey.generate_key


def _pooled(key_size: int, parameters: Any = None, private: bool = True, auto_kid: bool = False
            ) -> RSAKey:
    index = next(_draws) % 6
    if index == len(_pool):
        _pool.append(_generate(key_size, parameters=parameters, private=private, auto_kid=auto_kid))
    return _pool[index]


@pytest.fixture(autouse=True)
def _reuse_signing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("authcourse.idp.keys.RSAKey.generate_key", _pooled)


def make_acme(clock: FrozenClock, issuer: str = ACME) -> IdentityProvider:
    idp = IdentityProvider(issuer, clock=clock)
    idp.add_user("alice", PASSWORD, email="alice@acme.test", email_verified=True,
                 name="Alice", groups=["docs-admins", "everyone"])
    idp.add_user("bob", PASSWORD, email="bob@acme.test", email_verified=True, groups=["everyone"])
    idp.add_client("clouddocs-web", secret=WEB_SECRET, redirect_uris=[CALLBACK],
                   scope="openid profile email groups", post_logout_redirect_uris=[SIGNED_OUT])
    idp.add_client("clouddocs-spa", redirect_uris=[CALLBACK], first_party=True)
    idp.add_client("photo-app", secret="photo-secret-0123456789",
                   redirect_uris=["https://photos.test/callback"], first_party=True)
    return idp


@dataclass
class Acme:
    clock: FrozenClock
    idp: IdentityProvider
    http: httpx2.AsyncClient  # the user's browser and CloudDocs' back channel at once
    requests: list[str] = field(default_factory=list)  # "METHOD path" seen by the provider

    def relying_party(self, client_id: str = "clouddocs-web", secret: str | None = WEB_SECRET,
                      **options: Any) -> RelyingParty:
        return RelyingParty(issuer=self.idp.issuer, client_id=client_id, client_secret=secret,
                            redirect_uri=options.pop("redirect_uri", CALLBACK),
                            http_client=self.http, clock=self.clock,
                            scope=options.pop("scope", "openid email profile groups"), **options)


@pytest.fixture
async def acme() -> AsyncIterator[Acme]:
    clock = FrozenClock()
    idp = make_acme(clock)
    async with browser({ACME: idp.app}) as http:
        world = Acme(clock, idp, http)

        async def record(request: httpx2.Request) -> None:
            world.requests.append(f"{request.method} {request.url.path}")

        http.event_hooks["request"].append(record)
        yield world
