"""In-process clients: lifespan, https base URL, client IP, one cookie jar across apps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI, Request, Response

from authcourse.client import asgi_client, browser


def make_app(name: str, events: list[str]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append(f"{name} started")
        yield
        events.append(f"{name} stopped")

    app = FastAPI(lifespan=lifespan)

    @app.post("/login")
    def login(response: Response) -> dict[str, str]:
        response.set_cookie("__Host-session", name, secure=True, httponly=True, path="/")
        return {}

    @app.get("/whoami")
    def whoami(request: Request) -> dict[str, object]:
        assert request.client is not None
        return {"url": str(request.url), "ip": request.client.host, "cookies": request.cookies}

    return app


@pytest.mark.anyio
async def test_asgi_client_runs_lifespan_and_keeps_secure_cookies() -> None:
    events: list[str] = []
    async with asgi_client(make_app("docs", events), client_ip="198.51.100.7") as client:
        assert events == ["docs started"]
        await client.post("/login")
        body = (await client.get("/whoami")).json()
    assert events == ["docs started", "docs stopped"]
    assert body == {
        "url": "https://clouddocs.test/whoami",
        "ip": "198.51.100.7",
        "cookies": {"__Host-session": "docs"},
    }


@pytest.mark.anyio
async def test_browser_routes_by_origin_and_scopes_cookies_per_site() -> None:
    events: list[str] = []
    apps = {
        "https://clouddocs.test": make_app("rp", events),
        "https://idp.test/": make_app("idp", events),
    }
    async with browser(apps) as client:
        await client.post("https://idp.test/login")
        rp = (await client.get("https://clouddocs.test/whoami")).json()
        idp = (await client.get("https://idp.test/whoami")).json()
    assert rp["cookies"] == {} and idp["cookies"] == {"__Host-session": "idp"}
    assert sorted(events) == ["idp started", "idp stopped", "rp started", "rp stopped"]


@pytest.mark.anyio
async def test_browser_refuses_origins_with_a_path() -> None:
    with pytest.raises(ValueError, match="origins"):
        async with browser({"https://idp.test/oauth": FastAPI()}):
            pass
