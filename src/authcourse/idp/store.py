"""The provider's in-memory storage: one ``MemoryStore`` per ``IdentityProvider``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from authcourse.idp.models import (
    AuthorizationCode,
    Client,
    Grant,
    IssuedToken,
    TokenKind,
    User,
    token_digest,
)


@dataclass(frozen=True)
class ResourceServer:
    """An API that accepts this provider's access tokens, known by its RFC 8707 identifier."""

    #: The resource indicator clients ask for, and the ``aud`` of tokens issued for it.
    identifier: str
    #: The credentials it authenticates with at /introspect.
    client_id: str
    #: Tokens for this API are opaque strings, checked by introspection, not JWTs.
    opaque_access_tokens: bool = False


@dataclass
class BrowserSession:
    """A signed-in browser at the provider (single sign-on): who, and since when."""

    subject: str
    auth_time: int
    expires_at: float


class MemoryStore:
    """Users, clients, codes and tokens, with the grant bookkeeping that revocation needs.

    Every authorization (one code and the tokens exchanged from it, including all rotated
    refresh tokens) shares a ``grant_id``, so a whole grant can be revoked at once.
    Tokens and browser sessions are kept under a SHA-256 digest of their value.
    """

    def __init__(self) -> None:
        self._users_by_name: dict[str, User] = {}
        self._users_by_subject: dict[str, User] = {}
        self._clients: dict[str, Client] = {}
        self._resource_servers: dict[str, ResourceServer] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._grants: dict[str, Grant] = {}
        self._tokens: dict[bytes, IssuedToken] = {}
        self._tokens_by_grant: defaultdict[str, list[IssuedToken]] = defaultdict(list)
        self._nonces: set[tuple[str, str]] = set()
        self._consents: defaultdict[tuple[str, str, str], set[str]] = defaultdict(set)
        self._sessions: dict[bytes, BrowserSession] = {}

    # -- users, clients and resource servers -----------------------------------------------

    def add_user(self, user: User) -> None:
        if user.username in self._users_by_name:
            raise ValueError(f"user {user.username!r} already exists")
        self._check_subject_is_free(user.subject)
        self._users_by_name[user.username] = user
        self._users_by_subject[user.subject] = user

    def user_by_username(self, username: str) -> User | None:
        return self._users_by_name.get(username)

    def user_by_subject(self, subject: str) -> User | None:
        return self._users_by_subject.get(subject)

    def add_client(self, client: Client) -> None:
        if client.client_id in self._clients:
            raise ValueError(f"client {client.client_id!r} already exists")
        self._check_subject_is_free(client.client_id)
        self._clients[client.client_id] = client

    def client(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    def add_resource_server(self, resource_server: ResourceServer) -> None:
        if resource_server.identifier in self._resource_servers:
            raise ValueError(f"resource server {resource_server.identifier!r} already exists")
        self._resource_servers[resource_server.identifier] = resource_server

    def resource_server(self, identifier: str) -> ResourceServer | None:
        return self._resource_servers.get(identifier)

    def all_scopes(self) -> list[str]:
        return sorted({scope for client in self._clients.values() for scope in client.scopes})

    def _check_subject_is_free(self, subject: str) -> None:
        # RFC 9068 §5 / RFC 9700 §4.15: a client-credentials token's ``sub`` is the client
        # id, so a client id equal to a user's ``sub`` would let that client act as the user.
        if subject in self._users_by_subject or subject in self._clients:
            raise ValueError(f"{subject!r} is already a user subject or a client id")

    # -- authorization codes, grants, nonces and consents -----------------------------------

    def add_code(self, code: AuthorizationCode) -> None:
        self._codes[code.code] = code
        if code.nonce:
            self._nonces.add((code.client_id, code.nonce))

    def code(self, value: str) -> AuthorizationCode | None:
        return self._codes.get(value)

    def nonce_was_used(self, client_id: str, nonce: str) -> bool:
        return (client_id, nonce) in self._nonces

    def add_grant(self, grant: Grant) -> None:
        self._grants[grant.grant_id] = grant

    def grant(self, grant_id: str) -> Grant | None:
        return self._grants.get(grant_id)

    def remember_consent(self, subject: str, client_id: str, resource: str, scope: str) -> None:
        self._consents[(subject, client_id, resource)].update(scope.split())

    def has_consent(self, subject: str, client_id: str, resource: str, scope: str) -> bool:
        """True when the user already approved every scope requested now, for this client
        and this resource server (access to another API is asked for anew)."""
        return set(scope.split()) <= self._consents.get((subject, client_id, resource), set())

    # -- tokens ------------------------------------------------------------------------

    def add_token(self, value: str, token: IssuedToken) -> None:
        self._tokens[token_digest(value)] = token
        self._tokens_by_grant[token.grant_id].append(token)

    def token(self, value: str, kind: TokenKind | None = None) -> IssuedToken | None:
        """Look a token up by its string; ``kind`` restricts the answer to one type."""
        token = self._tokens.get(token_digest(value))
        if token is None or (kind is not None and token.kind != kind):
            return None
        return token

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke every token descended from one authorization."""
        for token in self._tokens_by_grant[grant_id]:
            token.revoked = True

    # -- browser sessions ----------------------------------------------------------------

    def add_session(self, session_id: str, session: BrowserSession) -> None:
        self._sessions[token_digest(session_id)] = session

    def session(self, session_id: str) -> BrowserSession | None:
        return self._sessions.get(token_digest(session_id))

    def end_session(self, session_id: str) -> None:
        self._sessions.pop(token_digest(session_id), None)
