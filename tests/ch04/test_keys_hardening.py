"""Regression tests for the chapter 4 API-key findings of issue 15 (each sends the attack).

Every test builds the real app from ``clouddocs.apikeys`` on a file-backed SQLite database in
a temporary directory: the in-memory database shares one connection, so concurrent requests
would share one transaction and prove nothing.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from service_urls import database_url
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from authcourse import FrozenClock, asgi_client
from clouddocs.apikeys import (
    BASE62_ALPHABET,
    MAX_KEY_LIFETIME,
    ApiKey,
    ApiKeyGuard,
    IssuedKey,
    KeyLimiter,
    create_api_key_app,
    issue_api_key,
    key_checksum,
    rotate_api_key,
)
from clouddocs.db import Database, Tenant

pytestmark = pytest.mark.anyio


@dataclass
class World:
    db: Database
    clock: FrozenClock
    guard: ApiKeyGuard
    tenant_id: int
    manager: IssuedKey  # keys:manage + docs:read + docs:write

    def bearer(self, issued: IssuedKey | str) -> dict[str, str]:
        key = issued if isinstance(issued, str) else issued.plaintext
        return {"Authorization": f"Bearer {key}"}

    async def issue(self, **overrides: object) -> IssuedKey:
        arguments: dict[str, object] = {
            "tenant_id": self.tenant_id,
            "name": "k",
            "scopes": ["docs:read"],
            "clock": self.clock,
        }
        arguments.update(overrides)
        async with self.db.sessions() as session:
            return await issue_api_key(session, **arguments)  # type: ignore[arg-type]

    async def audit(self) -> list[tuple[str, str | None, str | None]]:
        async with self.db.sessions() as session:
            rows = await session.execute(
                text("SELECT event, account_key, client_ip FROM audit_events ORDER BY id")
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]


@asynccontextmanager
async def world(tmp_path: Path, **guard_options: object) -> AsyncIterator[World]:
    clock = FrozenClock()
    async with database_url(f"sqlite+aiosqlite:///{tmp_path}/keys.db") as url:
        db = Database(url)
        await db.create_all()
        async with db.sessions() as session:
            tenant = Tenant(name="Acme")
            session.add(tenant)
            await session.commit()
            manager = await issue_api_key(
                session,
                tenant_id=tenant.id,
                name="manager",
                scopes=["keys:manage", "docs:read", "docs:write"],
                clock=clock,
            )
        guard = ApiKeyGuard(db, clock, **guard_options)  # type: ignore[arg-type]
        try:
            yield World(db, clock, guard, tenant.id, manager)
        finally:
            await db.dispose()


def forged_key() -> str:
    """A key with a correct checksum that matches no row: what a guesser sends."""
    import secrets

    unchecked = "cdk_live_" + "".join(secrets.choice(BASE62_ALPHABET) for _ in range(22))
    return unchecked + key_checksum(unchecked)


# Finding: lifetime=None made immortal keys.
@pytest.mark.parametrize(
    "lifetime",
    [None, timedelta(0), timedelta(days=-1), MAX_KEY_LIFETIME + timedelta(seconds=1)],
    ids=["none", "zero", "negative", "over-max"],
)
async def test_a_key_without_a_bounded_lifetime_is_refused(
    tmp_path: Path, lifetime: timedelta | None
) -> None:
    async with world(tmp_path) as w:
        with pytest.raises((ValueError, TypeError)):
            await w.issue(lifetime=lifetime)


async def test_the_database_refuses_a_key_without_an_end(tmp_path: Path) -> None:
    async with world(tmp_path) as w, w.db.sessions() as session:
        session.add(
            ApiKey(
                tenant_id=w.tenant_id,
                name="immortal",
                digest="0" * 64,
                hint="cdk_live_…0000",
                scopes="docs:read",
                created_at=w.clock.now(),
            )
        )
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_the_api_refuses_a_lifetime_over_a_year(tmp_path: Path) -> None:
    async with world(tmp_path) as w, asgi_client(create_api_key_app(w.guard)) as client:
        body = {"name": "x", "scopes": ["docs:read"], "lifetime_days": 3650}
        response = await client.post("/api-keys", json=body, headers=w.bearer(w.manager))
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "lifetime_days"]


# Finding: cdk_test_ keys worked on the live API.
async def test_a_test_key_is_refused_by_the_live_api_with_a_clear_401(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        test_key = await w.issue(environment="test")
        async with asgi_client(create_api_key_app(w.guard)) as client:
            response = await client.get("/documents", headers=w.bearer(test_key))
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        assert 'error="invalid_token"' in challenge and "cdk_test_" in challenge
        # ... and a test deployment refuses live keys the same way.
        test_api = create_api_key_app(ApiKeyGuard(w.db, w.clock, environment="test"))
        async with asgi_client(test_api) as client:
            assert (await client.get("/documents", headers=w.bearer(test_key))).status_code == 200
            live = await client.get("/documents", headers=w.bearer(w.manager))
        assert live.status_code == 401 and "cdk_live_" in live.headers["www-authenticate"]


async def test_keys_created_through_the_api_belong_to_its_environment(tmp_path: Path) -> None:
    async with world(tmp_path) as w, asgi_client(create_api_key_app(w.guard)) as client:
        body = {"name": "x", "scopes": ["docs:read"], "environment": "test"}
        created = await client.post("/api-keys", json=body, headers=w.bearer(w.manager))
        assert created.status_code == 201
        assert created.json()["api_key"].startswith("cdk_live_")


# Finding: the per-key limiter was off in the chapter's app.
async def test_the_per_key_limit_is_on_by_default(tmp_path: Path) -> None:
    async with world(tmp_path) as w, asgi_client(create_api_key_app(w.guard)) as client:
        response = await client.get("/documents", headers=w.bearer(w.manager))
        assert response.status_code == 200
        assert response.headers["ratelimit-limit"] == "600"
        assert response.headers["ratelimit-remaining"] == "599"


async def test_a_spent_key_budget_is_a_429_with_retry_after(tmp_path: Path) -> None:
    async with world(tmp_path, limiter=KeyLimiter("2/minute")) as w:
        async with asgi_client(create_api_key_app(w.guard)) as client:
            statuses = [
                (await client.get("/documents", headers=w.bearer(w.manager))).status_code
                for _ in range(3)
            ]
            refused = await client.get("/documents", headers=w.bearer(w.manager))
        assert statuses == [200, 200, 429]
        assert int(refused.headers["retry-after"]) > 0


# Finding: forged keys with valid checksums hit the database without limit.
async def test_failed_key_attempts_are_limited_per_client_before_any_query(tmp_path: Path) -> None:
    async with world(tmp_path, failed_attempts=KeyLimiter("3/minute")) as w:
        app = create_api_key_app(w.guard)
        queries: list[str] = []
        from sqlalchemy import event

        def record(_c: object, _cur: object, statement: str, *_: object) -> None:
            queries.append(statement)

        event.listen(w.db.engine.sync_engine, "before_cursor_execute", record)
        try:
            async with asgi_client(app, client_ip="192.0.2.66") as attacker:
                statuses = [
                    (await attacker.get("/documents", headers=w.bearer(forged_key()))).status_code
                    for _ in range(5)
                ]
                blocked = await attacker.get("/documents", headers=w.bearer(w.manager))
        finally:
            event.remove(w.db.engine.sync_engine, "before_cursor_execute", record)
        assert statuses == [401, 401, 401, 429, 429]
        assert len(queries) == 3  # the blocked attempts never reached the database
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        async with asgi_client(app, client_ip="192.0.2.7") as other:
            assert (await other.get("/documents", headers=w.bearer(w.manager))).status_code == 200


async def test_successful_requests_never_count_as_failed_attempts(tmp_path: Path) -> None:
    async with world(tmp_path, failed_attempts=KeyLimiter("2/minute")) as w:
        async with asgi_client(create_api_key_app(w.guard)) as client:
            for _ in range(5):
                response = await client.get("/documents", headers=w.bearer(w.manager))
                assert response.status_code == 200


# Finding: no audit events for create/rotate/revoke/failed use.
async def test_key_events_are_audited_by_id_never_by_key(tmp_path: Path) -> None:
    async with world(tmp_path) as w, asgi_client(create_api_key_app(w.guard)) as client:
        headers = w.bearer(w.manager)
        created = (
            await client.post(
                "/api-keys", json={"name": "x", "scopes": ["docs:read"]}, headers=headers
            )
        ).json()
        rotated = (await client.post(f"/api-keys/{created['id']}/rotate", headers=headers)).json()
        assert (
            await client.delete(f"/api-keys/{rotated['id']}", headers=headers)
        ).status_code == 204
        refused = await client.get("/documents", headers=w.bearer(rotated["api_key"]))
        assert refused.status_code == 401
        events = await w.audit()
    assert [(event, subject) for event, subject, _ in events] == [
        ("api_key.created", f"api-key:{w.manager.record.id}"),
        ("api_key.created", f"api-key:{created['id']}"),
        ("api_key.rotated", f"api-key:{created['id']}"),
        ("api_key.revoked", f"api-key:{rotated['id']}"),
        ("api_key.refused", f"api-key:{rotated['id']}"),
    ]
    everything = repr(events)
    for key in (created["api_key"], rotated["api_key"], w.manager.plaintext):
        assert key not in everything and key[9:] not in everything


# Finding (last session): two overlapping rotations of one key could both succeed.
async def test_two_concurrent_rotations_issue_exactly_one_successor(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        target = await w.issue()

        async def rotate() -> IssuedKey | None:
            async with w.db.sessions() as session:
                return await rotate_api_key(
                    session, key_id=target.record.id, tenant_id=w.tenant_id, clock=w.clock
                )

        outcomes = await asyncio.gather(rotate(), rotate(), rotate())
        assert sum(outcome is not None for outcome in outcomes) == 1
        async with w.db.sessions() as session:
            successors = await session.scalar(
                select(func.count()).where(ApiKey.rotated_from_id == target.record.id)
            )
        assert successors == 1


async def test_two_concurrent_rotation_requests_give_one_201_and_one_404(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        target = await w.issue()
        async with asgi_client(create_api_key_app(w.guard)) as client:
            path = f"/api-keys/{target.record.id}/rotate"
            responses = await asyncio.gather(
                client.post(path, headers=w.bearer(w.manager)),
                client.post(path, headers=w.bearer(w.manager)),
            )
        assert sorted(response.status_code for response in responses) == [201, 404]


# Fuzz finding: scopes [""] gave a 422 whose body contradicted the documented 422 shape.
@pytest.mark.parametrize("scopes", [[""], ["docs:admin"], ["A" * 100]])
async def test_an_unknown_scope_is_a_standard_422(tmp_path: Path, scopes: list[str]) -> None:
    async with world(tmp_path) as w, asgi_client(create_api_key_app(w.guard)) as client:
        response = await client.post(
            "/api-keys", json={"name": "x", "scopes": scopes}, headers=w.bearer(w.manager)
        )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail[0]["loc"] == ["body", "scopes", 0]


async def test_the_openapi_schema_lists_the_allowed_scopes(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        schema = create_api_key_app(w.guard).openapi()
    scope_schema = schema["components"]["schemas"]["NewKeyRequest"]["properties"]["scopes"]
    assert sorted(scope_schema["items"]["enum"]) == [
        "docs:read",
        "docs:share",
        "docs:write",
        "keys:manage",
    ]


# Fuzz finding: an empty document title; the schema and the behaviour now agree (min_length=1).
async def test_an_empty_title_is_a_422_that_the_schema_predicts(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        app = create_api_key_app(w.guard)
        title = app.openapi()["components"]["schemas"]["NewDocument"]["properties"]["title"]
        assert title["minLength"] == 1
        async with asgi_client(app) as client:
            response = await client.post(
                "/documents", json={"title": ""}, headers=w.bearer(w.manager)
            )
            created = await client.post(
                "/documents", json={"title": "Q2"}, headers=w.bearer(w.manager)
            )
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "title"]
    assert created.status_code == 201


async def test_refusals_are_declared_in_openapi_with_their_headers(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        paths = create_api_key_app(w.guard).openapi()["paths"]
    for path, method in [("/documents", "get"), ("/documents", "post"), ("/api-keys", "post")]:
        responses = paths[path][method]["responses"]
        for code in ("401", "403"):
            assert "WWW-Authenticate" in responses[code]["headers"], (path, method, code)
        assert "Retry-After" in responses["429"]["headers"]
    assert "413" in paths["/documents"]["post"]["responses"]


async def test_the_app_is_hardened(tmp_path: Path) -> None:
    async with world(tmp_path) as w, asgi_client(create_api_key_app(w.guard)) as client:
        response = await client.get("/documents", headers=w.bearer(w.manager))
        huge = await client.post(
            "/documents", content=b"{" + b" " * 2_000_000 + b"}", headers=w.bearer(w.manager)
        )
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"  # the request carried a credential
    assert huge.status_code == 413
