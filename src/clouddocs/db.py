# Generated from notebooks/01_mental_model.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""CloudDocs' data model and database plumbing (SQLAlchemy 2.x, async).

SQLite in memory by default so every notebook starts from a clean slate in milliseconds;
pass a PostgreSQL URL (``postgresql+asyncpg://…``) and the same code runs there. Each
chapter adds its own tables to the one ``Base.metadata`` defined here.
"""

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from annotated_types import Interval
from sqlalchemy import DateTime, ForeignKey, String, Text, event, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import StaticPool

IN_MEMORY_SQLITE = "sqlite+aiosqlite:///:memory:"

#: The largest id an ``Integer`` primary key holds on every supported database
#: (PostgreSQL's INTEGER is 32-bit; SQLite's is 64-bit).
MAX_ROW_ID = 2**31 - 1

#: An id as it arrives from a client (``/documents/{document_id}``). Bounded, so
#: ``/documents/99999999999999999999`` is a 422 instead of a database overflow (a 500).
RowId = Annotated[int, Interval(ge=1, le=MAX_ROW_ID)]


class Base(DeclarativeBase):
    """The declarative base every CloudDocs table derives from."""


class Tenant(Base):
    """A customer organisation; every row below belongs to exactly one."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class User(Base):
    """A person. Credentials live in their own tables (chapter 2 on), not on the user."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))


class Document(Base):
    """A document in a tenant, owned by one user."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Database:
    """One engine and its session factory; ``session`` doubles as a FastAPI dependency."""

    def __init__(self, url: str = IN_MEMORY_SQLITE) -> None:
        self.url = url
        self.engine: AsyncEngine = _make_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def create_all(self) -> None:
        """Create every table registered on ``Base`` (idempotent)."""
        async with self.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)

    async def session(self) -> AsyncIterator[AsyncSession]:
        """Yield a session for one request; use as ``Depends(db.session)``."""
        async with self.sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def _make_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database in (None, "", ":memory:"):
        # One shared connection: each new connection to :memory: would be a new, empty
        # database. It also means concurrent requests share one transaction: fine for a
        # notebook, not for load — use a file or PostgreSQL URL for that.
        engine = create_async_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        engine = create_async_engine(url)
    if is_sqlite:
        # SQLite ignores foreign keys unless asked; tenant isolation relies on them.
        event.listen(engine.sync_engine, "connect", _enable_sqlite_foreign_keys)
    return engine


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
