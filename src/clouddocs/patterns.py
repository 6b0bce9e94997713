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
from clouddocs.mtls import (
    MTLS_RESPONSES,
    ClientCertificate,
    TrustedProxies,
    require_client_certificate,
)
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


#: Both checks can refuse: 401 for no certificate or no valid token, 403 for a caller this
#: service does not serve or a token without the route's scope.
SERVICE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {**MTLS_RESPONSES[401], "description": "No client certificate, or no valid gateway token"},
    403: {"description": "The calling service is not allowed here, or the token lacks the scope"},
}


def microservice_app(settings: ServiceSettings) -> FastAPI:
    """The billing service of the microservices pattern: mTLS caller + gateway JWT + scope."""
    app = FastAPI(title=f"CloudDocs {settings.name} service")
    caller = require_client_certificate(settings.callers, settings.proxies)
    user = forwarded_user(settings)
    Caller = Annotated[ClientCertificate, Depends(caller)]

    @app.get("/invoices", responses=SERVICE_RESPONSES)
    async def list_invoices(service: Caller, claims: Annotated[dict[str, Any], Depends(require_scope(f"{settings.name}:read", user))]) -> dict[str, str]:
        return {"caller": service.common_name, "user": str(claims["sub"]), "action": "read"}

    @app.post("/invoices", responses=SERVICE_RESPONSES)
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


#: Declared for OpenAPI: the member dependency's 403 (no role here, or the role lacks the permission).
TEAM_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"description": "No role in this tenant, or the role lacks the permission"}}


def startup_saas_app(settings: TokenAppSettings) -> FastAPI:
    """Passwords + JWT (access + rotating refresh, chapter 3) + RBAC on the team routes (chapter 7)."""
    app = FastAPI(title="CloudDocs — startup SaaS pattern")
    app.include_router(token_routes(settings))
    member = tenant_member(settings)
    team = APIRouter(prefix="/team")

    @team.get("", responses=TEAM_FORBIDDEN)
    async def list_team(caller: Annotated[Member, Depends(require_permission("members:read", member))]) -> list[dict[str, Any]]:
        async with settings.db.engine.connect() as connection:
            rows = await connection.execute(
                select(Membership.user_id, Membership.role).where(Membership.tenant_id == caller.tenant_id)
                .order_by(Membership.user_id))
        return [{"user_id": row.user_id, "role": row.role} for row in rows]

    @team.delete("/{user_id}", status_code=204,
                 responses={**TEAM_FORBIDDEN, 404: {"description": "No such member in your tenant"}})
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


from fastapi import Request
from pydantic import BaseModel, Field
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.abac import Classification, Decision, Environment, Resource, Subject, decide
from clouddocs.csrf import CsrfProtection, csrf_token_for
from clouddocs.db import Base, Database, Document, RowId
from clouddocs.rbac import has_permission
from clouddocs.security import not_found
from clouddocs.sessions import CurrentSession, SessionManager
from clouddocs.sso_app import NOT_SIGNED_IN, SsoAppSettings, UserRole, create_sso_app
from clouddocs.tenancy import DocumentOut, DocumentUpdate, may_edit, readable_document


class DocumentLabel(Base):
    """A document's ABAC attributes: how sensitive it is, where its data must stay."""

    __tablename__ = "document_labels"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    classification: Mapped[int] = mapped_column(Integer)
    region: Mapped[str] = mapped_column(String(16))


class SubjectProfile(Base):
    """A user's ABAC attributes, kept by the customer's admins (or synced from HR)."""

    __tablename__ = "subject_profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    clearance: Mapped[int] = mapped_column(Integer)
    region: Mapped[str] = mapped_column(String(16))


@dataclass(frozen=True)
class Caller:
    """The signed-in user as RBAC (``member``) and ABAC (``subject``) see them."""

    member: Member
    subject: Subject


class LabelledDocument(BaseModel):
    model_config = {"extra": "forbid"}  # owner, tenant: from the caller, never from the body
    title: str = Field(min_length=1, max_length=300)
    body: str = Field(default="", max_length=100_000)
    classification: Classification = Classification.INTERNAL
    region: str = Field(default="eu", pattern="^[a-z]{2}$")


class LabelledOut(DocumentOut):
    classification: Classification
    region: str


ENTERPRISE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **NOT_SIGNED_IN, 403: {"description": "The role, ownership or an ABAC rule denies this; or a CSRF failure"}}


def enterprise_caller(sessions: SessionManager, db: Database) -> Callable[..., Awaitable[Caller]]:
    """A dependency: the session's user, their tenant, IdP-mapped role and ABAC attributes.

    One statement. No role yet (never signed in through the tenant's IdP) is a 403; no
    profile means the least: clearance PUBLIC, no region.
    """

    async def caller(current: Annotated[CurrentSession, Depends(sessions.require_session)]) -> Caller:
        statement = (select(User.tenant_id, UserRole.role, SubjectProfile.clearance, SubjectProfile.region)
                     .join(UserRole, UserRole.user_id == User.id)
                     .outerjoin(SubjectProfile, SubjectProfile.user_id == User.id)
                     .where(User.id == current.user_id))
        async with db.engine.connect() as connection:
            row = (await connection.execute(statement)).first()
        if row is None or row.role not in set(Role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "no role in this tenant")
        member = Member(current.user_id, row.tenant_id, Role(row.role))
        clearance = Classification(row.clearance if row.clearance is not None else Classification.PUBLIC)
        return Caller(member, Subject(member.user_id, member.tenant_id, member.role, clearance, row.region or ""))

    return caller


def resource_of(document: Document, label: DocumentLabel | None) -> Resource:
    """The document as ABAC sees it; an unlabelled one counts as the most sensitive (fail closed)."""
    if label is None:
        return Resource(document.tenant_id, document.owner_id, Classification.RESTRICTED, "")
    return Resource(document.tenant_id, document.owner_id, Classification(label.classification), label.region)


def check_abac(caller: Caller, action: str, document: Document, label: DocumentLabel | None, clock: Clock) -> None:
    """403 naming the ABAC rule that denied (the caller already sees the document exists)."""
    decision: Decision = decide(caller.subject, action, resource_of(document, label), Environment(clock.now()))
    if not decision:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"denied by the {decision.rule} rule: {decision.reason}")


def labelled(document: Document, label: DocumentLabel | None) -> LabelledOut:
    resource = resource_of(document, label)
    return LabelledOut(id=document.id, title=document.title, body=document.body, owner_id=document.owner_id,
                       classification=resource.classification, region=resource.region)


def member_routes(app: FastAPI, db: Database, caller: Callable[..., Awaitable[Caller]]) -> None:
    """``GET /members``: who holds which role in the caller's tenant (``members:manage`` only)."""

    async def manager(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if not has_permission(who.member.role, "members:manage"):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Missing permission: members:manage")
        return who

    @app.get("/members", responses=ENTERPRISE_RESPONSES)
    async def list_members(who: Annotated[Caller, Depends(manager)]) -> list[dict[str, object]]:
        statement = (select(User.id, User.email, UserRole.role).join(UserRole, UserRole.user_id == User.id)
                     .where(User.tenant_id == who.member.tenant_id).order_by(User.id))  # this tenant only
        async with db.engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        return [{"user_id": row.id, "email": row.email, "role": row.role} for row in rows]


def enterprise_app(settings: SsoAppSettings) -> FastAPI:
    """OIDC SSO per tenant (chapter 6) + RBAC from IdP groups + ABAC + tenant-filtered queries (chapter 7)."""
    app = create_sso_app(settings)
    app.title = "CloudDocs — enterprise B2B pattern"
    sessions = SessionManager(settings.database, clock=settings.clock)  # same table as the SSO routes
    csrf = CsrfProtection([settings.origin], cookie_name=sessions.cookie_name)
    caller = enterprise_caller(sessions, settings.database)
    member_routes(app, settings.database, caller)
    Session = Annotated[AsyncSession, Depends(settings.database.session)]
    Anyone = Annotated[Caller, Depends(caller)]

    async def writer(who: Anyone, request: Request) -> Caller:
        await csrf(request)  # after the session check: no session is a 401, not a CSRF 403
        return who

    Writer = Annotated[Caller, Depends(writer)]

    @app.get("/session/csrf", responses=NOT_SIGNED_IN)
    async def csrf_token(current: Annotated[CurrentSession, Depends(sessions.require_session)]) -> dict[str, str]:
        return {"csrf_token": csrf_token_for(current.session_id)}  # for the SPA's X-CSRF-Token

    @app.get("/documents", responses=ENTERPRISE_RESPONSES)
    async def list_documents(who: Anyone, db: Session) -> list[LabelledOut]:
        rows = (await db.execute(select(Document, DocumentLabel).outerjoin(DocumentLabel)
                                 .where(Document.tenant_id == who.member.tenant_id)  # tenant in SQL
                                 .order_by(Document.id).limit(100))).all()
        now = Environment(settings.clock.now())
        # ABAC per row, in Python, on at most 100 rows: the same policy as the single reads.
        return [labelled(d, label) for d, label in rows if decide(who.subject, "read", resource_of(d, label), now)]

    @app.post("/documents", status_code=201, responses=ENTERPRISE_RESPONSES)
    async def create_document(body: LabelledDocument, who: Writer, db: Session) -> LabelledOut:
        document = Document(tenant_id=who.member.tenant_id, owner_id=who.member.user_id, title=body.title, body=body.body)
        label = DocumentLabel(classification=int(body.classification), region=body.region)
        check_abac(who, "write", document, label, settings.clock)  # role, clearance, region, hours
        db.add(document)
        await db.flush()
        label.document_id = document.id
        db.add(label)
        await db.commit()
        return labelled(document, label)

    @app.get("/documents/{document_id}", responses={**ENTERPRISE_RESPONSES, 404: {"description": "Not in your tenant"}})
    async def read_document(document_id: RowId, who: Anyone, db: Session) -> LabelledOut:
        document = await readable_document(db, who.member, document_id)  # another tenant's: 404
        if document is None:
            raise not_found()
        label = await db.get(DocumentLabel, document.id)
        check_abac(who, "read", document, label, settings.clock)
        return labelled(document, label)

    @app.patch("/documents/{document_id}", responses={**ENTERPRISE_RESPONSES, 404: {"description": "Not in your tenant"}})
    async def edit_document(document_id: RowId, body: DocumentUpdate, who: Writer, db: Session) -> LabelledOut:
        document = await readable_document(db, who.member, document_id)
        if document is None:
            raise not_found()
        label = await db.get(DocumentLabel, document.id)
        check_abac(who, "write", document, label, settings.clock)
        if not may_edit(who.member, document):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Only the owner or an admin may edit")
        for name, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
            setattr(document, name, value)
        await db.commit()
        return labelled(document, label)

    return app


import httpx2

from clouddocs.apikeys import (
    DEFAULT_KEY_RATE,
    KEY_AUTH_RESPONSES,
    ApiKeyGuard,
    KeyLimiter,
    api_keys_router,
)
from clouddocs.migrations import ApiCaller, api_key_or_oauth, require_api_scope
from clouddocs.ratelimit import rate_limit_headers, too_many_requests
from clouddocs.resource_server import Verifier
from clouddocs.sso import ExternalIdentity
from clouddocs.webhooks import (
    Resolver,
    UnsafeWebhookURL,
    deliver_webhook,
    generate_webhook_secret,
    pinned_target,
    system_resolver,
)


class WebhookEndpoint(Base):
    """Where a tenant wants its events, and the secret CloudDocs signs them with."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    # Kept in clear, unlike an API key: CloudDocs needs it to sign every delivery.
    secret: Mapped[str] = mapped_column(String(64))


@dataclass
class ApiPlatformSettings:
    """The API platform: keys (chapter 4) and OAuth tokens of ``issuer`` (chapter 5) side by side."""

    db: Database
    keys: ApiKeyGuard  # its limiter is the per-key limit
    oauth: Verifier  # e.g. JwtAccessTokens(...).verify
    issuer: str  # whose OAuth subjects ``external_identities`` links to CloudDocs users
    oauth_limiter: KeyLimiter = field(default_factory=lambda: KeyLimiter(DEFAULT_KEY_RATE))
    webhook_http: httpx2.AsyncClient | None = None  # None: events are not sent
    resolve: Resolver = system_resolver
    clock: Clock = field(default_factory=SystemClock)


class WebhookRequest(BaseModel):
    url: str = Field(min_length=9, max_length=2048)


class PlatformDocument(BaseModel):
    title: str = Field(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]+$")


@dataclass(frozen=True)
class PlatformCaller:
    """An authenticated integration with the scope the route needs, and its tenant."""

    caller: ApiCaller
    tenant_id: int


def platform_caller(settings: ApiPlatformSettings, scope: str) -> Callable[..., Awaitable[PlatformCaller]]:
    """A dependency: key or token (one header), its per-caller limit, ``scope``, its tenant.

    Keys are limited per key id inside the guard; tokens here, per subject, before the
    scope check, so refused requests count too. A token's subject has a tenant only once
    linked to a CloudDocs user (chapter 6's ``external_identities``): unlinked, it is a 403.
    """
    authenticate = api_key_or_oauth(settings.keys, settings.oauth)

    async def limited(caller: Annotated[ApiCaller, Depends(authenticate)], response: Response) -> ApiCaller:
        if caller.method == "oauth":
            decision = await settings.oauth_limiter.hit(f"oauth:{caller.subject}")
            if not decision.allowed:
                raise too_many_requests(decision)
            response.headers.update(rate_limit_headers(decision))
        return caller

    async def in_tenant(caller: Annotated[ApiCaller, Depends(require_api_scope(scope, limited))]) -> PlatformCaller:
        if caller.key is not None:
            return PlatformCaller(caller, caller.key.tenant_id)
        linked = (select(User.tenant_id).join(ExternalIdentity, ExternalIdentity.user_id == User.id)
                  .where(ExternalIdentity.issuer == settings.issuer, ExternalIdentity.subject == caller.subject))
        async with settings.db.engine.connect() as connection:
            tenant_id = await connection.scalar(linked)
        if tenant_id is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this token's subject has no CloudDocs account")
        return PlatformCaller(caller, int(tenant_id))

    return in_tenant


async def send_event(settings: ApiPlatformSettings, tenant_id: int, event: dict[str, Any]) -> dict[str, int]:
    """Sign and send ``event`` to each endpoint of the tenant; count what arrived.

    Inline to keep the pattern short; production queues deliveries and retries with backoff.
    """
    if settings.webhook_http is None:
        return {"delivered": 0, "failed": 0}
    async with settings.db.engine.connect() as connection:
        endpoints = (await connection.execute(select(WebhookEndpoint.url, WebhookEndpoint.secret)
                                              .where(WebhookEndpoint.tenant_id == tenant_id))).all()
    delivered = 0
    for url, secret in endpoints:
        try:  # deliver_webhook checks the address again: DNS may have changed since
            answer = await deliver_webhook(settings.webhook_http, url, secret=secret, event=event,
                                           clock=settings.clock, resolve=settings.resolve)
            delivered += answer.is_success
        except (UnsafeWebhookURL, httpx2.HTTPError):
            pass  # counted as failed below; the receiver learns nothing it should not
    return {"delivered": delivered, "failed": len(endpoints) - delivered}


PLATFORM_RESPONSES = {**KEY_AUTH_RESPONSES, 403: {
    "description": "The key or token lacks the scope, or the token's subject has no CloudDocs account",
    "headers": KEY_AUTH_RESPONSES[403]["headers"]}}


def api_platform_app(settings: ApiPlatformSettings) -> FastAPI:
    """API keys + OAuth + per-caller limits + signed webhooks, on one API."""
    app = FastAPI(title="CloudDocs — API platform pattern")
    app.include_router(api_keys_router(settings.keys))  # keys manage keys (chapter 4)
    Reader = Annotated[PlatformCaller, Depends(platform_caller(settings, "docs:read"))]
    Writer = Annotated[PlatformCaller, Depends(platform_caller(settings, "docs:write"))]
    Manager = Annotated[PlatformCaller, Depends(platform_caller(settings, "keys:manage"))]

    @app.get("/documents", responses=PLATFORM_RESPONSES)
    async def list_documents(reader: Reader) -> dict[str, object]:
        return {"tenant_id": reader.tenant_id, "method": reader.caller.method, "documents": ["Q1 plan", "Onboarding guide"]}

    @app.post("/documents", status_code=201, responses=PLATFORM_RESPONSES)
    async def create_document(document: PlatformDocument, writer: Writer) -> dict[str, object]:
        sent = await send_event(settings, writer.tenant_id, {"type": "document.created", "title": document.title})
        return {"title": document.title, "created_by": writer.caller.subject, "webhooks": sent}

    @app.post("/webhooks", status_code=201, responses={**PLATFORM_RESPONSES, 422: {"description": "Not a safe https URL"}})
    async def add_webhook(endpoint: WebhookRequest, manager: Manager, response: Response) -> dict[str, object]:
        try:  # https only, no credentials in it, no private/loopback/metadata address (SSRF)
            await pinned_target(endpoint.url, settings.resolve)
        except UnsafeWebhookURL as refused:
            raise HTTPException(422, f"webhook URL refused: {refused}") from None
        secret = generate_webhook_secret()
        async with settings.db.sessions() as session:
            record = WebhookEndpoint(tenant_id=manager.tenant_id, url=endpoint.url, secret=secret)
            session.add(record)
            await session.commit()
        response.headers["Cache-Control"] = "no-store"  # the secret is shown once
        return {"id": record.id, "url": endpoint.url, "secret": secret}

    return harden(app)
