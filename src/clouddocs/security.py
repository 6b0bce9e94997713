# Generated from notebooks/01_mental_model.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""CloudDocs' security building blocks from chapter 1, reused by every later chapter.

- ``bearer_challenge`` / ``unauthorized``: the exact 401 of RFC 6750 §3, with
  ``WWW-Authenticate`` (RFC 9110 §11.6.1 requires it on every 401).
- ``bearer_auth``: a dependency factory that turns any token verifier into a
  ``Depends``-able "who is calling?" check.
- ``not_permitted`` / ``not_found``: 403, or 404 when policy hides that a resource exists.
- ``harden``: one call per app factory: ``SecurityHeadersMiddleware`` (HSTS over HTTPS only,
  nosniff, no framing, no referrer, ``no-store`` on credentialed responses),
  ``BodyLimitMiddleware`` (413 past 1 MiB) and ``hide_rejected_input`` (422s that never
  echo the value sent). ``add_cors``: explicit HTTPS origins only.
- ``route_inventory`` / ``unprotected_routes``: every route that no auth dependency guards.
"""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

#: The protection space named in every challenge (RFC 9110 §11.5).
DEFAULT_REALM = "clouddocs"

#: The characters a bearer token may contain (``b64token``, RFC 6750 §2.1).
BEARER_TOKEN_SYNTAX = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

#: Far above any token CloudDocs issues (API keys: 37 characters; JWTs: a few hundred).
#: A longer value is refused before the verifier hashes, parses or looks it up.
MAX_TOKEN_LENGTH = 4096

Principal_T = TypeVar("Principal_T")

#: Anything that maps a presented token to who it belongs to, or None when it is not valid.
TokenVerifier = Callable[[str], Awaitable[Principal_T | None]]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a stable subject id and the scopes their credential grants."""

    subject: str
    scopes: frozenset[str] = field(default_factory=frozenset)


def _quoted(value: str) -> str:
    # auth-param values are quoted-strings (RFC 9110 §5.6.4): escape backslash and quote.
    # A control character (CR, LF, ...) could end the header and start another one, so
    # it is refused outright rather than sent.
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError(f"control character in a WWW-Authenticate parameter: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bearer_challenge(
    error: str | None = None,
    description: str | None = None,
    *,
    scope: str | None = None,
    realm: str = DEFAULT_REALM,
) -> str:
    """The ``WWW-Authenticate`` value for a Bearer challenge (RFC 6750 §3).

    No ``error`` when the request carried no credentials (§3.1 says not to add one);
    ``error="invalid_token"`` when a token was sent but is not valid;
    ``error="insufficient_scope"`` (with 403) when it is valid but lacks ``scope``.
    """
    params = [f"realm={_quoted(realm)}"]
    if error is not None:
        params.append(f"error={_quoted(error)}")
    if description is not None:
        params.append(f"error_description={_quoted(description)}")
    if scope is not None:
        params.append(f"scope={_quoted(scope)}")
    return "Bearer " + ", ".join(params)


def unauthorized(
    error: str | None = None, description: str | None = None, *, realm: str = DEFAULT_REALM
) -> HTTPException:
    """A 401 that tells the client how to authenticate (never a bare 401)."""
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Not authenticated",
        headers={
            "WWW-Authenticate": bearer_challenge(error, description, realm=realm),
            "Cache-Control": "no-store",
        },
    )


def bearer_auth(
    verify: TokenVerifier[Principal_T],
    *,
    realm: str = DEFAULT_REALM,
    scheme_name: str = "BearerToken",
    max_token_length: int = MAX_TOKEN_LENGTH,
) -> Callable[[HTTPAuthorizationCredentials | None], Awaitable[Principal_T]]:
    """A FastAPI dependency that returns the caller, or answers 401.

    ``verify`` receives the token and returns the principal, or None when the token is
    unknown, expired or forged. Chapters 3 to 6 plug JWT, API-key and OAuth verifiers in
    here; the 401s stay the same:

    - no ``Authorization: Bearer …`` header → 401, challenge without an error code;
    - a token that ``verify`` rejects → 401 with ``error="invalid_token"``;
    - a token longer than ``max_token_length`` or with characters no bearer token has
      → the same 401, and ``verify`` is never called with it.
    """
    # auto_error=False: we answer missing credentials ourselves, with the realm.
    scheme = HTTPBearer(auto_error=False, scheme_name=scheme_name)

    async def authenticate(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(scheme)],
    ) -> Principal_T:
        if credentials is None:
            raise unauthorized(realm=realm)
        token = credentials.credentials
        # Malformed tokens stop here: the verifier never sees megabytes of input or
        # characters that could end up in a log line or a query.
        well_formed = len(token) <= max_token_length and BEARER_TOKEN_SYNTAX.fullmatch(token)
        principal = await verify(token) if well_formed else None
        if principal is None:
            # One message for every reason, so a caller cannot probe why a token failed.
            raise unauthorized("invalid_token", "The access token is not valid.", realm=realm)
        return principal

    return authenticate


NOT_FOUND_DETAIL = "Not Found"


def not_found() -> HTTPException:
    """The 404 for a resource that does not exist; same body as FastAPI's own 404."""
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=NOT_FOUND_DETAIL)


def not_permitted(*, hide_existence: bool) -> HTTPException:
    """The answer when an authenticated caller may not touch an existing resource.

    ``hide_existence=False``: 403, honest and easier to debug (RFC 9110 §15.5.4).
    ``hide_existence=True``: a 404 indistinguishable from ``not_found()``, so ids cannot be
    probed to learn what exists (RFC 9110 §15.5.4 allows exactly this).
    """
    if hide_existence:
        return not_found()
    return HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Forbidden")


from collections.abc import Collection, Sequence

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Two years: what hstspreload.org recommends (it requires at least one). The
#: ``max-age`` directive itself is RFC 6797 §6.1.1.
HSTS_MAX_AGE_SECONDS = 63_072_000

#: Request headers that carry a credential. Shared caches refuse to store a response to
#: a request with ``Authorization`` (RFC 9111 §3.5) but know nothing of ``Cookie`` or of
#: custom API-key headers: for those, only ``no-store`` keeps the response private.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})

#: On every response: never sniffed, never framed (RFC 7034 and CSP ``frame-ancestors``),
#: no referrer. A value the app sets itself (its own CSP, say) is kept.
BASELINE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeadersMiddleware:
    """Adds the transport-layer headers every CloudDocs response needs.

    - ``Strict-Transport-Security`` on responses to HTTPS requests only: RFC 6797 §7.2
      forbids it over plain HTTP, where anyone on the path could strip or forge it.
    - ``BASELINE_HEADERS`` on every response.
    - ``Cache-Control: no-store`` on anything touching credentials: requests that carry
      one of ``credential_headers`` (pass your own if your API-key header has another
      name), responses that set a cookie, and 401/403 answers. Anonymous requests get no
      ``Cache-Control`` from here, so public responses stay cacheable.

    A plain ASGI middleware (not ``BaseHTTPMiddleware``): no extra task per request, and
    it never buffers a streamed body.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        hsts_max_age: int = HSTS_MAX_AGE_SECONDS,
        include_subdomains: bool = True,
        credential_headers: Collection[str] = CREDENTIAL_HEADERS,
    ) -> None:
        self.app = app
        # ASGI header names are lower-case bytes.
        self.credential_headers = {name.lower().encode("latin-1") for name in credential_headers}
        subdomains = "; includeSubDomains" if include_subdomains else ""
        self.hsts = f"max-age={hsts_max_age}{subdomains}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The scheme the server saw (ASGI's default is "http"). Behind a TLS-terminating
        # proxy it is "https" only if the server trusts the proxy's X-Forwarded-Proto.
        over_https = scope.get("scheme") == "https"
        carries_credentials = any(name in self.credential_headers for name, _ in scope["headers"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if over_https:
                    headers["Strict-Transport-Security"] = self.hsts
                for name, value in BASELINE_HEADERS.items():
                    headers.setdefault(name, value)
                answers_credentials = "set-cookie" in headers or message["status"] in (401, 403)
                if carries_credentials or answers_credentials:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_cors(app: FastAPI, allowed_origins: Sequence[str]) -> None:
    """Allow cross-origin calls from an explicit list of HTTPS origins, never ``*``.

    A wildcard (or a reflected ``Origin``) lets any website read responses meant for the
    user; with credentials that is account takeover by visiting a page.
    """
    for origin in allowed_origins:
        if origin in ("*", "null") or not origin.startswith("https://") or origin.endswith("/"):
            raise ValueError(f"CORS origins must be exact https://host[:port], got {origin!r}")
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(allowed_origins),
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type"],
    )


from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


async def validation_error_without_input(request: Request, error: Exception) -> JSONResponse:
    """A 422 naming each rejected field and the rule it broke, never the value sent."""
    problems = error.errors() if isinstance(error, RequestValidationError) else []
    detail = [
        {"type": problem["type"], "loc": list(problem["loc"]), "msg": problem["msg"]}
        for problem in problems
    ]
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def hide_rejected_input(app: FastAPI) -> None:
    """Make ``validation_error_without_input`` the app's answer to invalid requests."""
    app.add_exception_handler(RequestValidationError, validation_error_without_input)


import json

#: The largest request body a CloudDocs app reads (nginx's default client_max_body_size).
MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(Exception):
    """Raised into the app when the body it is reading passes the limit."""


def _declared_length(scope: Scope) -> int:
    # A malformed Content-Length never reaches an app through a real server (it answers
    # 400 itself); here it counts as 0 and the streamed count still applies.
    lengths = [value for name, value in scope["headers"] if name == b"content-length"]
    return max((int(value) for value in lengths if value.isdigit()), default=0)


async def send_too_large(send: Send, max_body_bytes: int) -> None:
    """The 413 (RFC 9110 §15.5.14): a small JSON body that names the limit."""
    body = json.dumps({"detail": f"Request body larger than {max_body_bytes} bytes"})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


class BodyLimitMiddleware:
    """Answers ``413`` to a request body over ``max_body_bytes``, without reading the rest.

    A declared ``Content-Length`` over the limit is refused before the app runs. A body
    sent without one (chunked), or longer than it claimed, is counted as the app reads
    it: the read that crosses the limit raises ``BodyTooLarge`` inside the app, and the
    client gets the 413 instead of whatever the app made of the interrupted read.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        if max_body_bytes < 0:
            raise ValueError("max_body_bytes must not be negative")
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_body_bytes:
            await send_too_large(send, self.max_body_bytes)  # the body is never read
            return
        received = 0
        too_large = response_started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            if too_large:  # the app read on after the refusal: give it nothing more
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if too_large and not response_started:
                return  # the app's answer to the broken read (often a 400) is dropped
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_large or response_started:
                raise
        if too_large and not response_started:
            await send_too_large(send, self.max_body_bytes)


def harden(
    app: FastAPI,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    credential_headers: Collection[str] = CREDENTIAL_HEADERS,
    hsts_max_age: int = HSTS_MAX_AGE_SECONDS,
) -> FastAPI:
    """Install CloudDocs' baseline protections on ``app`` and return it.

    - ``SecurityHeadersMiddleware``: HSTS over HTTPS only, ``BASELINE_HEADERS``, and
      ``no-store`` on every response to a credentialed request or that sets a cookie;
    - ``BodyLimitMiddleware``: ``413`` past ``max_body_bytes``, declared or streamed;
    - ``hide_rejected_input``: a ``422`` names the field, never echoes the value;
    - in OpenAPI, the ``413`` on every operation that takes a body and the ``401`` (with
      its ``WWW-Authenticate`` header) on every operation that declares a security scheme.

    Call it in the app factory, before the app serves a request (Starlette refuses new
    middleware after that). A second call with the same settings changes nothing.
    """
    settings = (max_body_bytes, frozenset(h.lower() for h in credential_headers), hsts_max_age)
    installed = getattr(app.state, "clouddocs_hardening", None)
    if installed is not None:
        if installed != settings:
            raise ValueError("harden() already ran on this app with other settings")
        return app
    app.state.clouddocs_hardening = settings
    # The last middleware added runs outermost: the headers go on every response, 413s too.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=max_body_bytes)
    app.add_middleware(
        SecurityHeadersMiddleware,
        hsts_max_age=hsts_max_age,
        credential_headers=credential_headers,
    )
    hide_rejected_input(app)
    declare_baseline_responses(app, max_body_bytes)
    return app


from typing import Any


def _json_detail(description: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"detail": {"type": "string"}},
                    "required": ["detail"],
                }
            }
        },
    }
    if headers:
        response["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return response


def declare_baseline_responses(app: FastAPI, max_body_bytes: int) -> None:
    """Declare, once the schema is built, the 413 and 401 that ``harden`` makes possible.

    A response an operation already declares is kept as it is.
    """
    build_schema = app.openapi
    too_large = _json_detail(f"Request body larger than {max_body_bytes} bytes")
    not_authenticated = _json_detail(
        "Missing or invalid credentials",
        {"WWW-Authenticate": "How to authenticate (RFC 6750 §3), e.g. Bearer realm=..."},
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:  # built once, then cached by FastAPI
            for operations in build_schema().get("paths", {}).values():
                for operation in operations.values():
                    if not isinstance(operation, dict):
                        continue
                    responses = operation.setdefault("responses", {})
                    if "requestBody" in operation:
                        responses.setdefault("413", too_large)
                    if operation.get("security"):
                        responses.setdefault("401", not_authenticated)
        return build_schema()

    app.openapi = openapi  # type: ignore[method-assign]


from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import fastapi.routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.security.base import SecurityBase
from starlette.routing import BaseRoute, Host, Mount

#: The routes FastAPI adds for its interactive docs. Allow-list them on purpose, or turn
#: them off in production with ``FastAPI(docs_url=None, redoc_url=None, openapi_url=None)``.
FASTAPI_DOCS_ROUTES = frozenset(
    {"GET /openapi.json", "GET /docs", "GET /docs/oauth2-redirect", "GET /redoc"}
)


@dataclass(frozen=True)
class RouteReport:
    """One endpoint and the authentication schemes that guard it (empty: none)."""

    method: str
    path: str
    auth_schemes: tuple[str, ...]

    @property
    def key(self) -> str:
        """``"GET /documents/{document_id}"``, the form allow-lists use."""
        return f"{self.method} {self.path}"

    @property
    def protected(self) -> bool:
        return bool(self.auth_schemes)


def route_inventory(app: FastAPI) -> list[RouteReport]:
    """Every (method, path) of an app with the security schemes found in its dependencies.

    The whole dependency tree is walked, so a scheme used by a dependency of a dependency
    counts, and so do router- and app-level ``dependencies=[...]``. Mounted sub-apps are
    walked too; a mount that is not a FastAPI/Starlette app (static files, a WSGI app)
    cannot be inspected and is reported as ``* /prefix/{path}`` with no scheme. Routes
    of a ``Host(...)`` are keyed ``//host/path``. Static frontends served with
    ``app.frontend(...)`` are not listed: FastAPI keeps them outside ``app.routes``.

    It sees which schemes are *declared*, not whether a request is refused: a scheme
    with ``auto_error=False`` whose ``None`` the code lets through still counts as
    protected. Pair it with requests sent without credentials (chapter 8's audit).
    """
    found = list(_walk(app.routes, prefix=""))
    return sorted(found, key=lambda report: (report.path, report.method))


def unprotected_routes(app: FastAPI, public: Collection[str] = FASTAPI_DOCS_ROUTES) -> list[str]:
    """``"METHOD /path"`` of every route with no auth dependency and not allow-listed.

    ``public`` lists the routes that are meant to be open, one ``"METHOD /path"`` each.
    An empty answer is what a secure-by-default app looks like.
    """
    return [
        report.key
        for report in route_inventory(app)
        if not report.protected and report.key not in public
    ]


def _walk(routes: Sequence[BaseRoute], prefix: str) -> Iterator[RouteReport]:
    for route in _effective_routes(routes):
        original = getattr(route, "original_route", route)
        path = prefix + str(getattr(route, "path", None) or "")
        if isinstance(original, APIRoute | APIWebSocketRoute):
            schemes = tuple(sorted(set(_security_schemes(route.dependant))))
            for method in sorted(getattr(route, "methods", None) or {"WEBSOCKET"}):
                yield RouteReport(method, path, schemes)
        elif isinstance(original, Host):
            yield from _walk(original.routes, f"//{original.host}{prefix}")
        elif isinstance(original, Mount):
            inner = getattr(route.app, "routes", None)
            if inner is None:
                yield RouteReport("*", path + "/{path}", ())
            else:
                yield from _walk(inner, path)
        else:
            # Plain Starlette routes (FastAPI's docs, app.add_route) have no dependencies.
            for method in sorted(getattr(route, "methods", None) or {"*"}):
                if method != "HEAD":
                    yield RouteReport(method, path, ())


def _effective_routes(routes: Sequence[BaseRoute]) -> list[Any]:
    # Recent FastAPI keeps an included router as a single entry of app.routes;
    # iter_route_contexts expands it into its routes with the router's prefix and
    # dependencies applied, exactly as the OpenAPI generator sees them. Older FastAPI
    # copies routes into app.routes already, so they are used as they are.
    expand = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(expand(routes)) if expand is not None else list(routes)


def _security_schemes(dependant: Dependant) -> Iterator[str]:
    call: object = dependant.call  # a SecurityBase instance is the dependency itself
    if isinstance(call, SecurityBase):
        yield call.scheme_name
    for sub_dependant in dependant.dependencies:
        yield from _security_schemes(sub_dependant)
