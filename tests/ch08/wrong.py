"""Known-wrong implementations of the chapter 8 exercises, one mistake each.

The mistakes seen in real code: a decision table that only knows its own rows, stacks with
no reasons, a migration dependency that falls back to the cookie past a bad token or skips
revocation, a service identity read from a header anyone can write, and a "fixed" app that
still opens CORS, reads tokens from URLs or skips ``harden()``.
"""

import dataclasses
import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.middleware.cors import CORSMiddleware
from fastapi.security import HTTPAuthorizationCredentials

from authcourse.checks.ch08_support import LAB_TOKEN, ROWS
from clouddocs.decisions import Method, Model, Requirements, Stack, recommend
from clouddocs.jwt_tokens import InvalidToken
from clouddocs.migrations import Caller
from clouddocs.mtls import MTLS_CHALLENGE, ClientCertificate
from clouddocs.security import harden, unauthorized
from clouddocs.token_app import bearer_scheme
from clouddocs.token_revocation import is_revoked

# --------------------------------------------------------------------------- 08.1

MACHINE_PARTS = {Method.API_KEYS, Method.OAUTH, Method.MTLS, Model.SCOPES}


def recommend_people_only(req: Requirements) -> Stack:
    """Forgets partners, third parties and services."""
    stack = recommend(req)
    return Stack(tuple(m for m in stack.authentication if m not in MACHINE_PARTS),
                 tuple(m for m in stack.authorization if m not in MACHINE_PARTS), stack.notes, stack.reasons)


def recommend_ignoring_identity_source(req: Requirements) -> Stack:
    """Every person is one of our own accounts: no SSO, ever."""
    return recommend(dataclasses.replace(req, identity_source=Requirements().identity_source,
                                         password_fallback=False))


def recommend_by_table_lookup(req: Requirements) -> Stack:
    """Knows the eight rows and nothing else."""
    for row in ROWS.values():
        if row == req:
            return recommend(row)
    return Stack((Method.PASSWORD, Method.SESSION), (Model.IS_ADMIN,), (), ("default",))


def recommend_always_denylist(req: Requirements) -> Stack:
    stack = recommend(req)
    return dataclasses.replace(stack, notes=(*stack.notes, "use a denylist"))


def recommend_without_reasons(req: Requirements) -> Stack:
    return dataclasses.replace(recommend(req), reasons=())


def recommend_never_refusing(req: Requirements) -> Stack:
    try:
        return recommend(req)
    except ValueError:
        return Stack((), ())


# --------------------------------------------------------------------------- 08.2

Dependency = Callable[..., Awaitable[Any]]


def _dual(name: str, fallback_on_bad_token: bool = False, check_revocation: bool = True,
          both_challenges: bool = True) -> Callable[..., Dependency]:
    def session_or_jwt(sessions: Any, tokens: Any, db: Any) -> Dependency:
        async def caller(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
        ) -> Caller:
            if credentials is not None:
                try:
                    claims = tokens.verify(credentials.credentials)
                except InvalidToken:
                    if not fallback_on_bad_token:
                        raise unauthorized("invalid_token") from None
                    claims = None
                if claims is not None:
                    if check_revocation and await is_revoked(db.engine, claims):
                        raise unauthorized("invalid_token")
                    return Caller(str(claims["sub"]), "jwt")
            session_id = request.cookies.get(sessions.cookie_name)
            current = await sessions.resolve(session_id) if session_id else None
            if current is not None:
                return Caller(str(current.user_id), "session")
            if both_challenges:
                raise HTTPException(401, headers={"WWW-Authenticate": 'Bearer realm="x", Cookie realm="x"'})
            raise unauthorized()

        return caller

    session_or_jwt.__name__ = session_or_jwt.__qualname__ = name  # the contract names it
    return session_or_jwt


dual_falling_back_to_cookie = _dual("dual_falling_back_to_cookie", fallback_on_bad_token=True)
dual_skipping_revocation = _dual("dual_skipping_revocation", check_revocation=False)
dual_with_bearer_challenge_only = _dual("dual_with_bearer_challenge_only", both_challenges=False)


# --------------------------------------------------------------------------- 08.3


def _identity(name: str, header_from_anyone: bool = False, header_first: bool = False, catch_garbage: bool = True,
              challenge: bool = True) -> Callable[[frozenset[str]], Callable[[Request], Awaitable[str]]]:
    def service_identity(trusted_proxies: frozenset[str]) -> Callable[[Request], Awaitable[str]]:
        async def service(request: Request) -> str:
            chain = ((request.scope.get("extensions") or {}).get("tls") or {}).get("client_cert_chain") or []
            from_connection = chain[0] if chain else None
            trusted = header_from_anyone or (request.client is not None and request.client.host in trusted_proxies)
            header = request.headers.get("x-client-cert") if trusted else None
            from_header = unquote(header) if header else None
            pem = (from_header or from_connection) if header_first else (from_connection or from_header)
            if pem is not None:
                if not catch_garbage:
                    return ClientCertificate.from_pem(pem).common_name
                try:
                    return ClientCertificate.from_pem(pem).common_name
                except ValueError:
                    pass
            raise HTTPException(401, headers={"WWW-Authenticate": MTLS_CHALLENGE} if challenge else None)

        return service

    service_identity.__name__ = service_identity.__qualname__ = name  # the contract names it
    return service_identity


identity_trusting_any_header = _identity("identity_trusting_any_header", header_from_anyone=True)
identity_preferring_the_header = _identity("identity_preferring_the_header", header_first=True)
identity_crashing_on_garbage = _identity("identity_crashing_on_garbage", catch_garbage=False)
identity_401_without_challenge = _identity("identity_401_without_challenge", challenge=False)


# --------------------------------------------------------------------------- 08.4


def _app(*, cors_origins: list[str], query_token: bool, hardened: bool) -> FastAPI:
    app = FastAPI()
    app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["*"], allow_headers=["*"])

    async def bearer(request: Request) -> str:
        presented = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not presented and query_token:
            presented = request.query_params.get("access_token", "")
        if not hmac.compare_digest(presented.encode(), LAB_TOKEN.encode()):
            raise HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
        return "ada"

    @app.get("/me")
    async def me(user: Annotated[str, Depends(bearer)]) -> dict[str, str]:
        return {"user": user}

    @app.post("/notes")
    async def notes(request: Request, user: Annotated[str, Depends(bearer)]) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return harden(app) if hardened else app


def fixed_without_harden() -> FastAPI:
    return _app(cors_origins=["https://app.clouddocs.test"], query_token=False, hardened=False)


def fixed_with_cors_wildcard() -> FastAPI:
    return _app(cors_origins=["*"], query_token=False, hardened=True)


def fixed_still_reading_the_url() -> FastAPI:
    return _app(cors_origins=["https://app.clouddocs.test"], query_token=True, hardened=True)
