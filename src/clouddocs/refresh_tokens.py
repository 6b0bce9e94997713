# Generated from notebooks/03_jwt.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Refresh tokens: long-lived, single-use, grouped in families, stored server-side.

Each login starts a *family*. Every refresh spends the presented token and hands out the
next one of the same family (rotation). A spent token presented again means two parties
hold it, one of them an attacker, and we cannot tell which: the whole family is revoked
(RFC 9700 §4.14.2). A family also has an absolute lifetime, so a stolen chain cannot be
kept alive forever by refreshing it.
"""

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, ForeignKey, String, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.db import Base
from clouddocs.jwt_tokens import REFRESH_TOKEN_TYPE, InvalidToken, TokenService


class RefreshReuse(InvalidToken):
    """A refresh token was presented after it had been spent; its family is now revoked."""

    def __init__(self, message: str, *, user_id: int | None = None) -> None:
        super().__init__(message)
        self.user_id = user_id  # whose family was revoked, for the audit log


class RefreshFamily(Base):
    """All refresh tokens descending from one login."""

    __tablename__ = "refresh_families"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    expires_at: Mapped[int]  # epoch seconds: the absolute end, however often it is refreshed
    revoked_reason: Mapped[str | None] = mapped_column(String(100), default=None)


class RefreshTokenRecord(Base):
    """One refresh token of a family; ``used_at`` is set when it is spent."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(ForeignKey("refresh_families.id"), index=True)
    expires_at: Mapped[int]
    used_at: Mapped[int | None] = mapped_column(default=None)


async def start_family(
    session: AsyncSession,
    user_id: int,
    *,
    now: int,
    token_lifetime: timedelta,
    family_lifetime: timedelta,
) -> RefreshTokenRecord:
    """At login: a new family and its first refresh token."""
    family = RefreshFamily(
        id=secrets.token_urlsafe(16),
        user_id=user_id,
        expires_at=now + int(family_lifetime.total_seconds()),
    )
    first = RefreshTokenRecord(
        jti=secrets.token_urlsafe(16),
        family_id=family.id,
        expires_at=min(now + int(token_lifetime.total_seconds()), family.expires_at),
    )
    session.add_all([family, first])
    await session.commit()
    return first


async def rotate_refresh(
    session: AsyncSession, jti: str, *, now: int, token_lifetime: timedelta
) -> RefreshTokenRecord:
    """Spend refresh token ``jti`` and return its successor in the same family."""
    record = await session.get(RefreshTokenRecord, jti)
    if record is None:
        raise InvalidToken("unknown refresh token")
    family = await session.get(RefreshFamily, record.family_id)
    if family is None or family.revoked_reason is not None:
        raise InvalidToken("this refresh token's family has been revoked")
    if now >= record.expires_at or now >= family.expires_at:
        raise InvalidToken("the refresh token has expired")
    # Spend the token atomically: if two requests race with the same token, exactly one
    # UPDATE matches `used_at IS NULL`; the other is treated as the reuse it is.
    spent = await session.execute(
        update(RefreshTokenRecord)
        .where(RefreshTokenRecord.jti == jti, RefreshTokenRecord.used_at.is_(None))
        .values(used_at=now)
    )
    if cast(CursorResult[Any], spent).rowcount != 1:
        family.revoked_reason = "reuse detected"
        await session.commit()  # the revocation must survive the error we raise next
        raise RefreshReuse(
            "a spent refresh token was presented again: family revoked", user_id=family.user_id
        )
    successor = RefreshTokenRecord(
        jti=secrets.token_urlsafe(16),
        family_id=family.id,
        expires_at=min(now + int(token_lifetime.total_seconds()), family.expires_at),
    )
    session.add(successor)
    await session.commit()
    return successor


async def revoke_family(session: AsyncSession, family_id: str, reason: str) -> None:
    family = await session.get(RefreshFamily, family_id)
    if family is not None and family.revoked_reason is None:
        family.revoked_reason = reason
        await session.commit()


async def revoke_all_families(session: AsyncSession, user_id: int, reason: str) -> None:
    await session.execute(
        update(RefreshFamily)
        .where(RefreshFamily.user_id == user_id, RefreshFamily.revoked_reason.is_(None))
        .values(revoked_reason=reason)
    )
    await session.commit()


async def family_is_live(session: AsyncSession, jti: str) -> bool:
    """True while the family of refresh token ``jti`` is neither revoked nor past its end."""
    # Columns, not ORM objects: an object already in the session would answer from memory.
    row = (
        await session.execute(
            select(RefreshFamily.revoked_reason)
            .join(RefreshTokenRecord, RefreshTokenRecord.family_id == RefreshFamily.id)
            .where(RefreshTokenRecord.jti == jti)
        )
    ).first()
    return row is not None and row.revoked_reason is None


@dataclass(frozen=True)
class IssuedRefresh:
    """A refresh token handed out, with the user and the family (login) it belongs to."""

    token: str = field(repr=False)
    user_id: int
    family_id: str


@dataclass
class RefreshTokens:
    """Refresh tokens as signed JWTs (type ``refresh+jwt``) backed by the tables above.

    The signature lets us refuse forgeries without touching the database; the database
    decides whether a genuine token is still spendable. Their audience is the issuer
    itself, so even a verifier that forgot the type check would not take one for an
    access token.
    """

    tokens: TokenService
    token_lifetime: timedelta = timedelta(hours=12)
    family_lifetime: timedelta = timedelta(days=7)

    async def start(self, session: AsyncSession, user_id: int) -> IssuedRefresh:
        """At login: a new family and its first token."""
        now = self._now()
        record = await start_family(
            session,
            user_id,
            now=now,
            token_lifetime=self.token_lifetime,
            family_lifetime=self.family_lifetime,
        )
        return IssuedRefresh(self._sign(user_id, record, now), user_id, record.family_id)

    async def rotate(self, session: AsyncSession, token: str) -> IssuedRefresh:
        """Spend ``token``; return the next refresh token of its family."""
        claims = self._verify(token)
        now = self._now()
        record = await rotate_refresh(
            session, claims["jti"], now=now, token_lifetime=self.token_lifetime
        )
        user_id = await session.scalar(
            select(RefreshFamily.user_id).where(RefreshFamily.id == record.family_id)
        )
        assert user_id is not None  # the foreign key guarantees the family exists
        return IssuedRefresh(self._sign(user_id, record, now), user_id, record.family_id)

    async def ensure_live(self, session: AsyncSession, token: str) -> None:
        """Refuse ``token`` if its family was revoked meanwhile (see ``end_all_sessions``)."""
        if not await family_is_live(session, self._verify(token)["jti"]):
            raise InvalidToken("this refresh token's family has been revoked")

    async def revoke(
        self, session: AsyncSession, token: str, *, user_id: int, reason: str = "logout"
    ) -> None:
        """Log this device out: its family ends; someone else's token is ignored."""
        claims = self._verify(token)
        if claims["sub"] != str(user_id):
            return
        record = await session.get(RefreshTokenRecord, claims["jti"])
        if record is not None:
            await revoke_family(session, record.family_id, reason)

    def _verify(self, token: str) -> dict[str, Any]:
        issuer = self.tokens.settings.issuer
        return self.tokens.verify(token, token_type=REFRESH_TOKEN_TYPE, audience=issuer)

    def _sign(self, user_id: int, record: RefreshTokenRecord, now: int) -> str:
        return self.tokens.issue(
            str(user_id),
            token_type=REFRESH_TOKEN_TYPE,
            audience=self.tokens.settings.issuer,
            lifetime=timedelta(seconds=record.expires_at - now),
            jti=record.jti,
        )

    def _now(self) -> int:
        return int(self.tokens.clock.time())
