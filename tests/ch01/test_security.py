"""Unit tests for clouddocs.security, the reference code chapter 1 exports."""

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from authcourse import asgi_client
from clouddocs.security import (
    Principal,
    SecurityHeadersMiddleware,
    add_cors,
    bearer_auth,
    bearer_challenge,
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
