"""Chapter 7's reference code: the attacks of "Break it" against the naive and the real app,
403 vs 404, 401 with a challenge, OpenAPI, RBAC/ABAC units, the per-request budget."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from hot_path import count_statements
from sqlalchemy import select, text

from authcourse import FrozenClock, asgi_client
from authcourse.checks.ch07_support import World, world
from clouddocs.abac import Classification, Environment, Resource, Subject, cedar_decide, decide
from clouddocs.db import Document
from clouddocs.naive_documents import build_naive_documents_app
from clouddocs.rbac import ROLE_PERMISSIONS, TENANT_CLAIM, Membership, Role, require_permission
from clouddocs.security import unprotected_routes
from clouddocs.tenancy import POSTGRES_RLS_DDL, SET_TENANT_SQL, build_documents_app
from clouddocs.tokens import KeyRing, TokenService, TokenSettings, new_hs256_key

pytestmark = pytest.mark.anyio

TOKENS = TokenService(
    KeyRing(new_hs256_key("test")),
    TokenSettings(issuer="https://clouddocs.test", audience="https://api.clouddocs.test"),
    FrozenClock(),
)


@pytest.fixture
async def w() -> AsyncIterator[World]:
    async with world() as seeded:
        yield seeded


def login(w: World, name: str, tenant: str = "acme") -> dict[str, str]:
    tenant_id = w.acme if tenant == "acme" else w.globex
    token = TOKENS.issue(str(w.users[name]), claims={TENANT_CLAIM: tenant_id})
    return {"Authorization": f"Bearer {token}"}


async def role_of(w: World, name: str, tenant_id: int) -> str | None:
    async with w.db.sessions() as session:
        return await session.scalar(
            select(Membership.role).where(
                Membership.user_id == w.users[name], Membership.tenant_id == tenant_id
            )
        )


async def test_idor_changing_the_id_reads_another_tenant_on_the_naive_app_only(w: World) -> None:
    url = f"/documents/{w.documents['pricing']}"
    async with asgi_client(build_naive_documents_app(w.db, TOKENS)) as client:
        assert (await client.get(url, headers=login(w, "alice"))).status_code == 200  # the breach
    async with asgi_client(build_documents_app(w.db, TOKENS)) as client:
        elsewhere = await client.get(url, headers=login(w, "alice"))
        missing = await client.get("/documents/987654", headers=login(w, "alice"))
    assert (
        elsewhere.status_code == missing.status_code == 404 and elsewhere.content == missing.content
    )


async def test_bfla_method_swap_deletes_on_the_naive_app_only(w: World) -> None:
    url = f"/documents/{w.documents['roadmap']}"
    async with asgi_client(build_documents_app(w.db, TOKENS)) as client:
        refused = await client.delete(url, headers=login(w, "carol"))
        assert refused.status_code == 403 and "documents:delete" in refused.json()["detail"]
        assert (await client.get(url, headers=login(w, "carol"))).status_code == 200
    async with asgi_client(build_naive_documents_app(w.db, TOKENS)) as client:
        assert (
            await client.delete(url, headers=login(w, "carol"))
        ).status_code == 200  # the breach


async def test_mass_assignment_of_role_is_refused_by_the_schema(w: World) -> None:
    body = {"display_name": "Carol", "role": "owner"}
    async with asgi_client(build_documents_app(w.db, TOKENS)) as client:
        refused = await client.patch("/me", json=body, headers=login(w, "carol"))
        assert refused.status_code == 422 and "owner" not in refused.text
    assert await role_of(w, "carol", w.acme) == "viewer"
    async with asgi_client(build_naive_documents_app(w.db, TOKENS)) as client:
        await client.patch("/me", json=body, headers=login(w, "carol"))
    assert await role_of(w, "carol", w.acme) == "owner"  # the breach the schema prevents


async def test_403_inside_the_tenant_404_outside_401_without_a_token(w: World) -> None:
    async with asgi_client(build_documents_app(w.db, TOKENS)) as client:
        viewer = await client.patch(
            f"/documents/{w.documents['roadmap']}", json={"title": "x"}, headers=login(w, "carol")
        )
        not_owner = await client.patch(
            f"/documents/{w.documents['minutes']}", json={"title": "x"}, headers=login(w, "bob")
        )
        owner = await client.patch(
            f"/documents/{w.documents['roadmap']}", json={"title": "new"}, headers=login(w, "bob")
        )
        other_tenant = await client.patch(
            f"/documents/{w.documents['pricing']}", json={"title": "x"}, headers=login(w, "alice")
        )
        anonymous = await client.get("/documents")
        forged = await client.get("/documents", headers={"Authorization": "Bearer not.a.jwt"})
        malformed = await client.get(
            "/documents", headers={"Authorization": "Bearer " + "a" * 5000}
        )
    assert (
        viewer.status_code,
        not_owner.status_code,
        owner.status_code,
        other_tenant.status_code,
    ) == (403, 403, 200, 404)
    for response in (anonymous, forged, malformed):
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith(
            "Bearer "
        )


async def test_a_token_for_a_tenant_the_user_left_is_refused_and_demotion_is_immediate(
    w: World,
) -> None:
    async with asgi_client(build_documents_app(w.db, TOKENS)) as client:
        bob = login(w, "bob")
        assert (
            await client.post("/documents", json={"title": "t"}, headers=bob)
        ).status_code == 201
        async with w.db.sessions() as session:
            await session.execute(
                text("UPDATE memberships SET role = 'viewer' WHERE user_id = :id"),
                {"id": w.users["bob"]},
            )
            await session.commit()
        assert (
            await client.post("/documents", json={"title": "t"}, headers=bob)
        ).status_code == 403
        assert (
            await client.get("/documents", headers=login(w, "bob", "globex"))
        ).status_code == 401


async def test_created_documents_take_owner_and_tenant_from_the_caller(w: World) -> None:
    async with asgi_client(build_documents_app(w.db, TOKENS)) as client:
        sneaky = await client.post(
            "/documents", json={"title": "t", "tenant_id": w.globex}, headers=login(w, "bob")
        )
        made = await client.post("/documents", json={"title": "t"}, headers=login(w, "bob"))
    assert sneaky.status_code == 422 and made.status_code == 201
    async with w.db.sessions() as session:
        row = await session.get(Document, made.json()["id"])
    assert row is not None and (row.tenant_id, row.owner_id) == (w.acme, w.users["bob"])


async def test_only_the_owner_grants_admin(w: World) -> None:
    async with w.db.sessions() as session:
        await session.execute(
            text("UPDATE memberships SET role = 'admin' WHERE user_id = :id"),
            {"id": w.users["bob"]},
        )
        await session.commit()
    async with asgi_client(build_documents_app(w.db, TOKENS)) as client:
        by_admin = await client.put(
            f"/members/{w.users['carol']}/role", json={"role": "admin"}, headers=login(w, "bob")
        )
        by_owner = await client.put(
            f"/members/{w.users['carol']}/role", json={"role": "admin"}, headers=login(w, "alice")
        )
        to_owner = await client.put(
            f"/members/{w.users['carol']}/role", json={"role": "owner"}, headers=login(w, "alice")
        )
        foreign = await client.put(
            f"/members/{w.users['dave']}/role", json={"role": "viewer"}, headers=login(w, "alice")
        )
    assert (
        by_admin.status_code,
        by_owner.status_code,
        to_owner.status_code,
        foreign.status_code,
    ) == (403, 200, 422, 404)


async def test_every_route_is_guarded_and_declares_its_refusals(w: World) -> None:
    app = build_documents_app(w.db, TOKENS)
    assert unprotected_routes(app) == []
    assert (
        unprotected_routes(build_naive_documents_app(w.db, TOKENS)) == []
    )  # authenticated, still broken
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "WWW-Authenticate" in responses["401"]["headers"], (method, path)
            if "{" in path:
                assert {"403", "404"} <= set(responses), (method, path)


async def test_the_membership_lookup_is_one_statement(w: World) -> None:
    async with asgi_client(build_documents_app(w.db, TOKENS)) as client:
        headers = login(w, "bob")
        await client.get("/me", headers=headers)  # warm up
        with count_statements(w.db.engine) as sql:
            assert (await client.get("/me", headers=headers)).status_code == 200
    assert len(sql.statements) == 1 and not sql.writes


def test_require_permission_refuses_a_typo_at_build_time() -> None:
    async def authenticate() -> None: ...

    with pytest.raises(ValueError):
        require_permission("documents:wirte", authenticate)  # type: ignore[arg-type]
    assert (
        ROLE_PERMISSIONS[Role.OWNER]
        > ROLE_PERMISSIONS[Role.ADMIN]
        > ROLE_PERMISSIONS[Role.MEMBER]
        > ROLE_PERMISSIONS[Role.VIEWER]
    )


def test_cedar_and_the_hand_written_policy_agree_on_every_combination() -> None:
    weekday, saturday = datetime(2026, 1, 5, 9, tzinfo=UTC), datetime(2026, 1, 10, 9, tzinfo=UTC)
    for role in Role:
        for clearance in Classification:
            for classification in Classification:
                for region in ("eu", "us"):
                    for tenant in (1, 2):
                        for action in ("read", "write", "delete"):
                            for now in (weekday, saturday):
                                request = (
                                    Subject(1, 1, role, clearance, region),
                                    action,
                                    Resource(tenant, 2, classification, "eu"),
                                    Environment(now),
                                )
                                assert bool(decide(*request)) == bool(cedar_decide(*request)), (
                                    request
                                )


def test_rls_policy_text_is_there_for_the_services_suite() -> None:
    assert (
        "ENABLE ROW LEVEL SECURITY" in POSTGRES_RLS_DDL
        and "FORCE ROW LEVEL SECURITY" in POSTGRES_RLS_DDL
    )
    assert "current_setting('app.tenant_id', true)" in POSTGRES_RLS_DDL
    assert "set_config('app.tenant_id', :tenant_id, true)" in SET_TENANT_SQL
