"""Per-request budgets of chapter 1's hot path (issue 16): deterministic counts, no timings.

Chapter 1's check is ``bearer_auth`` over an in-memory verifier, inside ``harden(app)``: pure
CPU, so no request may hop to the thread pool (a plain ``def`` dependency, endpoint or
verifier run through ``run_in_threadpool`` would). The database budgets belong to chapters 2-4, whose checks
query it.
"""

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from hot_path import count_threadpool_hops
from pydantic import BaseModel

from authcourse import asgi_client
from clouddocs.security import Principal, bearer_auth, harden


async def _verify(token: str) -> Principal | None:
    return Principal("7") if token == "good" else None


class _Note(BaseModel):
    text: str


def _hardened_app() -> FastAPI:
    app = FastAPI()
    caller = Annotated[Principal, Depends(bearer_auth(_verify))]

    @app.get("/me")
    async def me(principal: caller) -> str:
        return principal.subject

    @app.post("/notes")
    async def notes(principal: caller, note: _Note) -> dict[str, str]:
        return {"by": principal.subject, "text": note.text}

    return harden(app, max_body_bytes=1024)


@pytest.mark.anyio
async def test_the_hardened_bearer_check_never_hops_to_the_thread_pool() -> None:
    async with asgi_client(_hardened_app()) as client:
        await client.get("/me", headers={"Authorization": "Bearer good"})  # warm-up
        with count_threadpool_hops() as hops:
            answers = [
                (await client.get("/me", headers={"Authorization": "Bearer good"})).status_code,
                (await client.get("/me", headers={"Authorization": "Bearer bad"})).status_code,
                (await client.get("/me")).status_code,
                (
                    await client.post(
                        "/notes", json={"text": "hi"}, headers={"Authorization": "Bearer good"}
                    )
                ).status_code,
                (
                    await client.post(
                        "/notes", content=b"x" * 2048, headers={"Authorization": "Bearer good"}
                    )
                ).status_code,
            ]
    assert answers == [200, 401, 401, 200, 413]
    assert hops.count == 0


@pytest.mark.anyio
async def test_the_counter_does_see_a_plain_def_dependency() -> None:
    # Without this, "0 hops" above could mean the counter sees nothing.
    app = FastAPI()

    def plain_dependency() -> str:
        return "runs in the thread pool"

    @app.get("/sync")
    async def sync_route(value: Annotated[str, Depends(plain_dependency)]) -> str:
        return value

    async with asgi_client(harden(app)) as client:
        with count_threadpool_hops() as hops:
            assert (await client.get("/sync")).status_code == 200
    assert hops.count == 1
