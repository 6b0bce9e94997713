"""Real TLS on loopback for the mTLS section: a throwaway CA, certificates, and uvicorn.

The ASGI transport the other chapters use has no TLS at all, so client certificates need a
real server. This module makes one in a fraction of a second and always tears it down:

- ``CertificateAuthority.create()`` — a CA that exists only in memory (EC P-256 keys: made
  in microseconds, unlike RSA), issuing server and client certificates;
- ``serve_tls(app, ca=ca)`` — uvicorn on ``127.0.0.1`` (a random free port) in a thread,
  with ``CERT_REQUIRED`` when ``mtls=True``: no handshake completes without a client
  certificate signed by ``ca``;
- ``TLSExtensionH11Protocol`` — uvicorn does not fill the ASGI TLS extension
  (``scope["extensions"]["tls"]``), this protocol subclass does, from the peer certificate,
  before the application sees the request;
- ``client_context(ca, credential)`` — an ``ssl.SSLContext`` trusting ``ca`` and presenting
  ``credential``, for ``httpx2.AsyncClient(verify=...)``.

Toolkit, not lesson: the identity logic the course teaches lives in ``clouddocs.mtls``.
Tested with uvicorn 0.54 (pyproject pins <0.55): the subclass relies on the protocol's
``app`` attribute and ``connection_made`` being called once the handshake has completed.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import ipaddress
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "REFUSED_HANDSHAKE_ERRORS",
    "CertificateAuthority",
    "Credential",
    "TLSExtensionH11Protocol",
    "TLSServer",
    "WithTLSExtension",
    "certificate_thumbprint",
    "client_context",
    "describe_refusal",
    "serve_tls",
    "tls_extension",
]

#: Certificates here live a day: long enough for any notebook run, useless if leaked.
VALIDITY = datetime.timedelta(days=1)
#: Tolerated clock difference between the machine that issues and the one that verifies.
BACKDATE = datetime.timedelta(minutes=5)


def certificate_thumbprint(der: bytes) -> str:
    """``x5t#S256``: base64url (no padding) of the SHA-256 of a certificate's DER (RFC 8705 §3.1)."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, repr=False)
class Credential:
    """A certificate and its private key."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        # Unencrypted on purpose: a throwaway key written only into a private temp folder.
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def subject(self) -> str:
        """The subject as an RFC 4514 string, e.g. ``CN=billing,O=CloudDocs``."""
        return self.certificate.subject.rfc4514_string()

    @property
    def thumbprint(self) -> str:
        """The RFC 8705 ``x5t#S256`` thumbprint of this certificate."""
        return certificate_thumbprint(self.certificate.public_bytes(serialization.Encoding.DER))

    def __repr__(self) -> str:
        return f"Credential(subject={self.subject!r})"  # never the key


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(frozen=True)
class CertificateAuthority:
    """A certificate authority that lives in memory for one demo or test."""

    credential: Credential
    organization: str

    @classmethod
    def create(cls, name: str = "CloudDocs throwaway CA", organization: str = "CloudDocs") -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(name, organization)
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(Credential(certificate, key), organization)

    @property
    def pem(self) -> bytes:
        return self.credential.cert_pem

    def _issue(
        self,
        common_name: str,
        usage: x509.ObjectIdentifier,
        alternative_names: list[x509.GeneralName],
    ) -> Credential:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, self.organization))
            .issuer_name(self.credential.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.credential.private_key.public_key()
                ),
                critical=False,
            )
        )
        if alternative_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        certificate = builder.sign(self.credential.private_key, hashes.SHA256())
        return Credential(certificate, key)

    def issue_server(self, hostnames: tuple[str, ...] = ("localhost",), ips: tuple[str, ...] = ("127.0.0.1",)) -> Credential:
        """A server certificate valid for these host names and IP addresses."""
        names: list[x509.GeneralName] = [x509.DNSName(host) for host in hostnames]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        return self._issue(hostnames[0] if hostnames else ips[0], ExtendedKeyUsageOID.SERVER_AUTH, names)

    def issue_client(self, common_name: str, *, uri: str | None = None) -> Credential:
        """A client certificate for ``common_name`` (a service name), optionally with a URI SAN
        (a SPIFFE-style id such as ``spiffe://clouddocs.test/billing``)."""
        names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri)] if uri else []
        return self._issue(common_name, ExtendedKeyUsageOID.CLIENT_AUTH, names)


@contextmanager
def _pem_files(credential: Credential) -> Iterator[tuple[str, str]]:
    """The certificate and key as files (``ssl`` loads chains only from paths), deleted after."""
    with tempfile.TemporaryDirectory(prefix="authcourse-tls-") as folder:
        cert, key = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert.write_bytes(credential.cert_pem)
        key.touch(mode=0o600)
        key.write_bytes(credential.key_pem)
        yield str(cert), str(key)


def client_context(ca: CertificateAuthority, credential: Credential | None = None) -> ssl.SSLContext:
    """A client ``SSLContext`` trusting only ``ca``, presenting ``credential`` if given.

    Pass it to ``httpx2.AsyncClient(verify=context)``. Host names are checked as usual, so
    connect to ``127.0.0.1`` or ``localhost`` (both are in the server certificate).
    """
    context = ssl.create_default_context(cadata=ca.pem.decode("ascii"))
    if credential is not None:
        with _pem_files(credential) as (cert, key):
            context.load_cert_chain(cert, key)
    return context


def tls_extension(certificate: x509.Certificate | None, *, version: str | None = "TLSv1.3", cipher: str | None = None) -> dict[str, Any]:
    """The ASGI TLS extension (asgiref "TLS extension" spec) for a connection whose client
    presented ``certificate`` (None: no client certificate)."""
    chain: list[str] = []
    name: str | None = None
    if certificate is not None:
        chain = [certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")]
        name = certificate.subject.rfc4514_string()
    return {
        "server_cert": None,
        # Python's ssl exposes only the peer's own certificate before 3.13, so the "chain"
        # holds the leaf: enough for identity and RFC 8705 thumbprints.
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,  # CERT_REQUIRED: an unverified certificate never gets here
        "tls_version": {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}.get(version or ""),
        "cipher_suite": None,
        "cipher_name": cipher,
    }


def _connection_extension(ssl_object: ssl.SSLObject | None) -> dict[str, Any]:
    if ssl_object is None:
        return {}
    der = ssl_object.getpeercert(binary_form=True)
    cipher = ssl_object.cipher()
    return tls_extension(
        x509.load_der_x509_certificate(der) if der else None,
        version=ssl_object.version(),
        cipher=cipher[0] if cipher else None,
    )


class WithTLSExtension:
    """Wraps an app so every request carries one connection's TLS facts in its scope.

    ``TLSExtensionH11Protocol`` wraps each connection this way; checks and tests use it
    in-process to present a certificate without a socket.
    """

    def __init__(self, app: Any, tls: dict[str, Any]) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and self.tls:
            scope = {**scope, "extensions": {**(scope.get("extensions") or {}), "tls": self.tls}}
        elif scope["type"] in ("http", "websocket") and "extensions" in scope:
            # No TLS on this connection: make sure nothing upstream left a "tls" entry.
            scope = {**scope, "extensions": {k: v for k, v in scope["extensions"].items() if k != "tls"}}
        await self.app(scope, receive, send)


class TLSExtensionH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus the ASGI TLS extension read from the peer certificate.

    asyncio calls ``connection_made`` once the TLS handshake has finished, so the peer
    certificate is known here; the wrapper puts it in every request's scope on this
    connection, before the application runs.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app = WithTLSExtension(self.app, _connection_extension(transport.get_extra_info("ssl_object")))


@dataclass(frozen=True)
class TLSServer:
    """A running server: where to reach it."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"


@contextmanager
def serve_tls(
    app: Any,
    *,
    ca: CertificateAuthority,
    server_credential: Credential | None = None,
    mtls: bool = True,
    startup_timeout: float = 5.0,
) -> Iterator[TLSServer]:
    """Serve ``app`` over HTTPS on 127.0.0.1 (random port) in a thread; stop it on exit.

    With ``mtls=True`` the server requires a client certificate signed by ``ca``
    (``CERT_REQUIRED``): without one, no request reaches the app. Proxy headers are off: on
    a direct connection nobody is a trusted proxy, so ``X-Forwarded-For`` changes nothing.
    """
    credential = server_credential or ca.issue_server()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="authcourse-tls-") as folder:
        cert, key, ca_file = Path(folder, "cert.pem"), Path(folder, "key.pem"), Path(folder, "ca.pem")
        cert.write_bytes(credential.cert_pem)
        key.touch(mode=0o600)
        key.write_bytes(credential.key_pem)
        ca_file.write_bytes(ca.pem)
        config = uvicorn.Config(
            app,
            http=TLSExtensionH11Protocol,
            ws="none",
            lifespan="on",
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            ssl_ca_certs=str(ca_file),
            ssl_cert_reqs=ssl.CERT_REQUIRED if mtls else ssl.CERT_NONE,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + startup_timeout
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("the TLS test server did not start")
                time.sleep(0.005)
            yield TLSServer("127.0.0.1", port)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            listener.close()


#: What a client sees when the server refuses its certificate. Under TLS 1.3 the client's
#: side of the handshake is finished before the server has checked the certificate, so the
#: refusal (a TLS alert, or the connection simply closed) arrives on the first *read*:
#: httpx2 reports a ReadError or RemoteProtocolError, sometimes a ConnectError or WriteError,
#: depending on timing. Tests assert on this set, never on one class.
REFUSED_HANDSHAKE_ERRORS: tuple[type[Exception], ...]


def _refused_errors() -> tuple[type[Exception], ...]:
    import httpx2

    return (httpx2.ReadError, httpx2.RemoteProtocolError, httpx2.ConnectError, httpx2.WriteError)


REFUSED_HANDSHAKE_ERRORS = _refused_errors()


def describe_refusal(error: BaseException) -> str:
    """A stable, plain description of a refused client certificate (for notebook output)."""
    text = " ".join(str(part) for part in (error, error.__cause__, error.__context__) if part).lower()
    if "unknown ca" in text or "unknown_ca" in text:
        reason = "the server does not trust the CA that signed the client certificate"
    elif "certificate required" in text or "certificate_required" in text:
        reason = "the server requires a client certificate and none was sent"
    else:
        reason = "the server closed the connection during or right after the handshake"
    return f"refused at the TLS layer ({reason}); no HTTP response, the app never ran"
