"""What the audit cannot guess about an app: its accounts, routes and hooks (the *target*).

A target is plain data plus a few optional async hooks. Every field is optional except the
protected route: a probe whose inputs are missing reports "not applicable" and names the
field that would let it run. A target for a typical tutorial-style FastAPI app is about
twenty lines::

    target = Target(
        user=Account("alice@example.com", "alice-long-passphrase"),
        other_user=Account("bob@example.com", "bob-long-passphrase"),
        admin=Account("root@example.com", "root-long-passphrase"),
        login=Login("/token", form=True),
        registration=Registration("/users", username_field="email"),
        protected=Route("GET", "/users/me"),
        admin_route=Route("GET", "/admin/users"),
        object_route=ObjectRoute("GET", "/items/{id}", object_id="1"),
    )
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import httpx2
    from starlette.types import ASGIApp

    from authcourse.audit.context import Context

#: The identities a target describes. "user" owns the target's object; "other" is a
#: second ordinary user who must not reach it; "admin" may call the admin route. The
#: access-model probes add a second tenant: "outsider" (an ordinary user there) and
#: "outsider_admin" (one who manages its members), see ``SecondTenant``.
Role = Literal["user", "other", "admin", "outsider", "outsider_admin"]


@dataclass(frozen=True)
class Account:
    """A username (or email) and password the audit may log in with."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Route:
    """One endpoint: an HTTP method and a path (``/documents``)."""

    method: str
    path: str

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


@dataclass(frozen=True)
class ObjectRoute:
    """A route that returns one object by id, and the id of an object owned by ``Target.user``.

    ``path`` holds ``{id}`` where the id goes. ``missing_id`` is an id that exists for
    nobody: the 403-versus-404 probe compares the answers for both ids.
    """

    method: str
    path: str
    object_id: str
    missing_id: str = "987654321"

    def __post_init__(self) -> None:
        if "{id}" not in self.path:
            raise ValueError(f"ObjectRoute path needs an {{id}} placeholder: {self.path!r}")

    def url(self, object_id: str | None = None) -> str:
        return self.path.replace("{id}", object_id if object_id is not None else self.object_id)

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


@dataclass(frozen=True)
class Login:
    """The password login route and where its answer puts the credential.

    ``form=True`` posts ``application/x-www-form-urlencoded`` (FastAPI's
    ``OAuth2PasswordRequestForm``); otherwise JSON. A bearer token is read from the JSON
    field ``token_field``; cookies the answer sets are kept as they are; a CSRF token is
    read from ``csrf_field`` and sent back in ``csrf_header`` on unsafe requests.
    """

    path: str = "/login"
    form: bool = False
    username_field: str = "username"
    password_field: str = "password"
    extra: Mapping[str, str] = field(default_factory=dict)
    token_field: str | None = "access_token"
    csrf_field: str | None = None
    csrf_header: str = "X-CSRF-Token"
    method: str = "POST"


@dataclass(frozen=True)
class Registration:
    """The sign-up route. ``username_template`` makes fresh names (``{n}`` is a counter).

    ``complete`` finishes a sign-up that takes more than one request (a verified sign-up:
    read the emailed link, then choose the password): called as
    ``complete(ctx, username, password)`` after the first request succeeded, it returns
    the answer that accepts or refuses the password (None: nothing to complete, e.g. the
    address was taken). The enumeration probes compare first answers only. Without it,
    probes that must log in after signing up report "not applicable" when login fails.
    """

    path: str = "/register"
    form: bool = False
    username_field: str = "email"
    password_field: str = "password"
    extra: Mapping[str, str] = field(default_factory=dict)
    username_template: str = "audit-{n}@example.com"
    complete: Callable[[Context, str, str], Awaitable[httpx2.Response | None]] | None = None


@dataclass(frozen=True)
class Refresh:
    """The refresh route. The refresh token rides in ``cookie`` (set at login) or in the
    JSON field ``body_field`` (read from the login answer, sent in the request body).
    The new access token is read from ``token_field``; a new refresh token from the same
    cookie or body field."""

    path: str
    method: str = "POST"
    cookie: str | None = None
    body_field: str | None = None
    token_field: str = "access_token"


@dataclass(frozen=True)
class IssuedKey:
    """An API key minted for the audit: the key itself and the id the app uses for it."""

    key: str = field(repr=False)
    key_id: str = ""


@dataclass(frozen=True)
class ApiKeys:
    """How API keys are sent, minted and revoked.

    ``issue(ctx, scopes)`` mints a key with exactly ``scopes`` (through the app's own API
    or its code) and ``revoke(ctx, issued)`` revokes one. ``scoped_route`` needs
    ``needed_scope``; a key with only ``other_scope`` must get 403 there.
    """

    issue: Callable[[Context, Sequence[str]], Awaitable[IssuedKey]]
    revoke: Callable[[Context, IssuedKey], Awaitable[None]] | None = None
    scoped_route: Route | None = None
    needed_scope: str | None = None
    other_scope: str | None = None
    header: str = "Authorization"
    scheme: str | None = "Bearer"
    #: The longest a key may live (the checklist: expiry, or a quarterly review).
    max_lifetime_days: float = 90
    #: Requests one key may send before the per-key limit must answer 429.
    burst: int = 200


@dataclass(frozen=True)
class AuditEvents:
    """How to read the app's audit log, and what its event kinds are called.

    ``read()`` returns every event so far as a mapping; ``kind_field`` names the field
    holding the event kind. A kind left as None is not checked.
    """

    read: Callable[[], Awaitable[Sequence[Mapping[str, Any]]]]
    kind_field: str = "event"
    login_succeeded: str | None = "login.succeeded"
    login_failed: str | None = "login.failed"
    logout: str | None = "logout"
    refreshed: str | None = "token.refreshed"
    authorization_failed: str | None = None


@dataclass(frozen=True)
class ClientRegistration:
    """The audit's own OpenID provider, and the client it registered for the app under test.

    ``RelyingParty.connect`` receives one and must make the app use it: ``issuer`` (its
    discovery document is at ``issuer + "/.well-known/openid-configuration"``), this
    ``client_id`` and ``client_secret``, this ``redirect_uri``, and ``transport`` for every
    back-channel request (discovery, JWKS, token): the provider runs in-process.
    """

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    transport: httpx2.AsyncBaseTransport = field(repr=False)


@dataclass(frozen=True)
class RelyingParty:
    """An app that signs users in with OAuth 2.0 / OpenID Connect (the ``oauth_client`` probes).

    The probes point the app at a provider of their own that can be told to misbehave
    (wrong ``nonce``, ``aud``, ``iss``, an expired ID token, another issuer's ``iss``
    parameter...). ``connect(registration)`` returns the app to probe, configured to use
    that provider (a new app, or the target's own one reconfigured). A sign-in counts as
    successful when the callback's answer sets ``session_cookie``.

    ``scope`` and ``resource`` (RFC 8707) are what the app asks for, so that the provider
    allows them. ``me`` answers with the signed-in user's details and ``existing_email``
    is the address of an account the app already has (a password account): together they
    enable the ``email_verified`` linking probe.
    """

    connect: Callable[[ClientRegistration], Awaitable[ASGIApp]]
    session_cookie: str
    login: Route = Route("GET", "/login")
    callback: str = "/auth/callback"
    scope: str = "openid email profile"
    resource: str | None = None
    me: Route | None = None
    existing_email: str | None = None


@dataclass(frozen=True)
class AuthorizationServer:
    """An OAuth 2.0 authorization server (the ``provider`` probes): the app under test.

    Endpoints come from its discovery document. ``client_id``/``client_secret`` are a
    confidential client registered with exactly ``redirect_uri`` and allowed the refresh
    token grant; ``user`` is an account that can approve it. ``authorize(ctx, url)`` plays
    the user's browser: it opens the authorization ``url``, signs in and consents, and
    returns the provider's final answer (a redirect to the client, or a refusal); by
    default the audit fills in ``authcourse.idp``'s sign-in and consent forms.
    ``resource_server`` is an API's credentials at the introspection endpoint (RFC 7662),
    and ``resource`` the RFC 8707 identifier of that API.
    """

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    user: Account
    scope: str = "openid"
    authorize: Callable[[Context, str], Awaitable[httpx2.Response]] | None = None
    resource_server: Account | None = None
    resource: str | None = None
    metadata_path: str = "/.well-known/openid-configuration"
    #: The checklist: access tokens live 5 to 15 minutes.
    max_access_token_seconds: int = 15 * 60
    #: RFC 6749 §4.1.2: an authorization code lives at most 10 minutes (RECOMMENDED).
    max_code_seconds: int = 10 * 60


@dataclass(frozen=True)
class SecondTenant:
    """A second tenant (organisation) for the access-model probes.

    The target's ``user``, ``other_user`` and ``admin`` belong to the first tenant; these
    accounts belong to the second one only. ``Target.sign_in`` (when set) is called with
    the roles ``"outsider"`` and ``"outsider_admin"`` instead. ``tenant_id`` is the first
    tenant's id as a client would send it (``tenant_field`` in a body or query string):
    what an outsider smuggles in to write into the first tenant.
    """

    user: Account | None = None
    admin: Account | None = None
    tenant_id: str | None = None
    tenant_field: str = "tenant_id"


@dataclass(frozen=True)
class Collection:
    """A collection of objects a signed-in user creates, lists, reads, edits and deletes.

    ``POST path`` with ``create_body`` creates one (its id is the answer's ``id_field``);
    ``GET path`` lists them (the JSON body is the list, or sits under ``items_field``);
    ``item_path`` (with ``{id}``) reads with GET, edits with ``update_method`` and
    ``update_body``, deletes with DELETE (``deletable=False``: no such route).
    """

    path: str
    item_path: str
    create_body: Mapping[str, Any]
    update_body: Mapping[str, Any] | None = None
    update_method: str = "PATCH"
    deletable: bool = True
    id_field: str = "id"
    items_field: str | None = None

    def __post_init__(self) -> None:
        if "{id}" not in self.item_path:
            raise ValueError(f"Collection item_path needs an {{id}} placeholder: {self.item_path!r}")

    def item(self, object_id: str) -> str:
        return self.item_path.replace("{id}", object_id)


@dataclass(frozen=True)
class MemberRoles:
    """Where a tenant admin sets a member's role: ``PUT /members/{id}/role`` with
    ``{role_field: role}``. ``{id}`` is filled from ``Target.user_ids``; ``privileged`` is
    the role nobody may grant themselves; ``demoted`` a role the admin may give the user
    that cannot create in ``Target.collection`` (a read-only "viewer"), for the demotion
    probe (the user's role is restored afterwards)."""

    path: str
    method: str = "PUT"
    role_field: str = "role"
    privileged: str = "admin"
    demoted: str | None = None


@dataclass(frozen=True)
class Sharing:
    """How an object of the ``Collection`` is shared with one user and taken back.

    ``share`` is sent with ``{user_field: <user id>, **extra}`` and must grant read access
    only (a viewer: its holder may not pass the object on); ``unshare``'s path may hold
    ``{user}``, else the same body is sent. ``{id}`` is the object's id; user ids come
    from ``Target.user_ids``.
    """

    share: Route
    unshare: Route
    user_field: str = "user_id"
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WhoAmI:
    """A route answering the caller's own record as a JSON object (``GET /me``): the
    access-model probes read the caller's role and tenant there, before and after."""

    path: str
    method: str = "GET"
    role_field: str | None = "role"
    tenant_field: str | None = "tenant_id"


class AdvancingClock(Protocol):
    """A clock the audit may move forward (``authcourse.FrozenClock`` is one)."""

    def time(self) -> float: ...

    def advance(
        self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> None: ...


#: A hook that returns credentials for a role, for apps without a password login.
SignIn = Callable[["Context", Role], Awaitable["Auth"]]
#: A hook that signs a JWT with the app's own key: ``sign(claims, headers)``.
Signer = Callable[[Mapping[str, Any], Mapping[str, Any]], str]


@dataclass
class Auth:
    """Credentials for one identity, as the audit sends them.

    ``headers`` go on every request (``Authorization``); ``cookies`` too, except the
    refresh cookie, which only goes to the refresh route. On unsafe methods the CSRF
    token (if any) is sent in the login's ``csrf_header``.
    """

    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict, repr=False)
    csrf: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def bearer(cls, token: str) -> Auth:
        return cls(headers={"Authorization": f"Bearer {token}"}, access_token=token)


@dataclass
class Target:
    """Everything the audit needs to know about one app. See the module docstring."""

    protected: Route
    user: Account | None = None
    other_user: Account | None = None
    admin: Account | None = None
    #: An account the brute-force probes may lock (default: ``other_user``, probed last).
    spare: Account | None = None
    login: Login | None = None
    registration: Registration | None = None
    refresh: Refresh | None = None
    logout: Route | None = None
    admin_route: Route | None = None
    object_route: ObjectRoute | None = None
    #: A state-changing route a logged-in user may call (CSRF probe); default: ``logout``.
    state_changing: Route | None = None
    #: A route where a user edits their own record (``PATCH /me``): mass-assignment probe.
    profile_route: Route | None = None
    api_keys: ApiKeys | None = None
    #: Access-model probes: a second tenant, the objects, member roles, sharing, and the
    #: app's id of each identity (``{"user": "1", "outsider": "7"}``) for routes that name users.
    second_tenant: SecondTenant | None = None
    collection: Collection | None = None
    member_roles: MemberRoles | None = None
    sharing: Sharing | None = None
    whoami: WhoAmI | None = None
    user_ids: Mapping[str, str] = field(default_factory=dict)
    events: AuditEvents | None = None
    #: Moves the app's clock: enables expiry and timeout probes.
    clock: AdvancingClock | None = None
    #: Signs a JWT with the app's key: enables the claim probes (exp, nbf, aud, iss, typ).
    sign: Signer | None = None
    #: Credentials for a role without a password login (API-key apps).
    sign_in: SignIn | None = None
    #: The origin browsers use for this app; requests are sent there.
    origin: str = "https://app.test"
    #: ``"METHOD /path"`` of routes meant to answer without credentials.
    public_routes: frozenset[str] = frozenset()
    #: The session cookie's name; by default, the first cookie login sets (not the refresh one).
    session_cookie: str | None = None
    #: Password rules: 15 when the password is the only factor (NIST SP 800-63B rev 4).
    min_password_length: int = 15
    #: Failed logins after which an account must be locked.
    lockout_after: int = 5
    #: Requests from one IP after which the login must answer 429.
    login_ip_burst: int = 30
    #: Requests bodies larger than this must be refused with 413.
    max_body_bytes: int = 1_048_576
    idle_timeout_seconds: float = 30 * 60
    absolute_timeout_seconds: float = 12 * 3600
    #: What timing probes measure per request. Wall-clock seconds by default; tests pass
    #: a counter of expensive operations (hash verifications) so verdicts are deterministic.
    meter: Callable[[], float] = time.perf_counter
    #: Samples per variant in timing probes.
    timing_samples: int = 7
    #: Extra secrets for the weak-JWT-secret dictionary (your own leaked test keys).
    extra_weak_secrets: Sequence[str] = ()
    #: An OAuth / OpenID Connect client: enables the ``oauth_client`` probes.
    relying_party: RelyingParty | None = None
    #: An OAuth authorization server: enables the ``provider`` probes.
    provider: AuthorizationServer | None = None
    #: Free-form label shown in the report's title.
    name: str = ""
