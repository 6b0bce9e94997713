# Generated from notebooks/08_decision_framework.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Choosing authentication and authorization: the comparison matrices as data, and ``recommend``.

The matrices summarise chapters 2–7; ``recommend`` walks the decision tree of chapter 8
over *features* of a system (who calls it, from which clients, where identities come
from, how fine permissions are, how fast access must be revoked), never over scenario
names, and returns a stack together with the reasons for each part of it.
"""

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AuthenticationMethod:
    """One row of the authentication matrix."""

    name: str
    carries_identity_in: str
    server_state: str
    typical_lifetime: str
    revocation: str
    complexity: str
    fits: str
    chapter: int


@dataclass(frozen=True)
class AuthorizationModel:
    """One row of the authorization matrix."""

    name: str
    decides_from: str
    granularity: str
    query_cost: str
    scaling_problem: str
    fits: str
    chapter: int


AUTHENTICATION_MATRIX: tuple[AuthenticationMethod, ...] = (
    AuthenticationMethod("password + session", "session cookie", "yes (DB / Redis)", "hours–days",
                         "instant: delete the session", "low", "server-rendered web apps", 2),
    AuthenticationMethod("JWT", "bearer token", "no (self-contained)", "minutes",
                         "delayed: expiry or denylist", "medium", "SPAs, mobile, microservices", 3),
    AuthenticationMethod("API key", "header (never the query string)", "yes (DB lookup)",
                         "weeks–months", "instant: deactivate", "low", "machine-to-machine, partners", 4),
    AuthenticationMethod("OAuth 2.0", "access token", "depends", "minutes–hours",
                         "depends on the provider", "high", "delegated access", 5),
    AuthenticationMethod("OpenID Connect", "ID token (a JWT)", "no", "minutes",
                         "n/a: an identity snapshot", "high", "SSO, enterprise identity", 6),
    AuthenticationMethod("mTLS", "client certificate", "no", "months–years", "CRL / OCSP",
                         "very high", "service mesh, zero trust", 8),
)

AUTHORIZATION_MATRIX: tuple[AuthorizationModel, ...] = (
    AuthorizationModel("RBAC", "user → role → permission", "coarse", "1–2 queries",
                       "role explosion", "admin panels, internal tools", 7),
    AuthorizationModel("ABAC", "attributes + policies", "fine",
                       "policy evaluation + attribute fetching", "policy complexity",
                       "compliance, classification", 7),
    AuthorizationModel("ReBAC", "user → relationship → resource", "per resource",
                       "graph traversal", "graph size", "collaboration platforms", 7),
)


class Actor(enum.StrEnum):
    """Who calls the system."""

    PEOPLE = "people"
    PARTNERS = "partner integrations"  # first-party scripts and integrations
    THIRD_PARTY_APPS = "third-party apps acting for users"
    SERVICES = "our own services"


class Client(enum.StrEnum):
    """Where people use it from."""

    SERVER_RENDERED = "server-rendered web"
    SPA = "single-page app"
    MOBILE = "mobile app"


class IdentitySource(enum.StrEnum):
    """Where people's identities come from."""

    OWN_ACCOUNTS = "accounts we create"
    CUSTOMER_IDP = "each customer's identity provider"
    CORPORATE_IDP = "our company's identity provider"
    GATEWAY = "signed in upstream, forwarded by a gateway"


class Sharing(enum.StrEnum):
    """How access is granted."""

    BY_ROLE = "by role in the organisation"
    PER_RESOURCE = "per document or folder"


class Method(enum.StrEnum):
    """Authentication building blocks a stack is made of."""

    PASSWORD = "password"
    SESSION = "server-side session"
    JWT = "JWT"
    OAUTH_PKCE = "OAuth 2.0 code + PKCE"
    API_KEYS = "API keys"
    OAUTH = "OAuth 2.0 for third parties"
    OIDC = "OpenID Connect SSO"
    MTLS = "mTLS"


class Model(enum.StrEnum):
    """Authorization building blocks."""

    IS_ADMIN = "is_admin flag"
    RBAC = "RBAC"
    ABAC = "ABAC"
    REBAC = "ReBAC"
    SCOPES = "scopes"


@dataclass(frozen=True)
class Requirements:
    """What is known about the system to protect."""

    actors: frozenset[Actor] = frozenset({Actor.PEOPLE})
    clients: frozenset[Client] = frozenset({Client.SERVER_RENDERED})
    identity_source: IdentitySource = IdentitySource.OWN_ACCOUNTS
    password_fallback: bool = False  # with customer IdPs: people without one still sign in
    permission_levels: int = 2  # distinct levels of access people need
    attribute_rules: bool = False  # classification, region or time rules (compliance)
    sharing: Sharing = Sharing.BY_ROLE
    instant_revocation: bool = False  # access must end within seconds, not minutes


@dataclass(frozen=True)
class Stack:
    """A recommendation: the parts, and why each is there."""

    authentication: tuple[Method, ...]
    authorization: tuple[Model, ...]
    notes: tuple[str, ...] = ()
    reasons: tuple[str, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        lines = [
            "authentication: " + " + ".join(self.authentication),
            "authorization:  " + " + ".join(self.authorization),
        ]
        lines += [f"note: {note}" for note in self.notes]
        lines += [f"  because {reason}" for reason in self.reasons]
        return "\n".join(lines)


def _people_authentication(req: Requirements, why: list[str], notes: list[str]) -> list[Method]:
    source = req.identity_source
    if source is IdentitySource.CORPORATE_IDP:
        why.append("employees already have corporate accounts: one source of identity (OIDC)")
        return [Method.OIDC]
    if source is IdentitySource.CUSTOMER_IDP:
        why.append("customers bring their own identity provider: OIDC SSO per tenant")
        if req.password_fallback:
            why.append("people without an identity provider still need a way in: passwords as fallback")
            return [Method.OIDC, Method.PASSWORD]
        return [Method.OIDC]
    if source is IdentitySource.GATEWAY:
        why.append("people sign in upstream; services verify the gateway's JWT")
        notes.append("RS256 for distributed verification: services hold only the public key")
        return [Method.JWT]
    if Client.MOBILE in req.clients:
        why.append("a mobile app cannot keep a client secret: OAuth code + PKCE, then JWTs")
        notes.append("no client secret in the app")
        return [Method.OAUTH_PKCE, Method.JWT]
    if Client.SPA in req.clients:
        why.append("a single-page app calls an API: bearer JWTs (refresh token in an HttpOnly cookie)")
        notes.append("add SSO (OIDC) when customers ask")
        return [Method.PASSWORD, Method.JWT]
    why.append("server-rendered pages: a session cookie is simplest and revokes instantly")
    return [Method.PASSWORD, Method.SESSION]


def _authorization(req: Requirements, why: list[str], notes: list[str]) -> list[Model]:
    models: list[Model] = []
    people = Actor.PEOPLE in req.actors and req.identity_source is not IdentitySource.GATEWAY
    if people and req.sharing is Sharing.PER_RESOURCE:
        why.append("access is granted per document: relationships (ReBAC)")
        models.append(Model.REBAC)
    elif people and req.permission_levels <= 2 and not req.attribute_rules:
        why.append("two levels of access: an is_admin flag is enough (move to RBAC past two)")
        models.append(Model.IS_ADMIN)
    elif people:
        why.append(f"{req.permission_levels} levels of access: roles (RBAC)")
        models.append(Model.RBAC)
        if req.identity_source in (IdentitySource.CUSTOMER_IDP, IdentitySource.CORPORATE_IDP):
            notes.append("map IdP groups to roles")
    if people and req.attribute_rules:
        why.append("classification, region or time rules: policies over attributes (ABAC)")
        models.append(Model.ABAC)
    machines = req.actors & {Actor.PARTNERS, Actor.THIRD_PARTY_APPS, Actor.SERVICES}
    if machines or req.identity_source is IdentitySource.GATEWAY:
        why.append("machines and forwarded tokens carry scopes; each API checks its own")
        models.append(Model.SCOPES)
    return models


def recommend(requirements: Requirements) -> Stack:
    """The stack the decision tree gives for ``requirements``, with the reasons."""
    if not requirements.actors:
        raise ValueError("say who calls the system: at least one actor")
    if requirements.permission_levels < 1:
        raise ValueError("permission_levels counts levels of access: at least 1")
    why: list[str] = []
    notes: list[str] = []
    methods: list[Method] = []
    if Actor.PEOPLE in requirements.actors:
        methods += _people_authentication(requirements, why, notes)
    if Actor.PARTNERS in requirements.actors:
        why.append("partners run scripts: scoped API keys, simple and revocable at once")
        notes.append("rate limit per key")
        methods.append(Method.API_KEYS)
    if Actor.THIRD_PARTY_APPS in requirements.actors:
        why.append("third-party apps act for users: OAuth 2.0, never the users' passwords")
        methods.append(Method.OAUTH)
    if Actor.SERVICES in requirements.actors:
        why.append("service-to-service calls: mTLS authenticates the transport")
        methods.append(Method.MTLS)
    if requirements.instant_revocation and Method.JWT in methods:
        why.append("access must end at once: JWTs need a revocation check on every request")
        notes.append("check a jti denylist and token version per request (chapter 3)")
    models = _authorization(requirements, why, notes)
    return Stack(tuple(methods), tuple(models), tuple(notes), tuple(why))
