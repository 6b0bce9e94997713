"""The ``provider`` probes: each fails against ``authcourse.idp`` with one defence switched off
(a registration option where the provider has one, a patched method where it has none)
and passes against the provider as it ships."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from authlib.oauth2.rfc7636 import CodeChallenge

from authcourse.audit import (
    Account,
    AuthorizationServer,
    Route,
    Status,
    Target,
    all_probes,
    audit,
)
from authcourse.audit.targets.oauth import API, CALLBACK, PASSWORD, build_provider
from authcourse.clock import FrozenClock
from authcourse.idp import IdentityProvider, serve
from authcourse.idp import grants as idp_grants
from authcourse.idp.endpoints import IntrospectionEndpoint
from authcourse.idp.grants import AuthorizationCodeGrant, RefreshTokenGrant, S256CodeChallenge
from authcourse.idp.models import AuthorizationCode, Client, IssuedToken

pytestmark = pytest.mark.anyio


async def test_the_course_provider_passes_every_provider_probe() -> None:
    built = build_provider()
    report = await audit(built.app, built.target, only="provider")
    outcomes = {r.id: (r.status, r.summary) for r in report.results}
    assert len(outcomes) == 12
    assert all(status == Status.PASS for status, _ in outcomes.values()), outcomes


async def _fails(probe_id: str, built: Any = None) -> None:
    built = built or build_provider()
    report = await audit(built.app, built.target, only=probe_id)
    (result,) = report.results
    assert result.status == Status.FAIL, (result.summary, result.evidence)


def _prefix_match(self: Client, redirect_uri: str) -> bool:
    return any(redirect_uri.startswith(registered) for registered in self.redirect_uris)


def _reused_code_without_revoking(
    self: AuthorizationCodeGrant, code: str, client: Client
) -> AuthorizationCode | None:
    stored = self.server.store.code(code)
    if stored is None or stored.used or stored.client_id != client.client_id:
        return None  # refused, but the tokens already issued from it live on
    return stored


def _replayed_refresh_without_revoking(
    self: RefreshTokenGrant, refresh_token: str
) -> IssuedToken | None:
    token = self.server.store.token(refresh_token, "refresh_token")
    if token is None or token.rotated or token.is_revoked():
        return None  # refused, but the rest of the grant lives on
    return token


def _any_confidential_client(self: Client, method: str, endpoint: str) -> bool:
    return method in ("client_secret_basic", "client_secret_post")


#: (probe, what is switched off, how): each patch is the classic bug that probe exists for.
PATCHED: list[tuple[str, str, Callable[[pytest.MonkeyPatch], None]]] = [
    ("provider.redirect_uri_exact", "prefix matching",
     lambda m: m.setattr(Client, "check_redirect_uri", _prefix_match)),
    ("provider.pkce_s256_only", "plain accepted",
     lambda m: (m.setattr(S256CodeChallenge, "SUPPORTED_CODE_CHALLENGE_METHOD", ["plain", "S256"]),
                m.setattr(S256CodeChallenge, "validate_code_challenge",
                          CodeChallenge.validate_code_challenge))),
    ("provider.pkce_verifier_checked", "verifier never compared",
     lambda m: m.setattr(S256CodeChallenge, "validate_code_verifier",
                         lambda self, grant, result: None)),
    ("provider.code_single_use", "codes never marked used",
     lambda m: m.setattr(AuthorizationCodeGrant, "delete_authorization_code",
                         lambda self, code: None)),
    ("provider.code_redirect_uri_checked", "the redirect URI not compared at /token",
     lambda m: m.setattr(AuthorizationCode, "get_redirect_uri", lambda self: None)),
    ("provider.code_replay_revokes", "a replayed code refused but nothing revoked",
     lambda m: m.setattr(AuthorizationCodeGrant, "query_authorization_code",
                         _reused_code_without_revoking)),
    ("provider.code_short_lived", "codes live an hour",
     lambda m: m.setattr(idp_grants, "CODE_LIFETIME", 3600)),
    ("provider.refresh_rotation", "no new refresh token",
     lambda m: m.setattr(RefreshTokenGrant, "INCLUDE_NEW_REFRESH_TOKEN", False)),
    ("provider.refresh_rotation", "the old refresh token stays valid",
     lambda m: m.setattr(RefreshTokenGrant, "revoke_old_credential", lambda self, token: None)),
    ("provider.refresh_reuse_revokes", "a replay refused but the grant kept",
     lambda m: m.setattr(RefreshTokenGrant, "authenticate_refresh_token",
                         _replayed_refresh_without_revoking)),
    ("provider.introspection_protected", "any authenticated client may introspect",
     lambda m: (m.setattr(Client, "check_endpoint_auth_method", _any_confidential_client),
                m.setattr(IntrospectionEndpoint, "check_permission",
                          lambda self, token, client, request: True))),
]


def test_every_provider_probe_has_a_failing_variant() -> None:
    # PATCHED, plus the two tests below (a no-PKCE client, hour-long access tokens).
    covered = {p for p, _, _ in PATCHED} | {"provider.pkce_required",
                                             "provider.access_token_lifetime"}
    assert {p.id for p in all_probes() if p.group == "provider"} == covered


@pytest.mark.parametrize(("probe_id", "flaw", "patch"), PATCHED, ids=[p[1] for p in PATCHED])
async def test_a_provider_with_one_defence_off_fails_its_probe(
    monkeypatch: pytest.MonkeyPatch, probe_id: str, flaw: str,
    patch: Callable[[pytest.MonkeyPatch], None],
) -> None:
    patch(monkeypatch)
    await _fails(probe_id)


async def test_a_client_allowed_to_skip_pkce_fails_the_pkce_probe() -> None:
    built = build_provider()
    clock = FrozenClock()
    provider = IdentityProvider("https://idp.test", clock=clock)
    provider.add_user("alice", PASSWORD)
    provider.add_client("legacy-web", secret="legacy-secret-0123456789", redirect_uris=[CALLBACK],
                        pkce_required=False, insecure_demo=True)
    built.app, built.clock = provider.app, clock
    built.target = replace(built.target, clock=clock, provider=replace(
        built.target.provider, client_id="legacy-web", client_secret="legacy-secret-0123456789",
        resource=None, resource_server=None))
    await _fails("provider.pkce_required", built)


async def test_hour_long_access_tokens_fail_the_lifetime_probe() -> None:
    built = build_provider()
    clock = FrozenClock()
    provider = IdentityProvider("https://idp.test", clock=clock, access_token_lifetime=3600)
    provider.add_user("alice", PASSWORD)
    provider.add_resource_server(API, client_id="docs-api", secret="docs-api-secret-0123456789")
    provider.add_client("clouddocs-web", secret="web-secret-0123456789",
                        redirect_uris=[CALLBACK], resources=[API])
    built.app = provider.app
    built.target = replace(built.target, clock=clock, provider=replace(
        built.target.provider, client_secret="web-secret-0123456789", resource_server=None))
    await _fails("provider.access_token_lifetime", built)


async def test_the_provider_probes_say_why_they_do_not_apply() -> None:
    built = build_provider()
    no_clock = await audit(built.app, replace(built.target, clock=None),
                           only="provider.code_short_lived")
    assert no_clock.results[0].status == Status.NOT_APPLICABLE
    assert "Target.clock" in no_clock.results[0].summary
    bare = await audit(built.app, replace(built.target, provider=None), only="provider")
    assert {r.status for r in bare.results} == {Status.NOT_APPLICABLE}
    assert all("Target.provider" in r.summary for r in bare.results)


def _served_provider() -> tuple[IdentityProvider, Target, int]:
    """A provider whose issuer is the loopback URL it will be served at."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    issuer = f"http://127.0.0.1:{port}"
    clock = FrozenClock()
    provider = IdentityProvider(issuer, clock=clock)
    provider.add_user("alice", PASSWORD)
    provider.add_resource_server(API, client_id="docs-api", secret="docs-api-secret-0123456789")
    provider.add_client("web", secret="web-secret-0123456789", redirect_uris=[CALLBACK],
                        resources=[API])
    target = Target(protected=Route("GET", "/userinfo"), origin=issuer, clock=clock,
                    provider=AuthorizationServer(
                        client_id="web", client_secret="web-secret-0123456789",
                        redirect_uri=CALLBACK, user=Account("alice", PASSWORD),
                        resource_server=Account("docs-api", "docs-api-secret-0123456789"),
                        resource=API))
    return provider, target, port


@pytest.mark.parametrize("reusable_codes", [False, True])
async def test_provider_probes_run_against_a_server_by_url(
    monkeypatch: pytest.MonkeyPatch, reusable_codes: bool
) -> None:
    if reusable_codes:
        monkeypatch.setattr(AuthorizationCodeGrant, "delete_authorization_code",
                            lambda self, code: None)
    provider, target, port = _served_provider()
    probes = ["provider.redirect_uri_exact", "provider.code_single_use",
              "provider.introspection_protected"]
    with serve(provider, port=port) as url:
        report = await audit(None, target, only=probes, url=url)
    expected = Status.FAIL if reusable_codes else Status.PASS
    assert report["provider.code_single_use"].status is expected
    assert report["provider.redirect_uri_exact"].status is Status.PASS
    assert report["provider.introspection_protected"].status is Status.PASS
