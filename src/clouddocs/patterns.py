# Generated from notebooks/08_decision_framework.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Production patterns assembled from CloudDocs parts: here, one service of a microservice system.

A service behind a gateway trusts no shared secret: the gateway signs user tokens with RS256
and publishes its public keys (JWKS); services verify with those keys only, accept tokens
addressed to themselves (``aud``), and check the scope each route needs. Service-to-service
calls travel over mTLS, and the calling service is named by its client certificate.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Security, status
from fastapi.security import HTTPAuthorizationCredentials

from clouddocs.clock import Clock, SystemClock
from clouddocs.jwt_tokens import ACCESS_TOKEN_TYPE, InvalidToken, VerificationKey, verify_jwt
from clouddocs.mtls import ClientCertificate, TrustedProxies, require_client_certificate
from clouddocs.security import bearer_challenge, harden, unauthorized
from clouddocs.token_app import bearer_scheme


@dataclass(frozen=True)
class ServiceSettings:
    """One service: its name (the audience of tokens meant for it), whom it trusts, who may call."""

    name: str
    issuer: str  # the gateway
    gateway_keys: Mapping[str, VerificationKey] = field(repr=False)  # public keys, from the JWKS
    callers: frozenset[str]  # services (certificate names) allowed to call this one
    proxies: TrustedProxies | None = None
    clock: Clock = field(default_factory=SystemClock)
    leeway: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        if any(key.algorithm == "HS256" for key in self.gateway_keys.values()):
            raise ValueError("services verify gateway tokens with public keys: no HS256 secret here")


def forwarded_user(settings: ServiceSettings) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A dependency: the claims of the gateway's token for this service, or 401."""

    async def user_claims(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    ) -> dict[str, Any]:
        if credentials is None:
            raise unauthorized()
        try:
            return verify_jwt(credentials.credentials, settings.gateway_keys, token_type=ACCESS_TOKEN_TYPE,
                              issuer=settings.issuer, audience=settings.name, clock=settings.clock,
                              leeway=settings.leeway)
        except InvalidToken:
            raise unauthorized("invalid_token") from None

    return user_claims


def require_scope(scope: str, user: Callable[..., Awaitable[dict[str, Any]]]) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A dependency: the user's claims if their token carries ``scope`` (space-separated
    ``scope`` claim, RFC 9068 §2.2.3), else 403 ``insufficient_scope`` (RFC 6750 §3.1)."""

    async def scoped(claims: Annotated[dict[str, Any], Depends(user)]) -> dict[str, Any]:
        granted = claims.get("scope")
        if not isinstance(granted, str) or scope not in granted.split():
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"Missing scope: {scope}",
                headers={"WWW-Authenticate": bearer_challenge("insufficient_scope", None) + f', scope="{scope}"'},
            )
        return claims

    return scoped


def microservice_app(settings: ServiceSettings) -> FastAPI:
    """The billing service of the microservices pattern: mTLS caller + gateway JWT + scope."""
    app = FastAPI(title=f"CloudDocs {settings.name} service")
    caller = require_client_certificate(settings.callers, settings.proxies)
    user = forwarded_user(settings)
    Caller = Annotated[ClientCertificate, Depends(caller)]

    @app.get("/invoices")
    async def list_invoices(service: Caller, claims: Annotated[dict[str, Any], Depends(require_scope(f"{settings.name}:read", user))]) -> dict[str, str]:
        return {"caller": service.common_name, "user": str(claims["sub"]), "action": "read"}

    @app.post("/invoices")
    async def create_invoice(service: Caller, claims: Annotated[dict[str, Any], Depends(require_scope(f"{settings.name}:write", user))]) -> dict[str, str]:
        return {"caller": service.common_name, "user": str(claims["sub"]), "action": "write"}

    return harden(app)


from fastapi import APIRouter, Response
from sqlalchemy import and_, delete, select

from clouddocs.db import User
from clouddocs.rbac import Member, MemberDependency, Membership, Role, require_permission
from clouddocs.token_app import TokenAppSettings, require_access_token, token_routes


def tenant_member(settings: TokenAppSettings) -> MemberDependency:
    """A dependency: the caller of a valid access token as a ``Member`` of their own tenant, or 403."""
    access = require_access_token(settings.tokens, settings.db)

    async def member(claims: Annotated[dict[str, Any], Depends(access)]) -> Member:
        user_id = int(claims["sub"])
        statement = (
            select(User.tenant_id, Membership.role)
            .join(Membership, and_(Membership.user_id == User.id, Membership.tenant_id == User.tenant_id))
            .where(User.id == user_id)
        )
        async with settings.db.engine.connect() as connection:
            row = (await connection.execute(statement)).first()
        if row is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "no role in this tenant")
        return Member(user_id, row.tenant_id, Role(row.role))

    return member


def startup_saas_app(settings: TokenAppSettings) -> FastAPI:
    """Passwords + JWT (access + rotating refresh, chapter 3) + RBAC on the team routes (chapter 7)."""
    app = FastAPI(title="CloudDocs — startup SaaS pattern")
    app.include_router(token_routes(settings))
    member = tenant_member(settings)
    team = APIRouter(prefix="/team")

    @team.get("")
    async def list_team(caller: Annotated[Member, Depends(require_permission("members:read", member))]) -> list[dict[str, Any]]:
        async with settings.db.engine.connect() as connection:
            rows = await connection.execute(
                select(Membership.user_id, Membership.role).where(Membership.tenant_id == caller.tenant_id)
                .order_by(Membership.user_id))
        return [{"user_id": row.user_id, "role": row.role} for row in rows]

    @team.delete("/{user_id}", status_code=204, responses={404: {"description": "No such member in your tenant"}})
    async def remove_member(user_id: int, caller: Annotated[Member, Depends(require_permission("members:manage", member))]) -> Response:
        async with settings.db.engine.begin() as connection:
            # Filtered by the caller's tenant: another tenant's user id is simply not found (BOLA).
            result = await connection.execute(delete(Membership).where(
                Membership.tenant_id == caller.tenant_id, Membership.user_id == user_id))
        if not result.rowcount:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
        return Response(status_code=204)

    app.include_router(team)
    return harden(app)
