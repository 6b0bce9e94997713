"""What chapter 3's cases share: tokens made by hand, keys, calls to the learner's code that
explain the usual mix-ups, and databases (one per case; file-backed when requests race).

The cases themselves live in ``ch03`` (verifying tokens: 03.1, 03.2, 03.6) and
``ch03_storage`` (server-side state: 03.3, 03.4, 03.5).
"""

import base64
import contextlib
import functools
import hashlib
import hmac
import inspect
import json
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from sqlalchemy.ext.asyncio import async_sessionmaker

from authcourse.checks import CheckFailed, expect
from authcourse.checks.core import Namespace
from authcourse.checks.racing import TakingTurnsSession, file_database, racing_sessions
from authcourse.clock import FrozenClock
from authcourse.lab_helpers.ch03 import AUDIENCE, ISSUER
from clouddocs.db import Database, Tenant, User
from clouddocs.jwt_tokens import (
    ACCESS_TOKEN_TYPE,
    InvalidToken,
    KeyRing,
    TokenService,
    TokenSettings,
    new_hs256_key,
)

#: The lab's verifiers take the secret as bytes; these are the checks' own fixed keys.
SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(32, 64))
TOKEN_LIFETIME = timedelta(hours=12)
NOW = 1_767_603_600  # 2026-01-05 09:00 UTC, FrozenClock's default


# --- tokens made by hand ---------------------------------------------------------------------
def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def claims(clock: FrozenClock, **overrides: Any) -> dict[str, Any]:
    """A valid access token's claims; ``name=None`` leaves ``name`` out."""
    now = int(clock.time())
    made: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "42",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "jti": "check-token",
    }
    made.update(overrides)
    return {name: value for name, value in made.items() if value is not None}


def hand_made(
    header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes] | None
) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()) if sign else b'')}"


def hs256(secret: bytes, payload: dict[str, Any], typ: str = ACCESS_TOKEN_TYPE) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers={"typ": typ})


def hmac_with(key: bytes) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(key, data, hashlib.sha256).digest()


@functools.cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    # Generating RSA keys takes ~100 ms; each named key is made once per process.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def ed_key(name: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- calling the learner's code ---------------------------------------------------------------
def call_plain(ns: Namespace, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call a function the lab defines with ``def``; an ``async def`` is named as the mistake."""
    function = ns[name]
    if inspect.iscoroutinefunction(function):
        raise CheckFailed(
            f"calling your {name}", "a plain function (no `async`)", "an `async def` function"
        )
    result = function(*args, **kwargs)
    if inspect.iscoroutine(result):
        result.close()  # never awaited on purpose: close it so Python does not warn
        raise CheckFailed(
            f"calling your {name}", "a plain function (no `async`)", "a coroutine back"
        )
    return result


async def call_async(ns: Namespace, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call and await a function the lab defines with ``async def``."""
    result = ns[name](*args, **kwargs)
    if not inspect.isawaitable(result):
        raise CheckFailed(
            f"calling your {name}",
            "an `async def` function (the app awaits it)",
            f"a plain function that returned {result!r}",
        )
    return await result


def wall_clock_hint(error: BaseException) -> str:
    """Why PyJWT refused a fresh token, when it judged the time by the computer's clock."""
    if isinstance(error.__cause__, jwt.ExpiredSignatureError) or "has expired" in str(error):
        return (
            f"InvalidToken: {error}. PyJWT compared exp with the computer's clock, but the"
            " token was issued at the time of the clock you were given (it can be frozen in"
            " the past): switch PyJWT's exp/iat checks off and compare with clock.time()"
        )
    if isinstance(error.__cause__, jwt.ImmatureSignatureError) or "not yet valid" in str(error):
        return (
            f"InvalidToken: {error}. PyJWT compared iat with the computer's clock, not the"
            " clock you were given: switch its iat check off and compare with clock.time()"
        )
    return f"InvalidToken: {error}"


def expect_accepted(call: Callable[[], Any], tried: str) -> Any:
    """The claims the learner's verifier returns for a token it must accept."""
    try:
        return call()
    except InvalidToken as error:
        raise CheckFailed(tried, "its claims", wall_clock_hint(error)) from None


def expect_refused(call: Callable[[], object], tried: str, *, hs256_with_rsa: bool = False) -> None:
    """The learner's verifier must raise ``InvalidToken`` (PyJWT's errors are let through)."""
    try:
        result = call()
    except (InvalidToken, jwt.PyJWTError):
        return
    except TypeError as error:
        if not hs256_with_rsa:
            raise
        # PyJWT's HMAC gets the RSA key *object* and cannot use it: a crash by luck, not a
        # refusal. With the key as PEM bytes (as some code passes it) the forgery verifies.
        raise CheckFailed(
            tried,
            "InvalidToken: HS256 must not be allowed when the key is an RSA key",
            f"a TypeError from PyJWT ({error}): your verifier let the token's header choose"
            " HS256 and handed the RSA key to HMAC",
        ) from None
    expect(False, tried, "InvalidToken to be raised", f"it was accepted and returned {result!r}")


# --- databases --------------------------------------------------------------------------------
async def _seed(db: Database, emails: tuple[str, ...]) -> list[int]:
    await db.create_all()
    async with db.sessions() as session:
        tenant = Tenant(name="Acme")
        session.add(tenant)
        await session.flush()
        users = [User(tenant_id=tenant.id, email=email, display_name=email) for email in emails]
        session.add_all(users)
        await session.commit()
        return [user.id for user in users]


@contextlib.asynccontextmanager
async def users_db(*emails: str) -> AsyncIterator[tuple[Database, list[int]]]:
    """A fresh in-memory database with these users, disposed of even when the learner's
    code raises."""
    db = Database()
    try:
        yield db, await _seed(db, emails)
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def racing_db(
    *emails: str, autocommit: bool = False
) -> AsyncIterator[tuple[Database, async_sessionmaker[TakingTurnsSession], list[int]]]:
    """A SQLite *file* in a temporary folder, and sessions that take turns.

    A file, because the in-memory database is one shared connection: two "concurrent"
    requests would share one transaction and prove nothing. ``autocommit=True`` makes each
    statement its own transaction: SQLite would otherwise serialise two transactions that
    both write, which hides races that PostgreSQL (READ COMMITTED) lets happen, such as two
    UPDATEs that both match no row and then both INSERT.
    """
    with tempfile.TemporaryDirectory() as folder:
        async with file_database(folder) as db:
            user_ids = await _seed(db, emails)
            yield db, racing_sessions(db, autocommit=autocommit), user_ids


def unfinished_first(outcomes: Sequence[Any]) -> Sequence[Any]:
    """``asyncio.gather(..., return_exceptions=True)``'s outcomes, after raising a stub's
    ``NotImplementedError`` (reported as not started, not as a lost race)."""
    for outcome in outcomes:
        if isinstance(outcome, NotImplementedError):
            raise outcome
    return outcomes


def token_service() -> TokenService:
    return TokenService(
        KeyRing(new_hs256_key("check")), TokenSettings(ISSUER, AUDIENCE), FrozenClock()
    )
