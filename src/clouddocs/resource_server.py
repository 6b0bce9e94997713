# Generated from notebooks/05_oauth2.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""CloudDocs as an OAuth 2.0 resource server: which token, whose, with which scopes.

Two ways to accept the authorization server's access tokens, behind one interface
(``verify(token) -> Principal | None``, what ``clouddocs.security.bearer_auth`` takes):

- ``JwtAccessTokens`` checks an RFC 9068 JWT offline with the provider's public keys:
  ``typ`` ``at+jwt``, RS256 only, ``iss``, ``aud`` = this API's resource identifier, ``exp``;
- ``IntrospectedTokens`` asks the provider (RFC 7662) about every token: one HTTP round
  trip per request, but a revoked token stops working at once.

``scope_guard`` turns either into a FastAPI dependency that honours
``Security(..., scopes=[...])`` and answers 403 ``insufficient_scope`` (RFC 6750 §3.1).
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote

import httpx2
import jwt
from fastapi import Depends, FastAPI, HTTPException, Security, status
from fastapi.security import SecurityScopes
from pydantic import BaseModel, Field

from clouddocs.clock import Clock, SystemClock
from clouddocs.security import DEFAULT_REALM, Principal, bearer_auth, bearer_challenge, harden

ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})  # RFC 9068 §2.1
ALGORITHMS = ["RS256"]  # what the provider signs with; never taken from the token
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub", "client_id", "jti"]  # RFC 9068 §2.2


async def fetch_jwks(http: httpx2.AsyncClient, jwks_uri: str) -> jwt.PyJWKSet:
    """The provider's public keys, fetched with the async client (PyJWKClient uses urllib)."""
    response = await http.get(jwks_uri)
    response.raise_for_status()
    return jwt.PyJWKSet.from_dict(response.json())


def _scopes(value: Any) -> frozenset[str]:
    return frozenset(value.split()) if isinstance(value, str) else frozenset()


class JwtAccessTokens:
    """Validates RFC 9068 JWT access tokens offline; ``audience`` is this API's identifier.

    ``jwks`` is the key set fetched at start-up: after the provider rotates its keys, tokens
    with the new ``kid`` are refused until it is fetched again (chapter 6 caches the JWKS
    and refetches it when an unknown ``kid`` shows up).
    """

    def __init__(
        self, *, issuer: str, audience: str, jwks: jwt.PyJWKSet, clock: Clock | None = None
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self._clock: Clock = clock if clock is not None else SystemClock()

    async def verify(self, token: str) -> Principal | None:
        """The caller, or None for anything but a valid access token for this API.

        ``async def`` although it never awaits: pure CPU work, so FastAPI runs it on the
        event loop instead of hopping to the thread pool.
        """
        try:
            header = jwt.get_unverified_header(token)
            # An ID token is signed by the same keys: typ tells the two apart.
            if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
                return None
            key = self.jwks[str(header.get("kid", ""))]
            claims = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                issuer=self.issuer,
                audience=self.audience,  # a token for another API is not for us
                # Expiry is checked against the injected clock below, not the wall clock.
                options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False,
                         "verify_nbf": False},
            )
        except (jwt.PyJWTError, KeyError):
            return None
        now = self._clock.time()
        if not isinstance(claims["exp"], int | float) or now >= claims["exp"]:
            return None
        if isinstance(claims.get("nbf"), int | float) and now < claims["nbf"]:
            return None  # not valid yet
        return Principal(subject=str(claims["sub"]), scopes=_scopes(claims.get("scope")))


class IntrospectedTokens:
    """Asks the provider about each token (RFC 7662), as a registered resource server."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        introspection_endpoint: str,
        *,
        issuer: str,
        audience: str,
        client_id: str,
        client_secret: str,
        clock: Clock | None = None,
    ) -> None:
        self._http = http
        self._endpoint = introspection_endpoint
        self.issuer = issuer
        self.audience = audience
        # HTTP Basic, id and secret form-urlencoded first (RFC 6749 §2.3.1, RFC 7662 §2.1).
        self._auth = (quote(client_id, safe=""), quote(client_secret, safe=""))
        self._clock: Clock = clock if clock is not None else SystemClock()

    async def verify(self, token: str) -> Principal | None:
        """The caller, or None when the provider says the token is not active for us."""
        response = await self._http.post(
            self._endpoint, data={"token": token, "token_type_hint": "access_token"},
            auth=self._auth,
        )
        if response.status_code != 200:
            # Our own credentials were refused: a configuration error, not the caller's.
            raise RuntimeError(f"introspection failed with {response.status_code}")
        answer = response.json()
        audiences = answer.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences or []
        if (
            answer.get("active") is not True
            or answer.get("iss") != self.issuer
            or self.audience not in audiences
            or not isinstance(answer.get("exp"), int | float)
            or self._clock.time() >= answer["exp"]
        ):
            return None
        return Principal(subject=str(answer["sub"]), scopes=_scopes(answer.get("scope")))


Verifier = Callable[[str], Awaitable[Principal | None]]


def insufficient_scope(required: list[str], realm: str = DEFAULT_REALM) -> HTTPException:
    """403 with the RFC 6750 §3.1 challenge naming the scopes the route needs."""
    challenge = bearer_challenge(
        "insufficient_scope", "The token lacks a scope this request needs.",
        scope=" ".join(required), realm=realm,
    )
    return HTTPException(status.HTTP_403_FORBIDDEN, "insufficient scope",
                         headers={"WWW-Authenticate": challenge})


def scope_guard(verify: Verifier, realm: str = DEFAULT_REALM) -> Callable[..., Awaitable[Principal]]:
    """A dependency for ``Security(guard, scopes=[...])``: 401 without a valid token,
    403 when the token lacks one of the scopes (matched whole, never as substrings)."""
    authenticate = bearer_auth(verify, realm=realm)

    async def guard(
        security_scopes: SecurityScopes,
        principal: Annotated[Principal, Depends(authenticate)],
    ) -> Principal:
        missing = [scope for scope in security_scopes.scopes if scope not in principal.scopes]
        if missing:
            raise insufficient_scope(security_scopes.scopes, realm)
        return principal

    return guard


FORBIDDEN_RESPONSE: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "The token is valid but lacks the scope this operation needs.",
        "headers": {"WWW-Authenticate": {
            "description": 'Bearer error="insufficient_scope" and the scope needed',
            "schema": {"type": "string"}}},
    }
}


class NewDocument(BaseModel):
    title: str = Field(min_length=1, max_length=200)


def create_docs_api(verify: Verifier) -> FastAPI:
    """The CloudDocs API as a resource server: ``docs:read`` to look, ``docs:write`` to write.

    It shows the gate, not the storage (chapters 2 and 7 own the documents table).
    """
    app = FastAPI(title="CloudDocs API (resource server)")
    guard = scope_guard(verify)
    Reader = Annotated[Principal, Security(guard, scopes=["docs:read"])]
    Writer = Annotated[Principal, Security(guard, scopes=["docs:write"])]

    @app.get("/me", responses=FORBIDDEN_RESPONSE)
    async def me(caller: Reader) -> dict[str, Any]:
        return {"sub": caller.subject, "scopes": sorted(caller.scopes)}

    @app.post("/documents", status_code=201, responses=FORBIDDEN_RESPONSE)
    async def create_document(caller: Writer, document: NewDocument) -> dict[str, str]:
        return {"title": document.title, "owner": caller.subject}

    return harden(app)
