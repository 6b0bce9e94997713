"""authcourse.tls and clouddocs.mtls over a real TLS server on 127.0.0.1.

Identity comes from the client certificate of the connection; a connection without a
certificate, or with one from another CA, is refused before HTTP; a forged certificate
header counts only from a trusted proxy; a certificate-bound token (RFC 8705) is refused
over a connection presenting another certificate.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

import httpx2
import pytest
from fastapi import Depends, FastAPI

from authcourse import asgi_client
from authcourse.tls import (
    REFUSED_HANDSHAKE_ERRORS,
    CertificateAuthority,
    Credential,
    TLSServer,
    client_context,
    describe_refusal,
    serve_tls,
)
from clouddocs.jwt_tokens import KeyRing, TokenService, TokenSettings, new_hs256_key
from clouddocs.mtls import (
    ClientCertificate,
    TrustedProxies,
    confirmation_claims,
    require_bound_token,
    require_client_certificate,
)
from clouddocs.security import harden

PROXY = "10.0.0.2"


@dataclass
class World:
    ca: CertificateAuthority
    billing: Credential
    reports: Credential
    tokens: TokenService
    app: FastAPI


def build_app(tokens: TokenService) -> FastAPI:
    app = FastAPI()
    proxies = TrustedProxies(frozenset({PROXY}))
    service = require_client_certificate(frozenset({"billing"}), proxies)

    @app.get("/whoami")
    async def whoami(caller: Annotated[ClientCertificate, Depends(service)]) -> dict[str, Any]:
        return {"service": caller.common_name, "uris": list(caller.uris)}

    @app.get("/ledger")
    async def ledger(claims: Annotated[dict[str, Any], Depends(require_bound_token(tokens, proxies))]) -> dict[str, str]:
        return {"sub": claims["sub"]}

    return harden(app)


@pytest.fixture(scope="module")
def world() -> World:
    ca = CertificateAuthority.create()
    tokens = TokenService(KeyRing(new_hs256_key("k1")), TokenSettings("https://clouddocs.test", "clouddocs-api"))
    return World(
        ca,
        ca.issue_client("billing", uri="spiffe://clouddocs.test/billing"),
        ca.issue_client("reports"),
        tokens,
        build_app(tokens),
    )


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[TLSServer]:
    with serve_tls(world.app, ca=world.ca) as running:
        yield running


def client(world: World, credential: Credential | None, ca: CertificateAuthority | None = None) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(verify=client_context(ca or world.ca, credential), timeout=5)


@pytest.mark.anyio
async def test_identity_comes_from_the_client_certificate(world: World, server: TLSServer) -> None:
    async with client(world, world.billing) as http:
        response = await http.get(f"{server.url}/whoami")
    assert response.status_code == 200, response.text
    assert response.json() == {"service": "billing", "uris": ["spiffe://clouddocs.test/billing"]}
    assert response.headers["strict-transport-security"]  # harden() saw https


@pytest.mark.anyio
async def test_a_known_service_not_allowed_here_gets_403(world: World, server: TLSServer) -> None:
    async with client(world, world.reports) as http:
        response = await http.get(f"{server.url}/whoami")
    assert response.status_code == 403


@pytest.mark.anyio
@pytest.mark.parametrize("who", ["no certificate", "certificate from another CA"])
async def test_connection_refused_before_http(world: World, server: TLSServer, who: str) -> None:
    if who == "no certificate":
        http = client(world, None)
    else:
        stranger_ca = CertificateAuthority.create("Someone else's CA")
        stranger = stranger_ca.issue_client("billing")  # same name, wrong issuer
        http = client(world, stranger)  # trusts the server's CA, presents the stranger's cert
    async with http:
        with pytest.raises(REFUSED_HANDSHAKE_ERRORS) as refused:
            await http.get(f"{server.url}/whoami")
    message = describe_refusal(refused.value)
    print(who, "->", type(refused.value).__name__, "->", message)
    assert message.startswith("refused at the TLS layer")


@pytest.mark.anyio
async def test_forged_certificate_header_is_ignored_on_a_direct_connection(world: World, server: TLSServer) -> None:
    forged = {"X-Client-Cert": quote(world.billing.cert_pem.decode())}
    async with client(world, world.reports) as http:
        response = await http.get(f"{server.url}/whoami", headers=forged)
    assert response.status_code == 403  # still "reports", the header changed nothing


@pytest.mark.anyio
async def test_certificate_header_counts_only_from_a_trusted_proxy(world: World) -> None:
    forged = {"X-Client-Cert": quote(world.billing.cert_pem.decode())}
    async with asgi_client(world.app, client_ip="203.0.113.7") as http:
        response = await http.get("/whoami", headers=forged)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("MutualTLS")
    async with asgi_client(world.app, client_ip=PROXY) as http:
        response = await http.get("/whoami", headers=forged)
        garbage = await http.get("/whoami", headers={"X-Client-Cert": "not a certificate"})
    assert response.status_code == 200
    assert response.json()["service"] == "billing"
    assert garbage.status_code == 401


@pytest.mark.anyio
async def test_certificate_bound_token(world: World, server: TLSServer) -> None:
    bound = world.tokens.issue(
        "svc-billing", claims=confirmation_claims(ClientCertificate.from_pem(world.billing.cert_pem.decode()))
    )
    unbound = world.tokens.issue("svc-billing")
    bearer = {"Authorization": f"Bearer {bound}"}
    async with client(world, world.billing) as http:
        ok = await http.get(f"{server.url}/ledger", headers=bearer)
        plain = await http.get(f"{server.url}/ledger", headers={"Authorization": f"Bearer {unbound}"})
    async with client(world, world.reports) as http:
        stolen = await http.get(f"{server.url}/ledger", headers=bearer)
    assert ok.status_code == 200 and ok.json() == {"sub": "svc-billing"}
    assert stolen.status_code == 401
    assert 'error="invalid_token"' in stolen.headers["www-authenticate"]
    assert plain.status_code == 401  # this route only takes bound tokens
    # Without TLS at all (in-process) the bound token is refused too.
    async with asgi_client(world.app) as http:
        no_tls = await http.get("/ledger", headers=bearer)
    assert no_tls.status_code == 401


def test_server_stops_and_frees_its_port(world: World) -> None:
    import socket

    with serve_tls(world.app, ca=world.ca) as running:
        port = running.port
    probe = socket.socket()
    try:
        probe.settimeout(1)
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nobody listens any more
    finally:
        probe.close()


def test_thumbprint_matches_between_toolkit_and_reference(world: World) -> None:
    assert ClientCertificate.from_pem(world.billing.cert_pem.decode()).thumbprint == world.billing.thumbprint
    assert "PRIVATE" not in repr(world.billing)
