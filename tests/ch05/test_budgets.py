"""Per-request budgets of chapter 5's hot paths (issue 16): deterministic counts, no timings.

- The resource server's JWT check is pure CPU (``async def``): no thread-pool hop.
- Its introspection check awaits an HTTP call: no thread-pool hop either.
- The BFF's session check is one SQL statement (SQLAlchemy Core on an AsyncConnection),
  and no write happens on a request that does not need a refresh.
"""

from __future__ import annotations

import httpx2
import pytest
from hot_path import count_aiosqlite_calls, count_statements, count_threadpool_hops

from authcourse.client import asgi_client, browser
from clouddocs.resource_server import IntrospectedTokens, create_docs_api

from .conftest import API, API_SECRET, IDP, WEB, Bff, World, client_credentials_token, jwt_verifier
from .test_bff import log_in

pytestmark = pytest.mark.anyio

# Measured: cursor, execute, fetchall, cursor close, and the rollback SQLAlchemy's pool
# does when the connection is returned — each a round trip to aiosqlite's worker thread.
# Pinned so a change shows up.
AIOSQLITE_CALLS_PER_SESSION_CHECK = 5


async def test_the_jwt_check_never_hops_to_the_thread_pool(world: World) -> None:
    api = create_docs_api((await jwt_verifier(world)).verify)
    token = await client_credentials_token(world)
    async with asgi_client(api, base_url=API) as client:
        await client.get("/me", headers={"Authorization": f"Bearer {token}"})  # warm up
        with count_threadpool_hops() as hops:
            answer = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and hops.count == 0


async def test_the_introspection_check_never_hops_to_the_thread_pool(world: World) -> None:
    token = await client_credentials_token(world, "sync-opaque")
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=world.idp.app)) as http:
        api = create_docs_api(IntrospectedTokens(
            http, IDP + "/introspect", issuer=IDP, audience=API, client_id="docs-api",
            client_secret=API_SECRET, clock=world.clock).verify)
        async with asgi_client(api, base_url=API) as client:
            with count_threadpool_hops() as hops:
                answer = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and hops.count == 0


async def test_the_bff_session_check_is_one_statement_and_no_write(world: World, bff: Bff) -> None:
    async with browser({WEB: bff.app, IDP: world.idp.app}) as agent:
        await agent.get((await log_in(agent)).headers["location"])
        await agent.get(WEB + "/api/me")  # warm up
        with count_statements(bff.engine) as seen, count_aiosqlite_calls() as calls, \
                count_threadpool_hops() as hops:
            answer = await agent.get(WEB + "/api/me")
    assert answer.status_code == 200
    assert len(seen.statements) == 1 and seen.statements[0].lstrip().upper().startswith("SELECT")
    assert calls.count == AIOSQLITE_CALLS_PER_SESSION_CHECK, calls.count
    assert hops.count == 0
