"""Unit tests for clouddocs.security, the reference code chapter 1 exports."""

import json
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from authcourse import asgi_client
from clouddocs.db import MAX_ROW_ID, Database, Document, RowId, Tenant
from clouddocs.security import (
    MAX_TOKEN_LENGTH,
    Principal,
    SecurityHeadersMiddleware,
    add_cors,
    bearer_auth,
    bearer_challenge,
    hide_rejected_input,
    route_inventory,
    unprotected_routes,
)


async def _verify(token: str) -> Principal | None:
    return Principal("7") if token == "good" else None


def test_challenge_quotes_and_escapes_its_parameters() -> None:
    assert bearer_challenge() == 'Bearer realm="clouddocs"'
    assert bearer_challenge("insufficient_scope", scope="docs:write") == (
        'Bearer realm="clouddocs", error="insufficient_scope", scope="docs:write"'
    )
    assert bearer_challenge(description='say "hi"').endswith('error_description="say \\"hi\\""')


@pytest.mark.parametrize("origin", ["*", "null", "http://app.test", "https://app.test/"])
def test_cors_refuses_wildcards_and_loose_origins(origin: str) -> None:
    with pytest.raises(ValueError):
        add_cors(FastAPI(), [origin])


@pytest.mark.anyio
async def test_bearer_auth_and_headers_middleware() -> None:
    app = FastAPI()
    app.add_middleware(SecurityHeadersMiddleware)

    @app.get("/me")
    async def me(caller: Annotated[Principal, Depends(bearer_auth(_verify))]) -> str:
        return caller.subject

    @app.get("/open")
    async def open_route() -> str:
        return "hi"

    async with asgi_client(app) as client:
        missing = await client.get("/me")
        malformed = await client.get("/me", headers={"Authorization": "Bearer"})
        bad = await client.get("/me", headers={"Authorization": "Bearer nope"})
        good = await client.get("/me", headers={"Authorization": "Bearer good"})
        public = await client.get("/open")
    assert missing.status_code == malformed.status_code == bad.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="clouddocs"'
    assert 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
    assert good.json() == "7" and good.headers["Cache-Control"] == "no-store"
    assert public.headers["X-Content-Type-Options"] == "nosniff"
    assert "Cache-Control" not in public.headers
    assert all("Strict-Transport-Security" in r.headers for r in (missing, good, public))


def test_inventory_walks_routers_and_mounts(tmp_path: object) -> None:
    guarded = APIRouter(prefix="/v1", dependencies=[Depends(bearer_auth(_verify))])

    @guarded.get("/documents")
    async def documents() -> None: ...

    sub_app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @sub_app.get("/status")
    async def status() -> None: ...

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(guarded)
    app.mount("/internal", sub_app)
    app.mount("/static", StaticFiles(directory=str(tmp_path)))

    keys = {report.key: report.protected for report in route_inventory(app)}
    assert keys == {
        "GET /v1/documents": True,
        "GET /internal/status": False,
        "* /static/{path}": False,
    }
    assert unprotected_routes(app, public={"* /static/{path}"}) == ["GET /internal/status"]


# Regression tests from the chapter 1 security review: one per finding.


@pytest.mark.anyio
async def test_an_id_no_row_can_have_is_a_422_not_a_database_overflow() -> None:
    # Finding: `document_id: int` let /documents/2**64 reach SQLite, which raised
    # OverflowError, a 500. RowId bounds the id before any query runs.
    db = Database()
    await db.create_all()
    app = FastAPI()

    @app.get("/documents/{document_id}")
    async def read(
        document_id: RowId, session: Annotated[AsyncSession, Depends(db.session)]
    ) -> str | None:
        document = await session.get(Document, document_id)
        return None if document is None else document.title

    async with asgi_client(app) as client:
        answers = {
            document_id: (await client.get(f"/documents/{document_id}")).status_code
            for document_id in (1, MAX_ROW_ID, MAX_ROW_ID + 1, 2**64, 0)
        }
    await db.dispose()
    assert answers == {1: 200, MAX_ROW_ID: 200, MAX_ROW_ID + 1: 422, 2**64: 422, 0: 422}


@pytest.mark.anyio
async def test_malformed_or_oversized_tokens_never_reach_the_verifier() -> None:
    # Finding: bearer_auth handed any string to the verifier, a megabyte included, and
    # tokens with spaces or control characters.
    seen: list[int] = []

    async def verify(token: str) -> Principal | None:
        seen.append(len(token))
        return None

    app = FastAPI()

    @app.get("/me")
    async def me(caller: Annotated[Principal, Depends(bearer_auth(verify))]) -> str:
        return caller.subject

    async with asgi_client(app) as client:
        refused = [
            await client.get("/me", headers={"Authorization": f"Bearer {token}"})
            for token in ("a" * (MAX_TOKEN_LENGTH + 1), "a" * 1_000_000, "good extra", "a%0Db")
        ]
        longest = await client.get("/me", headers={"Authorization": "Bearer " + "a" * 4096})
    assert all(r.status_code == 401 for r in refused)
    assert all('error="invalid_token"' in r.headers["WWW-Authenticate"] for r in refused)
    assert seen == [MAX_TOKEN_LENGTH]  # only the well-formed token was verified
    assert longest.status_code == 401


def test_challenge_parameters_cannot_split_the_header() -> None:
    # Finding: a CR/LF in an error description or scope went into the header as is.
    with pytest.raises(ValueError):
        bearer_challenge("invalid_token", "bad\r\nSet-Cookie: session=attacker")
    with pytest.raises(ValueError):
        bearer_challenge("insufficient_scope", scope="docs:read\ndocs:write")


@pytest.mark.anyio
async def test_no_store_when_an_api_key_header_is_sent() -> None:
    # Finding: only Authorization and Cookie counted as credentials, so a response to an
    # X-API-Key request (the header the chapter teaches) could be kept by a shared cache.
    app = FastAPI()
    app.add_middleware(SecurityHeadersMiddleware)
    custom = FastAPI()
    custom.add_middleware(SecurityHeadersMiddleware, credential_headers={"X-CloudDocs-Key"})

    @app.get("/integrations")
    @custom.get("/integrations")
    async def integrations() -> list[str]:
        return []

    async with asgi_client(app) as client:
        with_key = await client.get("/integrations", headers={"X-API-Key": "cdk_test_x"})
    async with asgi_client(custom) as client:
        custom_key = await client.get("/integrations", headers={"X-CloudDocs-Key": "k"})
        without = await client.get("/integrations")
    assert with_key.headers["Cache-Control"] == "no-store"
    assert custom_key.headers["Cache-Control"] == "no-store"
    assert "Cache-Control" not in without.headers


def test_inventory_walks_host_routes() -> None:
    # Finding: a Host(...) route was reported as "* None" instead of its routes.
    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @api.get("/status")
    async def status() -> None: ...

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.host("api.clouddocs.test", api)
    assert unprotected_routes(app) == ["GET //api.clouddocs.test/status"]


class _Login(BaseModel):
    password: str = Field(max_length=8)


@pytest.mark.anyio
@pytest.mark.parametrize("password", ["hunter2-hunter2", "\ud800"])
async def test_a_422_never_echoes_the_rejected_value(password: str) -> None:
    app = FastAPI()

    @app.post("/login")
    async def login(form: _Login) -> None: ...

    hide_rejected_input(app)
    body = '{"password": ' + json.dumps(password) + "}"  # json.dumps escapes the surrogate
    async with asgi_client(app) as client:
        answer = await client.post(
            "/login", content=body, headers={"Content-Type": "application/json"}
        )
    # A lone surrogate made FastAPI's default handler fail to encode its own 422 (a 500).
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "password"]
    assert "input" not in answer.json()["detail"][0]
    assert "hunter2" not in answer.text and "ud800" not in answer.text


@pytest.mark.anyio
@pytest.mark.parametrize("url", ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"])
async def test_every_in_memory_sqlite_url_is_one_shared_database(url: str) -> None:
    # Without the shared connection, the second session would open a new, empty database.
    db = Database(url)
    try:
        await db.create_all()
        async with db.sessions() as session:
            session.add(Tenant(name="Acme"))
            await session.commit()
        async with db.sessions() as session:
            tenant = await session.get(Tenant, 1)
        assert tenant is not None and tenant.name == "Acme"
    finally:
        await db.dispose()
