"""The provider's in-memory storage: one ``MemoryStore`` per ``IdentityProvider``."""

from __future__ import annotations

from collections import defaultdict

from authcourse.idp.models import AuthorizationCode, Client, IssuedToken, TokenKind, User


class MemoryStore:
    """Users, clients, codes and tokens, with the grant bookkeeping that revocation needs.

    Every authorization (one code and the tokens exchanged from it, including all rotated
    refresh tokens) shares a ``grant_id``, so a whole grant can be revoked at once.
    """

    def __init__(self) -> None:
        self._users_by_name: dict[str, User] = {}
        self._users_by_subject: dict[str, User] = {}
        self._clients: dict[str, Client] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._tokens: dict[str, IssuedToken] = {}
        self._tokens_by_grant: defaultdict[str, list[IssuedToken]] = defaultdict(list)
        self._nonces: set[tuple[str, str]] = set()

    # -- users and clients -------------------------------------------------------------

    def add_user(self, user: User) -> None:
        if user.username in self._users_by_name:
            raise ValueError(f"user {user.username!r} already exists")
        self._users_by_name[user.username] = user
        self._users_by_subject[user.subject] = user

    def user_by_username(self, username: str) -> User | None:
        return self._users_by_name.get(username)

    def user_by_subject(self, subject: str) -> User | None:
        return self._users_by_subject.get(subject)

    def add_client(self, client: Client) -> None:
        if client.client_id in self._clients:
            raise ValueError(f"client {client.client_id!r} already exists")
        self._clients[client.client_id] = client

    def client(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    def all_scopes(self) -> list[str]:
        return sorted({scope for client in self._clients.values() for scope in client.scopes})

    # -- authorization codes and nonces ------------------------------------------------

    def add_code(self, code: AuthorizationCode) -> None:
        self._codes[code.code] = code
        if code.nonce:
            self._nonces.add((code.client_id, code.nonce))

    def code(self, value: str) -> AuthorizationCode | None:
        return self._codes.get(value)

    def nonce_was_used(self, client_id: str, nonce: str) -> bool:
        return (client_id, nonce) in self._nonces

    # -- tokens ------------------------------------------------------------------------

    def add_token(self, token: IssuedToken) -> None:
        self._tokens[token.value] = token
        self._tokens_by_grant[token.grant_id].append(token)

    def token(self, value: str, kind: TokenKind | None = None) -> IssuedToken | None:
        """Look a token up by its string; ``kind`` restricts the answer to one type."""
        token = self._tokens.get(value)
        if token is None or (kind is not None and token.kind != kind):
            return None
        return token

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke every token descended from one authorization."""
        for token in self._tokens_by_grant[grant_id]:
            token.revoked = True
