"""The seeded databases chapter 2's reference tests share: one tenant (Acme) and Ada.

``memory_db`` is the in-memory SQLite; ``file_db`` a file, for tests where two requests
must really run side by side. Under ``make test-services`` both are PostgreSQL databases.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from service_urls import database_url

from clouddocs.accounts import register_user
from clouddocs.db import Database, Tenant
from clouddocs.passwords import TEST_ARGON2, PasswordHasher

ADA = {"email": "ada@example.com", "password": "correct horse battery staple"}


async def _database(url: str) -> Database:
    database = Database(url)
    await database.create_all()
    async with database.sessions() as db:
        db.add(Tenant(name="Acme"))  # id 1; an explicit id would not advance PostgreSQL's sequence
        await db.commit()
        await register_user(
            db, tenant_id=1, display_name="Ada", hasher=PasswordHasher(TEST_ARGON2), **ADA
        )
    return database


@pytest.fixture
async def memory_db() -> AsyncIterator[Database]:
    async with database_url("sqlite+aiosqlite:///:memory:") as url:
        database = await _database(url)
        yield database
        await database.dispose()


@pytest.fixture
async def file_db(tmp_path: Path) -> AsyncIterator[Database]:
    async with database_url(f"sqlite+aiosqlite:///{tmp_path / 'clouddocs.db'}") as url:
        database = await _database(url)
        yield database
        await database.dispose()
