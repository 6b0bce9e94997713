"""The opt-in credential cache (issue 16): its revocation semantics and its budgets.

What it promises (``clouddocs.credential_cache``): the process that ends a credential refuses
it on the very next request; another process, with its own cache, may accept it for at most
the TTL; refusals are never cached; keys are digests; the size is bounded. "Another
process" is simulated by two app instances sharing one file-backed SQLite database, each
with its own cache, on one ``FrozenClock``: no sleeping.

Budgets (deterministic, ``tests/hot_path.py``): with the cache on, a hit runs no SQL
statement and no threadpool hop; a miss runs exactly one statement.
"""

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from hot_path import count_statements, count_threadpool_hops

import clouddocs.sessions as sessions_module
from authcourse import FrozenClock, asgi_client
from clouddocs.accounts import register_user
from clouddocs.apikeys import ApiKeyGuard, create_api_key_app, issue_api_key
from clouddocs.credential_cache import MAX_TTL_SECONDS, CredentialCache
from clouddocs.db import Database, Tenant, User
from clouddocs.jwt_tokens import KeyRing, TokenService, TokenSettings, new_hs256_key
from clouddocs.passwords import TEST_ARGON2, PasswordHasher
from clouddocs.refresh_tokens import RefreshTokens
from clouddocs.session_app import SessionAppSettings, create_session_app
from clouddocs.sessions import SESSION_COOKIE, CurrentSession, SessionManager
from clouddocs.token_app import TokenAppSettings, create_token_app, require_access_token
from clouddocs.token_revocation import FAMILY_CLAIM, VERSION_CLAIM

pytestmark = pytest.mark.anyio

ADA = {"email": "ada@example.com", "password": "correct horse battery staple"}
ORIGIN = {"Origin": "https://clouddocs.test"}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- the cache itself -------------------------------------------------------------------


def test_the_ttl_is_bounded_and_the_size_too() -> None:
    for ttl in (0, -1, MAX_TTL_SECONDS + 0.001, 3600):
        with pytest.raises(ValueError, match="ttl"):
            CredentialCache[int](ttl=ttl)
    with pytest.raises(ValueError, match="maxsize"):
        CredentialCache[int](maxsize=0)
    cache = CredentialCache[int](maxsize=3)
    for n in range(10):
        assert cache.put(digest(str(n)), n, cache.ticket())
    assert len(cache) == 3


def test_keys_must_be_digests_never_the_credential() -> None:
    cache = CredentialCache[int]()
    for raw in ("cdk_live_" + "a" * 28, "ug81PEYB4-pOKDivyAHPwq-I8L9cacbuOUNzywx9VSo", "A" * 64):
        with pytest.raises(ValueError, match="digest"):
            cache.put(raw, 1, cache.ticket())
    assert len(cache) == 0


def test_entries_expire_at_the_ttl_on_the_injected_clock() -> None:
    clock = FrozenClock()
    cache = CredentialCache[int](ttl=5, clock=clock)
    cache.put(digest("x"), 1, cache.ticket())
    clock.advance(seconds=4.9)
    assert cache.get(digest("x")) == 1
    clock.advance(seconds=0.1)
    assert cache.get(digest("x")) is None


def test_a_forget_voids_the_tickets_of_misses_in_flight() -> None:
    cache = CredentialCache[int]()
    ticket = cache.ticket()  # a miss starts its database read ...
    cache.forget(digest("someone else"))  # ... a revocation commits meanwhile ...
    assert not cache.put(digest("x"), 1, ticket)  # ... so its answer is not stored
    assert cache.get(digest("x")) is None
    assert cache.put(digest("x"), 1, cache.ticket())


# --- sessions (chapter 2) -----------------------------------------------------------------


@dataclass
class SessionWorld:
    db: Database
    clock: FrozenClock
    user_id: int


@pytest.fixture
async def session_world(tmp_path: Path) -> AsyncIterator[SessionWorld]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}")
    await db.create_all()
    async with db.sessions() as session:
        session.add(Tenant(id=1, name="Acme"))
        await session.commit()
        user = await register_user(
            session, tenant_id=1, display_name="Ada", hasher=PasswordHasher(TEST_ARGON2), **ADA
        )
    yield SessionWorld(db, FrozenClock(), user.id)
    await db.dispose()


def session_worker(world: SessionWorld) -> SessionManager:
    return SessionManager(world.db, clock=world.clock, cache=CredentialCache(clock=world.clock))


async def test_session_logout_is_immediate_here_and_at_most_the_ttl_elsewhere(
    session_world: SessionWorld,
) -> None:
    world = session_world
    a, b = session_worker(world), session_worker(world)
    async with world.db.sessions() as db:
        session_id = await a.start(db, world.user_id)
    assert await a.resolve(session_id) and await b.resolve(session_id)
    async with world.db.sessions() as db:
        await a.end(db, session_id)
    assert await a.resolve(session_id) is None  # the very next request, same process
    world.clock.advance(seconds=4.9)
    assert await b.resolve(session_id) == CurrentSession(world.user_id, session_id)
    world.clock.advance(seconds=0.1)
    assert await b.resolve(session_id) is None  # the TTL is the bound


async def test_log_out_everywhere_and_login_replacing_an_id_forget_too(
    session_world: SessionWorld,
) -> None:
    world = session_world
    sessions = session_worker(world)
    async with world.db.sessions() as db:
        laptop = await sessions.start(db, world.user_id)
        phone = await sessions.start(db, world.user_id)
    assert await sessions.resolve(laptop) and await sessions.resolve(phone)
    async with world.db.sessions() as db:
        assert await sessions.end_all(db, world.user_id) == 2
    assert await sessions.resolve(laptop) is None and await sessions.resolve(phone) is None
    async with world.db.sessions() as db:
        planted = await sessions.start(db, world.user_id)
        assert await sessions.resolve(planted)
        await sessions.start(db, world.user_id, replacing=planted)
    assert await sessions.resolve(planted) is None


async def test_a_logout_racing_with_a_miss_is_not_undone_by_the_miss(
    session_world: SessionWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = session_world
    sessions = session_worker(world)
    async with world.db.sessions() as db:
        session_id = await sessions.start(db, world.user_id)
    real_lookup = sessions_module.lookup_session

    async def lookup_then_logout(*args: Any) -> Any:
        found = await real_lookup(*args)  # read "live" ...
        async with world.db.sessions() as db:
            await sessions.end(db, session_id)  # ... then the logout commits
        return found

    monkeypatch.setattr(sessions_module, "lookup_session", lookup_then_logout)
    assert await sessions.resolve(session_id)  # that request was already past its check
    monkeypatch.setattr(sessions_module, "lookup_session", real_lookup)
    assert len(sessions.cache or ()) == 0
    assert await sessions.resolve(session_id) is None


async def test_refusals_are_never_cached_and_timeouts_still_apply(
    session_world: SessionWorld,
) -> None:
    world = session_world
    sessions = session_worker(world)
    assert await sessions.resolve("not-a-session") is None
    assert sessions.cache is not None and len(sessions.cache) == 0
    async with world.db.sessions() as db:
        session_id = await sessions.start(db, world.user_id)
    assert await sessions.resolve(session_id)
    world.clock.advance(minutes=31)  # idle: a cached entry must not keep it alive
    assert await sessions.resolve(session_id) is None


async def test_a_session_hit_costs_no_statement_and_no_hop_a_miss_one(
    session_world: SessionWorld,
) -> None:
    world = session_world
    sessions = session_worker(world)
    app = FastAPI()

    @app.get("/me")
    async def me(current: Annotated[CurrentSession, Depends(sessions.require_session)]) -> Any:
        return {"user": current.user_id}

    async with world.db.sessions() as db:
        session_id = await sessions.start(db, world.user_id)
    cookie = {"Cookie": f"{SESSION_COOKIE}={session_id}"}
    async with asgi_client(app) as client:
        with count_statements(world.db.engine) as miss, count_threadpool_hops() as miss_hops:
            assert (await client.get("/me", headers=cookie)).status_code == 200
        with count_statements(world.db.engine) as hit, count_threadpool_hops() as hit_hops:
            assert (await client.get("/me", headers=cookie)).status_code == 200
        world.clock.advance(seconds=61)  # the once-a-minute touch is due: the database again
        with count_statements(world.db.engine) as touch:
            assert (await client.get("/me", headers=cookie)).status_code == 200
    assert len(miss.statements) == 1 and miss.writes == [] and miss_hops.count == 0
    assert hit.statements == [] and hit_hops.count == 0
    assert len(touch.statements) == 2 and len(touch.writes) == 1


async def test_two_session_app_workers_on_one_database(session_world: SessionWorld) -> None:
    world = session_world

    def worker() -> Any:
        return create_session_app(
            SessionAppSettings(
                database=world.db,
                hasher=PasswordHasher(TEST_ARGON2),
                clock=world.clock,
                session_cache=CredentialCache(clock=world.clock),
            )
        )

    app_a, app_b = worker(), worker()
    async with asgi_client(app_a, headers=ORIGIN) as a, asgi_client(app_b, headers=ORIGIN) as b:
        assert (await a.post("/login", json=ADA)).status_code == 200
        cookie = {"Cookie": f"{SESSION_COOKIE}={a.cookies[SESSION_COOKIE]}"}
        assert (await b.get("/me", headers=cookie)).status_code == 200  # cached in B
        csrf = (await a.get("/session")).json()["csrf_token"]
        assert (await a.post("/logout", headers={"X-CSRF-Token": csrf})).status_code == 204
        a.cookies.clear()
        assert (await a.get("/me", headers=cookie)).status_code == 401
        world.clock.advance(seconds=4.9)
        assert (await b.get("/me", headers=cookie)).status_code == 200
        world.clock.advance(seconds=0.1)
        assert (await b.get("/me", headers=cookie)).status_code == 401


# --- API keys (chapter 4) -----------------------------------------------------------------


@pytest.fixture
async def key_world(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    clock, db = FrozenClock(), Database(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    await db.create_all()
    async with db.sessions() as session:
        session.add(Tenant(id=1, name="Acme"))
        await session.commit()
        reader = await issue_api_key(
            session, tenant_id=1, name="reader", scopes=["docs:read"], clock=clock
        )
        admin = await issue_api_key(
            session, tenant_id=1, name="admin", scopes=["keys:manage", "docs:read"], clock=clock
        )
    yield {
        "db": db,
        "clock": clock,
        "reader": reader,
        "read": {"Authorization": f"Bearer {reader.plaintext}"},
        "admin": {"Authorization": f"Bearer {admin.plaintext}"},
    }
    await db.dispose()


def key_worker(world: dict[str, Any]) -> tuple[ApiKeyGuard, FastAPI]:
    guard = ApiKeyGuard(world["db"], world["clock"], cache=CredentialCache(clock=world["clock"]))
    return guard, create_api_key_app(guard)


async def test_a_revoked_key_is_refused_here_at_once_and_elsewhere_within_the_ttl(
    key_world: dict[str, Any],
) -> None:
    world, clock = key_world, key_world["clock"]
    (_, app_a), (_, app_b) = key_worker(world), key_worker(world)
    key_id = world["reader"].record.id
    async with asgi_client(app_a) as a, asgi_client(app_b) as b:
        assert (await a.get("/documents", headers=world["read"])).status_code == 200
        assert (await b.get("/documents", headers=world["read"])).status_code == 200
        revoked = await a.delete(f"/api-keys/{key_id}", headers=world["admin"])
        assert revoked.status_code == 204
        assert (await a.get("/documents", headers=world["read"])).status_code == 401
        clock.advance(seconds=4.9)
        assert (await b.get("/documents", headers=world["read"])).status_code == 200
        clock.advance(seconds=0.1)
        assert (await b.get("/documents", headers=world["read"])).status_code == 401


async def test_rotation_forgets_the_old_key_and_refusals_are_not_cached(
    key_world: dict[str, Any],
) -> None:
    world = key_world
    guard, app = key_worker(world)
    key_id = world["reader"].record.id
    async with asgi_client(app) as client:
        assert (await client.get("/documents", headers=world["read"])).status_code == 200
        assert guard.cache is not None and len(guard.cache) == 1  # the reader
        rotated = await client.post(f"/api-keys/{key_id}/rotate", headers=world["admin"])
        assert rotated.status_code == 201
        assert len(guard.cache) == 1  # the admin, who just called: the reader's entry is gone
        with count_statements(world["db"].engine) as sql:  # its expiry moved: ask again
            assert (await client.get("/documents", headers=world["read"])).status_code == 200
        assert len(sql.statements) == 1
        junk = {"Authorization": "Bearer cdk_live_" + "A" * 28}
        assert (await client.get("/documents", headers=junk)).status_code == 401
        assert len(guard.cache) == 2  # the reader again and the admin: nothing for a refusal


async def test_an_api_key_hit_costs_no_statement_and_no_hop_a_miss_one(
    key_world: dict[str, Any],
) -> None:
    world = key_world
    guard, app = key_worker(world)
    async with asgi_client(app) as client:
        await client.get("/documents", headers=world["read"])  # first use: SELECT + touch
        assert guard.cache is not None
        guard.cache.clear()
        with count_statements(world["db"].engine) as miss, count_threadpool_hops() as miss_hops:
            assert (await client.get("/documents", headers=world["read"])).status_code == 200
        with count_statements(world["db"].engine) as hit, count_threadpool_hops() as hit_hops:
            assert (await client.get("/documents", headers=world["read"])).status_code == 200
        world["clock"].advance(seconds=61)  # last_used_at is due: the database again
        with count_statements(world["db"].engine) as touch:
            assert (await client.get("/documents", headers=world["read"])).status_code == 200
    assert len(miss.statements) == 1 and miss.writes == [] and miss_hops.count == 0
    assert hit.statements == [] and hit_hops.count == 0
    assert len(touch.statements) == 2 and len(touch.writes) == 1


# --- JWT revocation (chapter 3) -----------------------------------------------------------


@pytest.fixture
async def jwt_world(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'jwt.db'}")
    await db.create_all()
    clock, hasher = FrozenClock(), PasswordHasher(TEST_ARGON2)
    async with db.sessions() as session:
        session.add(Tenant(id=1, name="Acme"))
        await session.commit()
        await register_user(session, tenant_id=1, display_name="Ada", hasher=hasher, **ADA)
    tokens = TokenService(
        KeyRing(new_hs256_key("k")),
        TokenSettings("https://clouddocs.test", "https://api.clouddocs.test"),
        clock,
    )

    def worker() -> tuple[TokenAppSettings, FastAPI]:
        settings = TokenAppSettings(
            db=db,
            tokens=tokens,
            refresh=RefreshTokens(tokens),
            hasher=hasher,
            revocation_cache=CredentialCache(clock=clock),
        )
        return settings, create_token_app(settings)

    yield {"db": db, "clock": clock, "tokens": tokens, "worker": worker}
    await db.dispose()


@pytest.mark.parametrize("how", ["logout", "logout everywhere", "refresh token reuse"])
async def test_a_revoked_access_token_is_refused_here_at_once_and_elsewhere_within_the_ttl(
    jwt_world: dict[str, Any], how: str
) -> None:
    clock = jwt_world["clock"]
    (_, app_a), (_, app_b) = jwt_world["worker"](), jwt_world["worker"]()
    async with asgi_client(app_a) as a, asgi_client(app_b) as b:
        login = await a.post("/auth/login", json=ADA)
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert (await a.get("/me", headers=bearer)).status_code == 200
        assert (await b.get("/me", headers=bearer)).status_code == 200
        if how == "logout":
            assert (await a.delete("/auth/refresh", headers=bearer)).status_code == 204
        elif how == "logout everywhere":
            ended = await a.post("/auth/logout-everywhere", headers=bearer)
            assert ended.status_code == 204
        else:
            spent = a.cookies.get("__Secure-refresh")
            assert (await a.post("/auth/refresh")).status_code == 200
            a.cookies.set("__Secure-refresh", spent)  # replay the spent one: family revoked
            assert (await a.post("/auth/refresh")).status_code == 401
        assert (await a.get("/me", headers=bearer)).status_code == 401
        clock.advance(seconds=4.9)
        assert (await b.get("/me", headers=bearer)).status_code == 200
        clock.advance(seconds=0.1)
        assert (await b.get("/me", headers=bearer)).status_code == 401


async def test_a_jwt_hit_costs_no_statement_and_no_hop_a_miss_one(
    jwt_world: dict[str, Any],
) -> None:
    db, tokens = jwt_world["db"], jwt_world["tokens"]
    cache: CredentialCache[Any] = CredentialCache(clock=jwt_world["clock"])
    async with db.sessions() as session:
        issued = await RefreshTokens(tokens).start(session, 1)
    app = FastAPI()

    @app.get("/guarded", dependencies=[Depends(require_access_token(tokens, db, cache))])
    async def guarded() -> dict[str, bool]:
        return {"ok": True}

    token = tokens.issue("1", claims={VERSION_CLAIM: 0, FAMILY_CLAIM: issued.family_id})
    bearer = {"Authorization": f"Bearer {token}"}
    async with asgi_client(app) as client:
        with count_statements(db.engine) as miss, count_threadpool_hops() as miss_hops:
            assert (await client.get("/guarded", headers=bearer)).status_code == 200
        with count_statements(db.engine) as hit, count_threadpool_hops() as hit_hops:
            assert (await client.get("/guarded", headers=bearer)).status_code == 200
        # A token that fails the check is refused every time, and never cached.
        stranger = tokens.issue("1", claims={VERSION_CLAIM: 0, FAMILY_CLAIM: "no-such-family"})
        for _ in range(2):
            refused = await client.get("/guarded", headers={"Authorization": f"Bearer {stranger}"})
            assert refused.status_code == 401
    assert len(miss.statements) == 1 and miss_hops.count == 0
    assert hit.statements == [] and hit_hops.count == 0
    assert len(cache) == 1 and cache.get(digest(token)) is not None
    assert User  # the users table backs the login above
