"""Chapter 2's lab helpers: a database with users, and the leaky login of exercise 02.7."""

# No `from __future__ import annotations`: FastAPI must resolve the Annotated[..., Depends(x)]
# hint of the nested endpoint below, whose dependency is a local variable.

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clouddocs.accounts import PasswordCredential
from clouddocs.db import Database, Tenant, User
from clouddocs.lockout import LoginThrottle  # noqa: F401  (puts login_throttles on Base.metadata)
from clouddocs.passwords import PasswordHasher


async def database_with_users(
    hasher: PasswordHasher, users: dict[str, str] | None = None
) -> tuple[Database, dict[str, User]]:
    """A fresh in-memory database with one tenant and ``users`` (email → password)."""
    database = Database()
    await database.create_all()
    created: dict[str, User] = {}
    async with database.sessions() as db:
        db.add(Tenant(id=1, name="Acme"))
        await db.flush()
        for email, password in (users or {}).items():
            user = User(tenant_id=1, email=email, display_name=email.split("@")[0])
            db.add(user)
            await db.flush()
            db.add(PasswordCredential(user_id=user.id, password_hash=hasher.hash(password)))
            created[email] = user
        await db.commit()
    return database, created


class _LeakyCredentials(BaseModel):
    email: str
    password: str


def create_leaky_login_app(database: Database, hasher: PasswordHasher) -> FastAPI:
    """The login most tutorials write: it tells everyone which accounts exist (02.7 attacks it)."""
    app = FastAPI()

    @app.post("/login")
    async def login(
        body: _LeakyCredentials, db: Annotated[AsyncSession, Depends(database.session)]
    ) -> dict[str, int]:
        user = await db.scalar(select(User).where(User.email == body.email))
        if user is None:
            raise HTTPException(404, "no account with this email")
        credential = await db.get(PasswordCredential, user.id)
        if credential is None or not hasher.verify(credential.password_hash, body.password):
            raise HTTPException(401, "wrong password")
        return {"user_id": user.id}

    return app
