"""Audit targets for chapter 8's production-pattern apps (``clouddocs.patterns``).

``build_microservices()`` returns the billing service of the microservices pattern, wrapped
so every in-process request arrives as if over an mTLS connection from the ``gateway``
service (the audit speaks HTTP, not TLS), with a target that signs gateway tokens with the
gateway's RSA key, so the claim probes run. For the command line::

    python -m authcourse audit authcourse.audit.targets.patterns:microservices.app \\
        --target authcourse.audit.targets.patterns:microservices.target
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from authcourse.audit.target import Account, Auth, Role, Route, Target
from authcourse.clock import FrozenClock
from authcourse.tls import CertificateAuthority, WithTLSExtension, tls_extension

GATEWAY = "https://gateway.clouddocs.test"


@dataclass
class AuditedPattern:
    """An ASGI app, the target describing it, and the clock both share."""

    app: Any
    target: Target
    clock: FrozenClock


def build_microservices() -> AuditedPattern:
    """The billing service: mTLS caller (as ``gateway``), RS256 gateway JWT, per-service scopes."""
    from clouddocs.jwks import jwks_document, keys_from_jwks, new_rsa_key
    from clouddocs.jwt_tokens import KeyRing, TokenService, TokenSettings
    from clouddocs.patterns import ServiceSettings, microservice_app

    clock = FrozenClock()
    key = new_rsa_key("gw-1")
    ring = KeyRing(key)
    service = microservice_app(
        ServiceSettings(name="billing", issuer=GATEWAY, gateway_keys=keys_from_jwks(jwks_document(ring)),
                        callers=frozenset({"gateway"}), clock=clock)
    )
    caller = CertificateAuthority.create("audit CA").issue_client("gateway")
    app = WithTLSExtension(service, tls_extension(caller.certificate))
    tokens = TokenService(ring, TokenSettings(GATEWAY, "billing"), clock=clock)

    async def sign_in(context: object, role: Role) -> Auth:
        subject = "user-2" if str(role) == "other" else "user-1"
        token = tokens.issue(subject, claims={"scope": "billing:read billing:write"})
        return Auth(headers={"Authorization": f"Bearer {token}"}, access_token=token)

    def sign(claims: Mapping[str, Any], header: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), key.private_key, algorithm="RS256", headers=dict(header))

    target = Target(
        name="microservices pattern (billing service)",
        origin="https://billing.internal.test",
        protected=Route("GET", "/invoices"),
        user=Account("user-1", "unused: the gateway signs users in"),
        other_user=Account("user-2", "unused: the gateway signs users in"),
        sign_in=sign_in,
        sign=sign,
        clock=clock,
    )
    return AuditedPattern(app, target, clock)


def __getattr__(name: str) -> AuditedPattern:
    if name == "microservices":
        built = build_microservices()
        globals()[name] = built
        return built
    raise AttributeError(name)
