"""Reference numbers, without a budget: the building blocks, next to what facts.md quotes.

Each row times one operation alone (``per_call``/``per_await``, GC paused while
sampling), so a reader can see where a request's time goes: hashing, token
verification, a database lookup through each layer.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable

from authcourse.bench.report import Row
from authcourse.bench.timing import Timing, format_duration, per_await, per_call

Progress = Callable[[str], None]


def measure_reference(rounds: int, hash_rounds: int, progress: Progress) -> list[Row]:
    """Costs of the building blocks, next to the figures facts.md quotes."""
    import hashlib
    import hmac
    import sqlite3

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from clouddocs.apikeys import generate_api_key, key_digest
    from clouddocs.passwords import OWASP_ARGON2, PasswordHasher
    from clouddocs.tokens import KeyRing, TokenService, TokenSettings, new_hs256_key

    rows: list[Row] = []
    secret = secrets.token_bytes(32)  # PyJWT alone, below: any 256 random bits

    def add(timing: Timing, facts: str) -> None:
        rows.append(_reference_row(timing, f"facts.md: {facts}"))

    progress("reference: Argon2id at OWASP parameters")
    hasher = PasswordHasher(OWASP_ARGON2)
    add(
        per_call(
            lambda: hasher.hash("correct horse battery staple"),
            rounds=hash_rounds,
            warmup=1,
            label="Argon2id hash, OWASP m=19 MiB t=2 p=1",
        ),
        "~17–40 ms",
    )

    progress("reference: JWT, API key and SQLite lookups")
    claims = {"sub": "1", "aud": "clouddocs-api", "iss": "https://clouddocs.test"}
    hs256_token = jwt.encode({**claims, "exp": int(time.time()) + 600}, secret, "HS256")
    add(
        per_call(
            lambda: jwt.decode(hs256_token, secret, algorithms=["HS256"], audience="clouddocs-api"),
            rounds=rounds,
            label="PyJWT HS256 decode",
        ),
        "~30 µs",
    )
    service = TokenService(
        KeyRing(new_hs256_key("bench")),
        TokenSettings(issuer="https://clouddocs.test", audience="clouddocs-api"),
    )
    access = service.issue("1")
    add(
        per_call(
            lambda: service.verify(access),
            rounds=rounds,
            label="clouddocs TokenService.verify (HS256)",
        ),
        "not quoted (PyJWT decode ~30 µs + header and claim checks)",
    )
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_key = private_key.public_key()
    rs256_token = jwt.encode({**claims, "exp": int(time.time()) + 600}, private_key, "RS256")
    add(
        per_call(
            lambda: jwt.decode(
                rs256_token, public_key, algorithms=["RS256"], audience="clouddocs-api"
            ),
            rounds=rounds,
            label="PyJWT RS256 verify (2048-bit, parsed key)",
        ),
        "~50 µs",
    )
    api_key = generate_api_key()
    stored = key_digest(api_key)
    add(
        per_call(
            lambda: hmac.compare_digest(hashlib.sha256(api_key.encode()).hexdigest(), stored),
            rounds=rounds,
            inner=100,
            label="SHA-256 of an API key + constant-time compare",
        ),
        "< 1 µs",
    )
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    connection.executemany(
        "INSERT INTO users VALUES (?, ?)", ((n, f"user{n}@example.com") for n in range(1, 10_001))
    )
    add(
        per_call(
            lambda: connection.execute(
                "SELECT id, email FROM users WHERE id = ?", (4242,)
            ).fetchone(),
            rounds=rounds,
            label="SQLite primary-key lookup (sqlite3, 10k rows)",
        ),
        "~2 µs",
    )
    connection.close()
    rows += asyncio.run(_async_lookups(rounds))
    return rows


async def _async_lookups(rounds: int) -> list[Row]:
    """The same lookup through SQLAlchemy and aiosqlite: an ORM ``AsyncSession`` (a unit of
    work), and one Core statement on an ``AsyncConnection`` (the lean per-request way)."""
    from sqlalchemy import select

    from clouddocs.db import Database, Tenant, User

    db = Database()
    try:
        await db.create_all()
        async with db.sessions() as session:
            session.add(Tenant(id=1, name="Bench Co"))
            session.add(User(id=1, tenant_id=1, email="bench@example.com", display_name="Bench"))
            await session.commit()

        async def orm_get() -> None:
            async with db.sessions() as session:
                await session.get(User, 1)

        statement = select(User.id, User.email).where(User.id == 1)

        async def core_statement() -> None:
            async with db.engine.connect() as connection:
                (await connection.execute(statement)).one()

        orm = await per_await(
            orm_get, rounds=rounds, label="same lookup: new AsyncSession + get, aiosqlite"
        )
        core = await per_await(
            core_statement,
            rounds=rounds,
            label="same lookup: one Core statement on an AsyncConnection, aiosqlite",
        )
    finally:
        await db.dispose()
    return [
        _reference_row(orm, "facts.md: ~360 µs (6 thread round trips + SQLAlchemy's own work)"),
        _reference_row(core, "not quoted (one raw aiosqlite round trip ~15–20 µs)"),
    ]


def _reference_row(timing: Timing, note: str) -> Row:
    return Row(
        "reference",
        timing.label,
        None,
        timing.median_ns / 1e9,
        f"{format_duration(timing.median_ns)} median, p99 {format_duration(timing.p99_ns)}",
        note,
    )
