"""clouddocs.patterns.startup_saas_app: chapter 3's login + chapter 7's roles, tenant-filtered."""

import pytest
from sqlalchemy import insert

from authcourse import FrozenClock, asgi_client
from clouddocs.db import Database, Tenant, User
from clouddocs.jwt_tokens import KeyRing, TokenService, TokenSettings, new_hs256_key
from clouddocs.passwords import TEST_ARGON2, PasswordHasher
from clouddocs.patterns import startup_saas_app
from clouddocs.rbac import Membership
from clouddocs.refresh_tokens import RefreshTokens
from clouddocs.token_app import TokenAppSettings

PASSWORD = "correct horse battery staple 42"


@pytest.mark.anyio
async def test_roles_gate_the_team_routes_within_the_tenant() -> None:
    from clouddocs.accounts import register_user

    clock = FrozenClock()
    db = Database()
    await db.create_all()
    hasher = PasswordHasher(TEST_ARGON2)
    tokens = TokenService(KeyRing(new_hs256_key("k")), TokenSettings("https://clouddocs.test", "api"), clock=clock)
    app = startup_saas_app(TokenAppSettings(db=db, tokens=tokens, refresh=RefreshTokens(tokens), hasher=hasher))
    try:
        async with db.sessions() as s:
            s.add_all([Tenant(id=1, name="Acme"), Tenant(id=2, name="Other")])
            await s.flush()
            for email, tenant in [("admin@acme.test", 1), ("viewer@acme.test", 1), ("x@other.test", 2)]:
                await register_user(s, email=email, password=PASSWORD, tenant_id=tenant, display_name="u", hasher=hasher)
            await s.commit()
        async with db.engine.begin() as c:
            ids = {row.email: row.id for row in (await c.execute(User.__table__.select()))}
            await c.execute(insert(Membership), [
                {"tenant_id": 1, "user_id": ids["admin@acme.test"], "role": "admin"},
                {"tenant_id": 1, "user_id": ids["viewer@acme.test"], "role": "viewer"},
                {"tenant_id": 2, "user_id": ids["x@other.test"], "role": "owner"},
            ])

        async with asgi_client(app) as http:
            async def login(email: str) -> dict[str, str]:
                r = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
                assert r.status_code == 200, r.text
                return {"Authorization": f"Bearer {r.json()['access_token']}"}

            admin, viewer = await login("admin@acme.test"), await login("viewer@acme.test")
            team = await http.get("/team", headers=viewer)
            assert team.status_code == 200 and {m["role"] for m in team.json()} == {"admin", "viewer"}
            assert (await http.delete(f"/team/{ids['admin@acme.test']}", headers=viewer)).status_code == 403
            assert (await http.delete(f"/team/{ids['x@other.test']}", headers=admin)).status_code == 404  # BOLA
            assert (await http.delete(f"/team/{ids['viewer@acme.test']}", headers=admin)).status_code == 204
            # Removed: the role is read per request, so the viewer's still-valid token no longer gets in.
            assert (await http.get("/team", headers=viewer)).status_code == 403
            anonymous = await http.get("/team")
            assert anonymous.status_code == 401 and "www-authenticate" in anonymous.headers
    finally:
        await db.dispose()


def test_the_team_routes_declare_their_403_in_openapi() -> None:
    # Found by schema fuzzing: a member's DELETE /team/{id} answers 403, which OpenAPI did not list.
    from clouddocs.patterns import TEAM_FORBIDDEN

    tokens = TokenService(KeyRing(new_hs256_key("k")), TokenSettings("https://clouddocs.test", "api"))
    app = startup_saas_app(TokenAppSettings(db=Database(), tokens=tokens, refresh=RefreshTokens(tokens),
                                            hasher=PasswordHasher(TEST_ARGON2)))
    paths = app.openapi()["paths"]
    assert "403" in paths["/team"]["get"]["responses"]
    assert "403" in paths["/team/{user_id}"]["delete"]["responses"]
    assert set(TEAM_FORBIDDEN) == {403}
