# Generated from notebooks/05_oauth2.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""A backend-for-frontend (BFF): the browser holds a session cookie, the server holds the tokens.

The browser never sees an access or refresh token, so script injected into the page
(XSS) has none to steal; it gets an HttpOnly ``__Host-`` cookie that only works from
this site's origin. The BFF signs the user in with Authlib's Starlette client (state,
PKCE S256 and the ID token checked for us; the RFC 9207 ``iss`` parameter by us), keeps
the tokens in a SQL table keyed by the SHA-256 of the session id, refreshes them when
they are about to expire and revokes the refresh token at logout (RFC 7009).

The table holds usable tokens, so it is as sensitive as a password vault: keep it out of
backups you would hand around, or encrypt the two token columns at rest.
"""

import asyncio
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx2
from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.responses import RedirectResponse
from fastapi.security import APIKeyCookie
from joserfc.errors import JoseError
from sqlalchemy import Column, Float, MetaData, String, Table, Text, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware.sessions import SessionMiddleware

from clouddocs.clock import Clock, SystemClock
from clouddocs.oauth_client import TokenError, refresh, revoke
from clouddocs.security import harden

SESSION_COOKIE = "__Host-cdsession"
STATE_COOKIE = "__Host-oauth-state"  # Authlib's state + verifier, signed, for one login
REFRESH_SKEW = 30.0  # refresh this many seconds before the access token expires
SESSION_LIFETIME = 12 * 3600.0  # absolute: sign in again after 12 hours, whatever happens

metadata = MetaData()
bff_sessions = Table(
    "bff_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # SHA-256 of the cookie value
    Column("subject", String(255), nullable=False),
    Column("access_token", Text, nullable=False),
    Column("refresh_token", Text),
    Column("expires_at", Float, nullable=False),  # of the access token
    Column("created_at", Float, nullable=False),  # of the session (absolute timeout)
)


@dataclass(frozen=True)
class BffSettings:
    """Where the provider and the API are, and this client's registration."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    api_base_url: str  # also the RFC 8707 resource the tokens are for
    state_secret: str  # signs the short-lived state cookie (at least 32 random bytes)
    engine: AsyncEngine
    scope: str = "openid docs:read"
    idp_transport: httpx2.AsyncBaseTransport | None = None  # in-process provider
    api_transport: httpx2.AsyncBaseTransport | None = None  # in-process API
    clock: Clock = field(default_factory=SystemClock)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def from_other_issuer(received: str | None, issuer: str, announced: bool) -> bool:
    """RFC 9207 §2.4: the redirect back names the provider that sent it (``iss``), and it
    must be the one this login went to; a provider that announces the parameter
    (``authorization_response_iss_parameter_supported``) must send it. Otherwise an
    attacker's provider could pass off another provider's code as its own (mix-up)."""
    return announced if received is None else received != issuer


def sign_in_again() -> HTTPException:
    """401 for a browser without a live session: it must go through /login."""
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated", headers={
        "WWW-Authenticate": f'Cookie realm="clouddocs", cookie-name="{SESSION_COOKIE}"'})


async def create_tables(engine: AsyncEngine) -> None:
    """Create the BFF's session table (idempotent)."""
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)


def create_bff_app(settings: BffSettings) -> FastAPI:
    """The CloudDocs web front end's server: /login, /auth/callback, /api/me, /logout."""
    if "openid" not in settings.scope.split():
        raise ValueError("the BFF needs the openid scope: it names the user by the ID token's sub")
    if len(settings.state_secret) < 32:
        raise ValueError("state_secret signs the login state: use at least 32 random characters")
    app = FastAPI(title="CloudDocs web (backend-for-frontend)")
    # Lax, not Strict: the provider's redirect back to /auth/callback is a cross-site
    # top-level navigation, and it must carry the state cookie.
    app.add_middleware(SessionMiddleware, secret_key=settings.state_secret,
                       session_cookie=STATE_COOKIE, max_age=600, same_site="lax",
                       https_only=True)
    oauth = OAuth()
    oauth.register(
        "idp", client_id=settings.client_id, client_secret=settings.client_secret,
        server_metadata_url=settings.issuer + "/.well-known/openid-configuration",
        code_challenge_method="S256",
        client_kwargs={"scope": settings.scope, "transport": settings.idp_transport},
    )
    cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, scheme_name="SessionCookie")

    async def tokens(session_id: Annotated[str | None, Depends(cookie)]) -> dict[str, Any]:
        """The signed-in browser's server-side row (one SELECT), or 401."""
        if session_id is None:
            raise sign_in_again()
        async with settings.engine.connect() as connection:
            row = (await connection.execute(select(bff_sessions).where(
                bff_sessions.c.id_hash == _digest(session_id),
                bff_sessions.c.created_at > settings.clock.time() - SESSION_LIFETIME,
            ))).mappings().first()
        if row is None:
            raise sign_in_again()
        return dict(row)

    @app.get("/login", status_code=302)
    async def login(request: Request) -> Response:
        response: Response = await oauth.idp.authorize_redirect(
            request, settings.redirect_uri, resource=settings.api_base_url)
        return response

    @app.get("/auth/callback", status_code=303, responses={400: {"description": "login failed"}})
    async def callback(request: Request) -> Response:
        metadata = await oauth.idp.load_server_metadata()
        announced = metadata.get("authorization_response_iss_parameter_supported") is True
        if from_other_issuer(request.query_params.get("iss"), settings.issuer, announced):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "login failed")
        try:  # Authlib checks state, exchanges the code with the verifier, checks the ID token
            token = await oauth.idp.authorize_access_token(request)
        except (OAuthError, JoseError):  # JOSE errors: the ID token's signature or claims
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "login failed") from None
        session_id = secrets.token_urlsafe(32)
        async with settings.engine.begin() as connection:
            await connection.execute(insert(bff_sessions).values(
                id_hash=_digest(session_id), subject=str(token["userinfo"]["sub"]),
                access_token=token["access_token"], refresh_token=token.get("refresh_token"),
                expires_at=settings.clock.time() + float(token.get("expires_in", 0)),
                created_at=settings.clock.time()))
        request.session.clear()
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, session_id, httponly=True, secure=True,
                            samesite="lax", path="/")
        return response

    _api_routes(app, settings, oauth, tokens)
    return harden(app)


def _api_routes(app: FastAPI, settings: BffSettings, oauth: OAuth, tokens: Any) -> None:
    """/api/me (the API called server side, tokens refreshed as needed) and /logout."""
    Row = Annotated[dict[str, Any], Depends(tokens)]
    # One refresh at a time: two tabs refreshing with the same refresh token would look
    # like token theft to the provider, which then revokes the whole grant. (Across
    # several worker processes, lock the row instead: SELECT ... FOR UPDATE on PostgreSQL.)
    refreshing = asyncio.Lock()

    async def forget(id_hash: str) -> None:
        async with settings.engine.begin() as connection:
            await connection.execute(delete(bff_sessions).where(bff_sessions.c.id_hash == id_hash))

    async def fresh_access_token(row: dict[str, Any]) -> str:
        if settings.clock.time() < row["expires_at"] - REFRESH_SKEW:
            return str(row["access_token"])
        async with refreshing:  # no database transaction is held across the HTTP call
            async with settings.engine.connect() as connection:
                current = (await connection.execute(select(bff_sessions).where(
                    bff_sessions.c.id_hash == row["id_hash"]))).mappings().first()
            if current is not None and settings.clock.time() < current["expires_at"] - REFRESH_SKEW:
                return str(current["access_token"])  # another request refreshed meanwhile
            if current is None or not current["refresh_token"]:
                raise sign_in_again()
            metadata = await oauth.idp.load_server_metadata()
            async with httpx2.AsyncClient(transport=settings.idp_transport) as http:
                try:
                    new = await refresh(http, metadata["token_endpoint"], current["refresh_token"],
                                        client_id=settings.client_id,
                                        client_secret=settings.client_secret)
                except TokenError:  # the grant is over (revoked, expired): sign in again
                    await forget(row["id_hash"])
                    raise sign_in_again() from None
            async with settings.engine.begin() as connection:
                await connection.execute(update(bff_sessions).where(
                    bff_sessions.c.id_hash == row["id_hash"]).values(
                    access_token=new["access_token"],
                    refresh_token=new.get("refresh_token", current["refresh_token"]),
                    expires_at=settings.clock.time() + float(new.get("expires_in", 0))))
            return str(new["access_token"])

    @app.get("/api/me", responses={502: {"description": "the API refused the stored token"}})
    async def api_me(row: Row) -> Any:
        access_token = await fresh_access_token(row)
        async with httpx2.AsyncClient(transport=settings.api_transport,
                                      base_url=settings.api_base_url) as api:
            answer = await api.get("/me", headers={"Authorization": f"Bearer {access_token}"})
        if answer.status_code == 401:  # revoked at the provider: this session is over
            await forget(row["id_hash"])
            raise sign_in_again()
        if answer.status_code != 200:
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, "the API refused the request")
        return answer.json()

    @app.post("/logout", status_code=204)
    async def logout(row: Row) -> Response:
        if row["refresh_token"]:
            metadata = await oauth.idp.load_server_metadata()
            async with httpx2.AsyncClient(transport=settings.idp_transport) as http:
                await revoke(http, metadata["revocation_endpoint"], row["refresh_token"],
                             token_type_hint="refresh_token", client_id=settings.client_id,
                             client_secret=settings.client_secret)
        await forget(row["id_hash"])
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True)
        return response
