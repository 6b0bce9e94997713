# Generated from notebooks/08_decision_framework.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Running two authentication methods side by side while clients move from one to the other."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials

from clouddocs.db import Database
from clouddocs.jwt_tokens import InvalidToken, TokenService
from clouddocs.security import bearer_challenge, unauthorized
from clouddocs.sessions import SessionCookie
from clouddocs.token_app import bearer_scheme
from clouddocs.token_revocation import is_revoked


@dataclass(frozen=True)
class Caller:
    """Who is calling, and which method proved it (log it: it tells you when to stop the old one)."""

    user_id: str
    method: Literal["jwt", "session"]


def session_or_jwt(sessions: SessionCookie, tokens: TokenService, db: Database) -> Callable[..., Awaitable[Caller]]:
    """A dependency accepting a bearer JWT (checked first) or, without one, a session cookie."""

    async def caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    ) -> Caller:
        if credentials is not None:
            try:
                claims = tokens.verify(credentials.credentials)
            except InvalidToken:
                raise unauthorized("invalid_token") from None  # never fall back to the cookie
            if await is_revoked(db.engine, claims):
                raise unauthorized("invalid_token")
            return Caller(str(claims["sub"]), "jwt")
        session_id = request.cookies.get(sessions.cookie_name)
        current = await sessions.resolve(session_id) if session_id else None
        if current is not None:
            return Caller(str(current.user_id), "session")
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Not authenticated",
            headers={
                # Two challenges in one header, comma-separated (RFC 9110 §11.6.1).
                "WWW-Authenticate": f'{bearer_challenge(None, None)}, Cookie realm="clouddocs", cookie-name="{sessions.cookie_name}"',
                "Cache-Control": "no-store",
            },
        )

    return caller
