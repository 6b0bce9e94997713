"""The chapter 2-4 apps as one uvicorn worker, configured from the environment.

``uvicorn --app-dir tests/services --factory worker_app:create_app`` serves chapter 2's
session app under ``/ch2``, chapter 3's token app under ``/ch3`` and chapter 4's API-key
app under ``/ch4``, and the same API-key app with the opt-in credential cache
(``clouddocs.credential_cache``, TTL from the environment) under ``/ch4-cached``. Everything that must be the same on every worker comes from the
environment (a real deployment's secret store): the database and Redis URLs, the lockout
HMAC key and the JWT signing key. Every response names its worker (``X-Worker``), so a test
can show its requests really alternated.

    CLOUDDOCS_DATABASE_URL   postgresql+asyncpg://...
    CLOUDDOCS_REDIS_URL      redis://127.0.0.1:PORT/N
    CLOUDDOCS_LOCKOUT_KEY    base64url, 32 bytes
    CLOUDDOCS_JWT_KEY        base64url, 32 bytes (HS256)
    CLOUDDOCS_WORKER         a name for X-Worker
    CLOUDDOCS_REGISTER_RATE, CLOUDDOCS_KEY_RATE   the limits under test
    CLOUDDOCS_CACHE_TTL      seconds: the cached API-key app's TTL
"""

from __future__ import annotations

import base64
import os
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from clouddocs.apikeys import ApiKeyGuard, KeyLimiter, create_api_key_app
from clouddocs.credential_cache import CredentialCache
from clouddocs.db import Database
from clouddocs.jwt_tokens import HS256Secret, KeyRing, SigningKey, TokenService, TokenSettings
from clouddocs.passwords import TEST_ARGON2, PasswordHasher
from clouddocs.refresh_tokens import RefreshTokens
from clouddocs.session_app import SessionAppSettings, create_session_app
from clouddocs.token_app import TokenAppSettings, create_token_app

ISSUER, AUDIENCE = "https://clouddocs.test", "https://api.clouddocs.test"
#: Cheap hashing: the tests measure sharing between workers, not Argon2's cost.
HASHER = PasswordHasher(TEST_ARGON2)


def _key(name: str) -> bytes:
    text = os.environ[name]
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def create_app() -> FastAPI:
    env = os.environ
    database = Database(env["CLOUDDOCS_DATABASE_URL"])
    redis, lockout_key = env["CLOUDDOCS_REDIS_URL"], _key("CLOUDDOCS_LOCKOUT_KEY")
    session_app = create_session_app(
        SessionAppSettings(
            database=database,
            hasher=HASHER,
            login_rate_per_ip="1000/minute",
            register_rate_per_ip=env["CLOUDDOCS_REGISTER_RATE"],
            rate_limit_storage=redis,
            lockout_key=lockout_key,
        )
    )
    signing = SigningKey("k1", "HS256", HS256Secret.from_base64url(env["CLOUDDOCS_JWT_KEY"]))
    tokens = TokenService(KeyRing(signing), TokenSettings(ISSUER, AUDIENCE))
    token_app = create_token_app(
        TokenAppSettings(
            db=database,
            tokens=tokens,
            refresh=RefreshTokens(tokens),
            hasher=HASHER,
            lockout_key=lockout_key,
            login_rate_per_ip="1000/minute",
            rate_limit_storage=redis,
        )
    )
    guard = ApiKeyGuard(
        database,
        limiter=KeyLimiter(env["CLOUDDOCS_KEY_RATE"], redis),
        failed_attempts=KeyLimiter("1000/minute", redis),
    )
    # Each worker has its own cache (process memory): only the database is shared.
    cached_guard = ApiKeyGuard(
        database,
        limiter=KeyLimiter("1000/minute", redis),
        failed_attempts=KeyLimiter("1000/minute", redis),
        cache=CredentialCache(ttl=float(env["CLOUDDOCS_CACHE_TTL"])),
    )
    app = FastAPI()
    app.mount("/ch2", session_app)
    app.mount("/ch3", token_app)
    app.mount("/ch4", create_api_key_app(guard))
    app.mount("/ch4-cached", create_api_key_app(cached_guard))
    worker = env["CLOUDDOCS_WORKER"]

    @app.middleware("http")
    async def name_the_worker(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["X-Worker"] = worker
        return response

    return app
