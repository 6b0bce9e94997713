"""Regression tests for clouddocs.security.harden: each test sends the attack it guards against.

Findings (issue 15): the reference apps installed no security headers, the headers middleware
sent HSTS over plain http (RFC 6797 §7.2 forbids it), and a 10 MB JSON password was read and
parsed in full. ``harden(app)`` is the one call every app factory makes.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Form, Response
from pydantic import BaseModel, Field
from starlette.types import Message

from authcourse import asgi_client
from clouddocs.security import (
    MAX_BODY_BYTES,
    BodyLimitMiddleware,
    Principal,
    bearer_auth,
    harden,
)

HSTS = "Strict-Transport-Security"


async def _verify(token: str) -> Principal | None:
    return Principal("7") if token == "good" else None


class _Login(BaseModel):
    email: str
    password: str = Field(max_length=128)


def _app(**settings: Any) -> FastAPI:
    """A small CloudDocs-like app: a credentialed /me, a public /health, a JSON /login."""
    app = FastAPI()

    @app.get("/me")
    async def me(caller: Annotated[Principal, Depends(bearer_auth(_verify))]) -> str:
        return caller.subject

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/login")
    async def login(form: _Login, response: Response) -> dict[str, str]:
        response.set_cookie("session", "s3cret", httponly=True, secure=True)
        return {"email": form.email}

    return harden(app, **settings)


@pytest.mark.anyio
async def test_hsts_only_over_https() -> None:
    app = _app()
    async with asgi_client(app, base_url="http://clouddocs.test") as client:
        plain = [await client.get("/health"), await client.get("/me")]
    async with asgi_client(app, base_url="https://clouddocs.test") as client:
        secure = [await client.get("/health"), await client.get("/me")]
    assert all(HSTS not in response.headers for response in plain)
    assert all(
        response.headers[HSTS] == "max-age=63072000; includeSubDomains" for response in secure
    )


@pytest.mark.anyio
async def test_baseline_headers_on_every_response_and_the_apps_own_values_kept() -> None:
    app = _app()

    @app.get("/page")
    async def page() -> Response:
        return Response("<p>hi</p>", headers={"Content-Security-Policy": "default-src 'self'"})

    async with asgi_client(app) as client:
        responses = [await client.get(path) for path in ("/health", "/me", "/nowhere")]
        page_response = await client.get("/page")
    for response in responses:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert page_response.headers["Content-Security-Policy"] == "default-src 'self'"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "credential",
    [{"Authorization": "Bearer good"}, {"Cookie": "session=abc"}, {"X-API-Key": "cdk_live_x"}],
    ids=["authorization", "cookie", "api-key"],
)
async def test_no_store_on_every_response_to_a_credentialed_request(
    credential: dict[str, str],
) -> None:
    async with asgi_client(_app()) as client:
        me = await client.get("/me", headers=credential)
        health = await client.get("/health", headers=credential)
    assert me.headers["Cache-Control"] == "no-store"
    assert health.headers["Cache-Control"] == "no-store"  # even a public route


@pytest.mark.anyio
async def test_public_responses_stay_cacheable_and_set_cookie_is_no_store() -> None:
    async with asgi_client(_app()) as client:
        public = await client.get("/health")
        login = await client.post("/login", json={"email": "a@b.test", "password": "pw"})
    assert public.status_code == 200 and "Cache-Control" not in public.headers
    assert login.status_code == 200 and "set-cookie" in login.headers
    assert login.headers["Cache-Control"] == "no-store"


async def _call(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> Any:
    """Drive ``app`` at the ASGI level; record how many body chunks it pulled."""
    pulled: list[int] = []
    sent: list[Message] = []

    async def receive() -> Message:
        index = len(pulled)
        pulled.append(index)
        if index < len(chunks):
            return {
                "type": "http.request",
                "body": chunks[index],
                "more_body": index + 1 < len(chunks),
            }
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/login",
        "raw_path": b"/login",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"clouddocs.test"), *headers],
        "client": ("203.0.113.10", 50000),
        "server": ("clouddocs.test", 443),
        "state": {},
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, len(pulled)


@pytest.mark.anyio
async def test_a_declared_10_mb_body_is_refused_before_one_byte_is_read() -> None:
    ten_mb = b'{"email": "a@b.test", "password": "' + b"x" * 10_000_000 + b'"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ten_mb))]
    status, body, pulled = await _call(_app(), headers, [ten_mb])
    assert status == 413
    assert body == b'{"detail": "Request body larger than 1048576 bytes"}'
    assert pulled == 0  # receive() was never called: the body was not read at all


@pytest.mark.anyio
async def test_a_chunked_body_over_the_limit_is_refused_as_it_streams() -> None:
    sent = 0

    async def ten_mib() -> AsyncIterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        nonlocal sent
        for _ in range(160):
            sent += 1
            yield b"x" * 65_536

    async with asgi_client(_app()) as client:
        answer = await client.post(
            "/login", content=ten_mib(), headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 413  # not FastAPI's 400 for the interrupted read
    assert answer.json() == {"detail": "Request body larger than 1048576 bytes"}
    assert answer.headers["X-Content-Type-Options"] == "nosniff"  # the 413 is hardened too
    assert sent == MAX_BODY_BYTES // 65_536 + 1  # reading stopped at the chunk over 1 MiB


@pytest.mark.anyio
async def test_a_body_longer_than_its_content_length_is_still_counted() -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"10")]
    chunks = [b"x" * 65_536] * 40  # 2.5 MiB behind a claim of 10 bytes
    status, _, pulled = await _call(_app(), headers, chunks)
    assert status == 413
    assert pulled == 17


@pytest.mark.anyio
async def test_bodies_up_to_the_limit_are_served() -> None:
    app = _app(max_body_bytes=200)
    exact = b'{"email": "a@b.test", "password": "' + b"x" * 100 + b'"}'
    padded = exact + b" " * (200 - len(exact))  # JSON allows trailing whitespace
    async with asgi_client(app) as client:
        at_limit = await client.post(
            "/login", content=padded, headers={"Content-Type": "application/json"}
        )
        over = await client.post(
            "/login", content=padded + b" ", headers={"Content-Type": "application/json"}
        )
    assert len(padded) == 200
    assert at_limit.status_code == 200
    assert over.status_code == 413


@pytest.mark.anyio
async def test_hardened_422_never_echoes_the_password() -> None:
    async with asgi_client(_app()) as client:
        answer = await client.post("/login", json={"email": "a@b.test", "password": "p" * 200})
    assert answer.status_code == 422
    assert "p" * 129 not in answer.text
    assert "input" not in answer.json()["detail"][0]


@pytest.mark.anyio
async def test_the_413_and_401_are_declared_where_they_can_happen() -> None:
    async with asgi_client(_app()) as client:
        openapi = (await client.get("/openapi.json")).json()
    login = openapi["paths"]["/login"]["post"]["responses"]
    me = openapi["paths"]["/me"]["get"]["responses"]
    health = openapi["paths"]["/health"]["get"]["responses"]
    assert login["413"]["description"] == "Request body larger than 1048576 bytes"
    assert "413" not in me and "413" not in health
    # The 401 goes where a security scheme is declared, with the header it always carries.
    assert "WWW-Authenticate" in me["401"]["headers"]
    assert "401" not in login and "401" not in health


@pytest.mark.anyio
async def test_a_response_the_route_declares_is_kept() -> None:
    app = FastAPI()

    @app.get("/me", responses={401: {"description": "Token expired or missing"}})
    async def me(caller: Annotated[Principal, Depends(bearer_auth(_verify))]) -> str:
        return caller.subject

    harden(app)
    async with asgi_client(app) as client:
        openapi = (await client.get("/openapi.json")).json()
    assert openapi["paths"]["/me"]["get"]["responses"]["401"] == {
        "description": "Token expired or missing"
    }


def test_harden_twice_is_harmless_and_conflicting_settings_are_refused() -> None:
    app = _app()
    middleware = len(app.user_middleware)
    assert harden(app) is app and len(app.user_middleware) == middleware
    with pytest.raises(ValueError):
        harden(app, max_body_bytes=10)


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        BodyLimitMiddleware(FastAPI(), max_body_bytes=-1)


@pytest.mark.anyio
async def test_lifespan_passes_through() -> None:
    # Both middlewares only look at http scopes; lifespan must still start the app.
    started: list[bool] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started.append(True)
        yield

    app = harden(FastAPI(lifespan=lifespan))
    async with asgi_client(app) as client:
        assert (await client.get("/nowhere")).status_code == 404
    assert started == [True]


@pytest.mark.anyio
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_form_bodies_over_the_limit_are_413_too(chunked: bool) -> None:
    # The OAuth token endpoint and login forms read application/x-www-form-urlencoded
    # bodies through Starlette's form parser, not FastAPI's JSON path.
    app = FastAPI()

    @app.post("/token")
    async def token(grant_type: Annotated[str, Form()]) -> dict[str, str]:
        return {"grant_type": grant_type}

    harden(app, max_body_bytes=1024)
    body = b"grant_type=" + b"x" * 4096

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 512):
            yield body[start : start + 512]

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with asgi_client(app) as client:
        small = await client.post("/token", data={"grant_type": "authorization_code"})
        large = await client.post("/token", content=stream() if chunked else body, headers=headers)
    assert small.status_code == 200
    assert large.status_code == 413
    assert large.json() == {"detail": "Request body larger than 1024 bytes"}
