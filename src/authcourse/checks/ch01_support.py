"""What chapter 1's checks build their cases from: demo data, the apps the learner's code
is plugged into, and the plain-words guards around calling it.

Kept out of ``ch01.py`` so the cases there read as a list of behaviours. Nothing here is
an answer to an exercise: the lab never imports this module.
"""

# Endpoints built inside functions declare their dependencies as defaults (`= Depends(x)`),
# not in `Annotated[...]`: the grader may compile this module with postponed (string)
# annotations, and a string cannot name a local variable.

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import httpx2
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPBearer, OAuth2PasswordBearer, SecurityScopes
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authcourse.checks import CheckFailed
from authcourse.checks.core import Namespace
from authcourse.client import asgi_client
from clouddocs.db import Database, Document, Tenant, User
from clouddocs.security import Principal

# --------------------------------------------------------------------------------------
# Calling the learner's functions: `async def` where a plain function is expected (and
# the reverse) is answered in plain words, and no coroutine is left unawaited.
# --------------------------------------------------------------------------------------


def call_plain(ns: Namespace, name: str, *args: Any) -> Any:
    """Call the learner's ``name``, which must be a plain function (no ``async``)."""
    function = ns[name]
    if inspect.iscoroutinefunction(function):
        raise _must_be_plain(name)
    result = function(*args)
    if inspect.iscoroutine(result):
        result.close()  # never awaited on purpose: close it, so Python does not warn
        raise _must_be_plain(name)
    return result


def _must_be_plain(name: str) -> CheckFailed:
    return CheckFailed(
        f"calling your `{name}`",
        f"`def {name}(...)`: this must be a plain function (no `async`), because it is called"
        " while the app is put together and nothing awaits it",
        f"`async def {name}`",
    )


def require_coroutine_function(ns: Namespace, name: str, why: str) -> Callable[..., Any]:
    """The learner's ``name``, which must be an ``async def``; ``why`` says what awaits it."""
    function = ns[name]
    if not inspect.iscoroutinefunction(function):
        raise CheckFailed(
            f"looking at your `{name}`",
            f"`async def {name}(...)`: {why}",
            "a plain `def`",
        )
    return function  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------
# Demo data: a seeded CloudDocs database that belongs to the check, not to the learner.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoData:
    """Who and what the demo database holds (ids are stable: rows are inserted in order)."""

    alice: User  # Acme, owns documents 1 and 2
    alice_lookalike: User  # Acme, a different person whose email differs only in case
    bob: User  # Acme, owns document 3
    mallory: User  # Globex, owns document 4
    alice_document_id: int
    mallory_document_id: int


#: How messages name the check's demo users, so nobody looks for them in their notebook.
DEMO_PEOPLE = {
    "alice": "Alice (alice@acme.test, Acme, owner of document 1)",
    "alice_lookalike": "Alice@acme.test (another Acme user, not the owner of document 1)",
    "bob": "Bob (Acme, not the owner of document 1)",
    "mallory": "Mallory (Globex, another tenant)",
}
DEMO_DATA_NOTE = "in the check's own demo database (not your notebook's)"


async def demo_database() -> tuple[Database, DemoData]:
    """A fresh in-memory CloudDocs database with two tenants, four users, four documents."""
    db = Database()
    await db.create_all()
    async with db.sessions() as session:
        acme, globex = Tenant(name="Acme"), Tenant(name="Globex")
        session.add_all([acme, globex])
        await session.flush()
        users = [
            User(tenant_id=acme.id, email="alice@acme.test", display_name="Alice"),
            User(tenant_id=acme.id, email="Alice@acme.test", display_name="Alice Other"),
            User(tenant_id=acme.id, email="bob@acme.test", display_name="Bob"),
            User(tenant_id=globex.id, email="mallory@globex.test", display_name="Mallory"),
        ]
        session.add_all(users)
        await session.flush()
        alice, lookalike, bob, mallory = users
        documents = [
            Document(tenant_id=acme.id, owner_id=alice.id, title="Acquisition plan"),
            Document(tenant_id=acme.id, owner_id=alice.id, title="Board deck"),
            Document(tenant_id=acme.id, owner_id=bob.id, title="Offsite agenda"),
            Document(tenant_id=globex.id, owner_id=mallory.id, title="Globex price list"),
        ]
        session.add_all(documents)
        await session.commit()
        data = DemoData(alice, lookalike, bob, mallory, documents[0].id, documents[3].id)
    return db, data


def token_verifier(
    tokens: dict[str, Principal],
) -> Callable[[str], Awaitable[Principal | None]]:
    """A verifier over fixed tokens (test scaffolding; real verifiers come in ch. 3-4)."""

    async def verify(token: str) -> Principal | None:
        return tokens.get(token)

    return verify


def naive_clouddocs_app(db: Database) -> FastAPI:
    """The vulnerable CloudDocs v0 of chapter 1: it believes the ``X-User`` header."""

    async def user_from_header(
        x_user: str = Header(),
        session: AsyncSession = Depends(db.session),  # noqa: B008 (see the note at the top)
    ) -> User:
        user = await session.scalar(select(User).where(User.email == x_user))
        if user is None:
            raise HTTPException(status_code=401, detail="Unknown user")
        return user

    app = FastAPI(title="CloudDocs v0 (naive)")

    @app.get("/documents")
    async def list_my_documents(
        user: User = Depends(user_from_header),  # noqa: B008 (see the note at the top)
        session: AsyncSession = Depends(db.session),  # noqa: B008 (see the note at the top)
    ) -> list[dict[str, object]]:
        rows = await session.scalars(
            select(Document).where(Document.owner_id == user.id).order_by(Document.id)
        )
        return [{"id": document.id, "title": document.title} for document in rows]

    return app


# --------------------------------------------------------------------------------------
# Reading responses
# --------------------------------------------------------------------------------------

ERROR_PARAM = re.compile(r'error="([^"]*)"')
SCOPE_PARAM = re.compile(r'scope="([^"]*)"')


def challenge(response: httpx2.Response) -> str:
    return response.headers.get("WWW-Authenticate", "")


def status_line(response: httpx2.Response) -> str:
    shown = challenge(response)
    return f"{response.status_code}" + (
        f" with WWW-Authenticate: {shown}" if shown else " with no WWW-Authenticate"
    )


# --------------------------------------------------------------------------------------
# 01.3 and 01.5: the apps the learner's code is plugged into
# --------------------------------------------------------------------------------------


def headers_app(middleware: Any) -> FastAPI:
    """Public, credentialed, refused and cookie-setting routes behind ``middleware``."""
    app = FastAPI()
    app.middleware("http")(middleware)

    @app.get("/public")
    async def public() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me")
    async def me(request: Request) -> dict[str, str]:
        if "authorization" not in request.headers:
            # A bare challenge, without the no-store that unauthorized() adds: the
            # middleware must add it.
            raise HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
        return {"subject": "1"}

    @app.get("/admin")
    async def admin() -> dict[str, str]:
        # Refused without any credential in the request (say, an IP allow-list): only the
        # status tells the middleware that this answer is about access.
        raise HTTPException(403, "Forbidden")

    @app.post("/login")
    async def login() -> Response:
        response = JSONResponse({"ok": True})
        response.set_cookie("__Host-session", "s3cr3t", secure=True, httponly=True)
        return response

    return app


def security_headers_middleware(ns: Namespace) -> Any:
    """The learner's 01.3 middleware, refused in plain words unless it is an ``async def``."""
    why = "FastAPI awaits a middleware around every request"
    return require_coroutine_function(ns, "security_headers", why)


async def headers_exchanges(ns: Namespace) -> dict[str, httpx2.Response]:
    """Every kind of HTTPS request the middleware must handle, by what was tried."""
    app = headers_app(security_headers_middleware(ns))
    async with asgi_client(app) as client:  # https://clouddocs.test
        return {
            "GET /public": await client.get("/public"),
            "GET /missing (404)": await client.get("/missing"),
            "GET /me with a token": await client.get("/me", headers={"Authorization": "Bearer t"}),
            "GET /me without a token (401)": await client.get("/me"),
            "GET /admin without credentials (403)": await client.get("/admin"),
            "POST /login (sets a cookie)": await client.post("/login"),
            "GET /public with a cookie": await client.get("/public", headers={"Cookie": "a=b"}),
            "GET /public with an X-API-Key": await client.get(
                "/public", headers={"X-API-Key": "cdk_live_x"}
            ),
        }


async def plain_http_exchanges(ns: Namespace) -> dict[str, httpx2.Response]:
    """The same app reached over plain HTTP, where HSTS must not be sent."""
    app = headers_app(security_headers_middleware(ns))
    async with asgi_client(app, "http://clouddocs.test") as client:
        return {
            "GET http://…/public (plain HTTP)": await client.get("/public"),
            "GET http://…/me with a token (plain HTTP)": await client.get(
                "/me", headers={"Authorization": "Bearer t"}
            ),
        }


ALICE_TOKEN = "token-of-alice"
MALLORY_TOKEN = "token-of-mallory"


async def fixed_app_exchange(
    ns: Namespace, headers: dict[str, str], path: str = "/documents"
) -> httpx2.Response:
    """One request to the learner's 01.5 app, over the demo database, Alice and Mallory
    holding a token each."""
    db, data = await demo_database()
    verify = token_verifier(
        {
            ALICE_TOKEN: Principal(str(data.alice.id), frozenset({"docs:read"})),
            MALLORY_TOKEN: Principal(str(data.mallory.id), frozenset({"docs:read"})),
        }
    )
    try:
        async with asgi_client(call_plain(ns, "build_fixed_app", db, verify)) as client:
            return await client.get(path, headers=headers)
    finally:
        await db.dispose()


def titles(response: httpx2.Response) -> list[object]:
    """The titles of a 200 list of documents; [] for anything else."""
    rows = response.json() if response.status_code == 200 else []
    return [row.get("title") for row in rows] if isinstance(rows, list) else []


# --------------------------------------------------------------------------------------
# 01.4: an app with protected and unprotected routes in every shape
# --------------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)
_oauth2 = OAuth2PasswordBearer(tokenUrl="/token", auto_error=False)


async def _current_user(credentials: Annotated[Any, Depends(_bearer)]) -> str:
    return "someone"


async def _scoped_user(
    scopes: SecurityScopes, token: Annotated[str | None, Depends(_oauth2)]
) -> str:
    return "someone"


async def _x_user(x_user: Annotated[str, Header()]) -> str:
    return x_user


def inventory_app() -> FastAPI:
    """Protected and unprotected routes in every shape the inventory must handle."""
    app = FastAPI()

    async def ok() -> dict[str, bool]:
        return {"ok": True}

    async def direct(credentials: Annotated[Any, Depends(_bearer)]) -> None: ...
    async def nested(user: Annotated[str, Depends(_current_user)]) -> None: ...
    async def with_key(key: Annotated[str | None, Depends(_api_key)]) -> None: ...
    async def scoped(
        user: Annotated[str, Security(_scoped_user, scopes=["docs:write"])],
    ) -> None: ...
    async def header_only(user: Annotated[str, Depends(_x_user)]) -> None: ...

    app.add_api_route("/health", ok, methods=["GET"])
    app.add_api_route("/health", ok, methods=["POST"])  # same path, not allow-listed
    app.add_api_route("/documents", direct, methods=["GET"])
    app.add_api_route("/me", nested, methods=["GET"])
    app.add_api_route("/integrations", with_key, methods=["GET"])
    app.add_api_route("/documents", scoped, methods=["POST"])
    app.add_api_route("/whoami", header_only, methods=["GET"])

    admin = APIRouter(prefix="/admin", dependencies=[Depends(_current_user)])
    admin.add_api_route("/users", ok, methods=["GET"])
    app.include_router(admin)
    app.add_api_route("/admin/export", ok, methods=["GET"])  # under /admin, but unguarded

    # An included router with no dependencies. Recent FastAPI keeps it as one entry of
    # app.routes, so an inventory that only loops over app.routes never sees this route.
    reports = APIRouter(prefix="/reports")
    reports.add_api_route("/export", ok, methods=["GET"])
    app.include_router(reports)
    return app


#: What ``inventory_app()`` leaves unguarded once GET /health and the docs are public.
INVENTORY_UNPROTECTED = ["GET /admin/export", "GET /reports/export", "GET /whoami", "POST /health"]
