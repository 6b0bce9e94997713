# Generated from notebooks/08_decision_framework.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Service identity from a client certificate (mTLS), and access tokens bound to it.

Under mutual TLS the *connection* authenticates the caller: the server accepts the
handshake only if the client proves it holds the private key of a certificate signed by a
CA the server trusts. The application then reads who connected from the ASGI TLS
extension (``scope["extensions"]["tls"]``), never from a request header, which any client
can write. Behind a TLS-terminating proxy the certificate arrives in a header set by that
proxy: it counts only when the request comes from a proxy address we trust.

Certificate-bound access tokens (RFC 8705 §3) carry ``cnf: {"x5t#S256": thumbprint}``; a
resource server accepts such a token only over a connection presenting that certificate,
so a stolen token is useless without the private key.
"""

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials

from clouddocs.jwt_tokens import InvalidToken, TokenService
from clouddocs.security import unauthorized
from clouddocs.token_app import bearer_scheme

#: RFC 8705 §3.1: the confirmation method for a certificate thumbprint.
THUMBPRINT_CLAIM = "x5t#S256"
#: There is no registered HTTP authentication scheme for mTLS; this challenge only tells a
#: client that this route wants a client certificate (direct clients never see it: without
#: a certificate their handshake already fails).
MTLS_CHALLENGE = 'MutualTLS realm="clouddocs"'


@dataclass(frozen=True)
class ClientCertificate:
    """What the application knows about the certificate the caller presented."""

    subject: str  # RFC 4514, e.g. "CN=billing,O=CloudDocs"
    common_name: str
    uris: tuple[str, ...]  # URI SANs, e.g. SPIFFE ids
    thumbprint: str  # RFC 8705 x5t#S256

    @classmethod
    def from_pem(cls, pem: str) -> "ClientCertificate":
        certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        try:
            sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            uris = tuple(sans.value.get_values_for_type(x509.UniformResourceIdentifier))
        except x509.ExtensionNotFound:
            uris = ()
        der = certificate.public_bytes(serialization.Encoding.DER)
        return cls(
            subject=certificate.subject.rfc4514_string(),
            common_name=str(names[0].value) if names else "",
            uris=uris,
            thumbprint=base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode(),
        )


@dataclass(frozen=True)
class TrustedProxies:
    """TLS-terminating proxies whose client-certificate header we believe.

    The proxy verifies the client certificate itself and forwards it URL-encoded in
    ``header`` (nginx: ``$ssl_client_escaped_cert``). It must also *remove* any such header
    a client sent; and the app must accept that header from these addresses only.
    """

    addresses: frozenset[str]
    header: str = "x-client-cert"


def client_certificate(request: Request, proxies: TrustedProxies | None = None) -> ClientCertificate | None:
    """The caller's verified certificate: from the TLS connection, else from a trusted proxy."""
    tls: Mapping[str, Any] = (request.scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if chain:
        return ClientCertificate.from_pem(chain[0])
    peer = request.client.host if request.client else None
    if proxies is None or peer not in proxies.addresses:
        return None  # a header from anyone else is just text the client wrote
    forwarded = request.headers.get(proxies.header)
    if not forwarded:
        return None
    try:
        return ClientCertificate.from_pem(unquote(forwarded))
    except ValueError:
        return None  # the proxy sent something that is not a certificate: no identity


def require_client_certificate(
    allowed: frozenset[str], proxies: TrustedProxies | None = None
) -> Callable[[Request], Awaitable[ClientCertificate]]:
    """A dependency: the caller's certificate, 401 without one, 403 if its name is not allowed.

    ``allowed`` lists the service names (certificate common names) this route serves.
    """

    async def service_identity(request: Request) -> ClientCertificate:
        certificate = client_certificate(request, proxies)
        if certificate is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a client certificate is required",
                headers={"WWW-Authenticate": MTLS_CHALLENGE, "Cache-Control": "no-store"},
            )
        if certificate.common_name not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this service may not call this route")
        return certificate

    return service_identity


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


#: What a route behind ``require_client_certificate`` answers besides success, for OpenAPI.
MTLS_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No client certificate (behind a proxy: none forwarded by a trusted one)",
          "headers": {"WWW-Authenticate": _header(MTLS_CHALLENGE)}},
    403: {"description": "The certificate names a service this route does not serve"},
}


def confirmation_claims(certificate: ClientCertificate) -> dict[str, Any]:
    """The ``cnf`` claim binding a token to ``certificate`` (RFC 8705 §3.1)."""
    return {"cnf": {THUMBPRINT_CLAIM: certificate.thumbprint}}


def check_binding(claims: Mapping[str, Any], certificate: ClientCertificate | None) -> None:
    """Refuse a bound token unless it arrives over a connection with its certificate."""
    confirmation = claims.get("cnf")
    expected = confirmation.get(THUMBPRINT_CLAIM) if isinstance(confirmation, Mapping) else None
    if not isinstance(expected, str):
        raise InvalidToken("the token is not bound to a certificate")
    if certificate is None:
        raise InvalidToken("a certificate-bound token needs a client certificate")
    if not hmac.compare_digest(expected.encode(), certificate.thumbprint.encode()):
        raise InvalidToken("the token is bound to another certificate")


def require_bound_token(
    tokens: TokenService, proxies: TrustedProxies | None = None
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A dependency: the claims of a valid access token bound to the caller's certificate."""

    async def bound_claims(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    ) -> dict[str, Any]:
        if credentials is None:
            raise unauthorized()
        try:
            claims = tokens.verify(credentials.credentials)
            check_binding(claims, client_certificate(request, proxies))
        except InvalidToken:
            raise unauthorized("invalid_token") from None  # the reason stays server-side
        return claims

    return bound_claims
