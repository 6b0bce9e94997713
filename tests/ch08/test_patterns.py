"""clouddocs.patterns.microservice_app over real TLS: calling service, gateway JWT and scope all checked."""

from collections.abc import Iterator
from dataclasses import dataclass

import httpx2
import jwt
import pytest

from authcourse.tls import CertificateAuthority, Credential, TLSServer, client_context, serve_tls
from clouddocs.jwks import jwks_document, keys_from_jwks, new_rsa_key
from clouddocs.jwt_tokens import KeyRing, TokenService, TokenSettings, new_hs256_key
from clouddocs.patterns import ServiceSettings, microservice_app

ISSUER = "https://gateway.clouddocs.test"


@dataclass
class World:
    ca: CertificateAuthority
    gateway: Credential
    reports: Credential
    tokens: TokenService
    server: TLSServer


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    ca = CertificateAuthority.create()
    ring = KeyRing(new_rsa_key("gw-1"))
    app = microservice_app(ServiceSettings(name="billing", issuer=ISSUER,
                                           gateway_keys=keys_from_jwks(jwks_document(ring)),
                                           callers=frozenset({"gateway"})))
    with serve_tls(app, ca=ca) as server:
        yield World(ca, ca.issue_client("gateway"), ca.issue_client("reports"),
                    TokenService(ring, TokenSettings(ISSUER, "billing")), server)


async def call(world: World, credential: Credential, method: str, token: str) -> httpx2.Response:
    async with httpx2.AsyncClient(verify=client_context(world.ca, credential), timeout=5) as http:
        return await http.request(method, f"{world.server.url}/invoices", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.anyio
async def test_scopes_callers_and_audience(world: World) -> None:
    read = world.tokens.issue("u42", claims={"scope": "billing:read"})
    both = world.tokens.issue("u42", claims={"scope": "billing:read billing:write"})
    assert (await call(world, world.gateway, "GET", read)).json() == {"caller": "gateway", "user": "u42", "action": "read"}
    denied = await call(world, world.gateway, "POST", read)
    assert denied.status_code == 403 and 'error="insufficient_scope"' in denied.headers["www-authenticate"]
    assert (await call(world, world.gateway, "POST", both)).status_code == 200
    assert (await call(world, world.reports, "GET", both)).status_code == 403  # not an allowed caller
    other_audience = world.tokens.issue("u42", audience="search", claims={"scope": "billing:read"})
    assert (await call(world, world.gateway, "GET", other_audience)).status_code == 401
    # A scope that merely contains the name is not the scope.
    substring = world.tokens.issue("u42", claims={"scope": "billing:read-all"})
    assert (await call(world, world.gateway, "GET", substring)).status_code == 403


@pytest.mark.anyio
async def test_forged_tokens_are_refused(world: World) -> None:
    # Signed with an HS256 secret under the gateway's kid (algorithm confusion), and unsigned.
    hs = TokenService(KeyRing(new_hs256_key("gw-1")), TokenSettings(ISSUER, "billing"))
    forged = hs.issue("u42", claims={"scope": "billing:read"})
    unsigned = jwt.encode({"sub": "u42", "scope": "billing:read"}, None, algorithm="none",
                          headers={"typ": "at+jwt", "kid": "gw-1"})
    for token in (forged, unsigned, "garbage"):
        assert (await call(world, world.gateway, "GET", token)).status_code == 401


def test_hs256_keys_are_refused_at_construction() -> None:
    ring = KeyRing(new_hs256_key("k"))
    with pytest.raises(ValueError, match="public keys"):
        ServiceSettings(name="billing", issuer=ISSUER, gateway_keys=ring.verification_keys(), callers=frozenset())


@pytest.mark.anyio
async def test_full_audit_of_the_microservices_pattern_has_no_failure() -> None:
    from authcourse.audit import audit
    from authcourse.audit.targets.patterns import build_microservices

    audited = build_microservices()
    report = await audit(audited.app, audited.target)
    bad = [(r.id, r.status, r.summary) for r in report.results if str(r.status) in ("fail", "error")]
    assert not bad, bad
    passed = {r.id for r in report.results if str(r.status) == "pass"}
    # The probes that matter for this service did run (n/a is not a pass).
    assert {"transport.hsts", "jwt.alg_none", "jwt.aud_checked", "jwt.iss_checked", "jwt.kid_injection"} <= passed


def test_mtls_routes_declare_their_401_and_403_in_openapi() -> None:
    from clouddocs.mtls import MTLS_CHALLENGE, MTLS_RESPONSES

    ring = KeyRing(new_rsa_key("gw-1"))
    app = microservice_app(ServiceSettings(name="billing", issuer=ISSUER, gateway_keys=keys_from_jwks(jwks_document(ring)),
                                           callers=frozenset({"gateway"})))
    operations = app.openapi()["paths"]["/invoices"]
    for method in ("get", "post"):
        responses = operations[method]["responses"]
        assert {"401", "403"} <= set(responses), method
        assert "WWW-Authenticate" in responses["401"]["headers"]
    assert MTLS_RESPONSES[401]["headers"]["WWW-Authenticate"]["description"] == MTLS_CHALLENGE
    assert set(MTLS_RESPONSES) == {401, 403}
