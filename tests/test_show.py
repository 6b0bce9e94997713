"""Rendering one exchange: everything a learner needs to see, no secret they should not."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Form, Response
from fastapi.responses import RedirectResponse

from authcourse.client import asgi_client
from authcourse.show import MASK, show

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl"

app = FastAPI()


@app.post("/login")
def login(response: Response, username: str = Form(), password: str = Form()) -> dict[str, str]:
    response.set_cookie("__Host-session", "s3cret-id", secure=True, httponly=True, samesite="lax")
    return {"access_token": JWT, "token_type": "bearer", "user": username}


@app.get("/callback")
def callback() -> RedirectResponse:
    return RedirectResponse("https://clouddocs.test/done?code=abc123&state=xyz&lang=en")


@pytest.mark.anyio
async def test_secrets_are_masked_and_structure_is_kept() -> None:
    async with asgi_client(app) as client:
        response = await client.post(
            "/login",
            data={"username": "alice", "password": "hunter2"},
            headers={"Authorization": f"Bearer {JWT}", "Cookie": "theme=dark; sid=abc"},
        )
    text = show(response).text()
    assert "POST /login HTTP/1.1" in text and "HTTP/1.1 200 OK" in text
    assert f"authorization: Bearer {MASK}" in text
    assert f"cookie: theme={MASK}; sid={MASK}" in text
    assert f"username=alice&password={MASK}" in text
    assert f"set-cookie: __Host-session={MASK}; HttpOnly; Path=/; SameSite=lax; Secure" in text
    assert f'"access_token": "{MASK}"' in text and '"user": "alice"' in text
    for secret in ("hunter2", "s3cret-id", JWT):
        assert secret not in text and secret not in show(response)._repr_html_()


@pytest.mark.anyio
async def test_reveal_shows_everything() -> None:
    async with asgi_client(app) as client:
        response = await client.post("/login", data={"username": "alice", "password": "hunter2"})
    text = show(response, reveal=True).text()
    assert "password=hunter2" in text and JWT in text and "s3cret-id" in text


@pytest.mark.anyio
async def test_redirect_urls_keep_parameter_names_but_hide_codes_and_state() -> None:
    async with asgi_client(app) as client:
        response = await client.get("/callback")
    location = [line for line in show(response).text().splitlines() if line.startswith("location")]
    assert location == ["location: https://clouddocs.test/done?code=•••&state=•••&lang=en"]


@pytest.mark.anyio
async def test_credentials_in_the_request_query_are_masked() -> None:
    async with asgi_client(app) as client:
        response = await client.get("/callback?api_key=cdk_live_abc&page=2")
    assert show(response).text().splitlines()[0] == f"GET /callback?api_key={MASK}&page=2 HTTP/1.1"
