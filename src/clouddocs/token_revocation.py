# Generated from notebooks/03_jwt.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Taking back access tokens before they expire: a ``jti`` denylist and a per-user version.

A JWT is valid until ``exp`` by construction. To end one early the server must remember
something: either the ids of individual revoked tokens (the denylist: "log out this
device"), or, per user, a counter that every token carries and that the server bumps to
invalidate all earlier tokens at once (the token version: "log out everywhere", "I changed
my password"). Both are looked up on every request, in one statement (``is_revoked``).
"""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, ForeignKey, String, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.db import Base

#: The claim carrying the user's token version at the time the token was issued.
VERSION_CLAIM = "ver"


class DeniedToken(Base):
    """A revoked token, remembered only until it would have expired anyway."""

    __tablename__ = "denied_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Epoch seconds, the JWT's own ``exp``: no timezone round-trip through the database.
    expires_at: Mapped[int] = mapped_column(index=True)


class TokenVersion(Base):
    """Per user: tokens carrying a lower ``ver`` than this are no longer accepted."""

    __tablename__ = "token_versions"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    version: Mapped[int] = mapped_column(default=0)


async def deny(session: AsyncSession, claims: Mapping[str, Any]) -> None:
    """Revoke one token (its ``jti``) until its ``exp``; denying twice is harmless."""
    # Insert and let the primary key refuse a duplicate. Looking first ("is it there?")
    # then inserting fails when two logouts of the same token run at once.
    session.add(DeniedToken(jti=claims["jti"], expires_at=int(claims["exp"])))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()  # already denied, by the other request: nothing to do


async def prune_denylist(session: AsyncSession, *, now: float, leeway: timedelta) -> int:
    """Forget revoked tokens that every verifier already refuses as expired."""
    # Keep a row until exp + leeway: until then a verifier would still accept the token.
    cutoff = int(now - leeway.total_seconds())
    result = await session.execute(delete(DeniedToken).where(DeniedToken.expires_at < cutoff))
    await session.commit()
    return int(getattr(result, "rowcount", 0))


async def current_version(session: AsyncSession, user_id: int) -> int:
    version = await session.scalar(
        select(TokenVersion.version).where(TokenVersion.user_id == user_id)
    )
    return version or 0


async def bump_token_version(session: AsyncSession, user_id: int) -> int:
    """Invalidate every token the user holds now ("log out everywhere", password change)."""
    # One atomic UPDATE ... SET version = version + 1: reading, adding one and writing back
    # would lose a bump when two run at once (and both would try to insert the first row).
    if await _increment_version(session, user_id) == 0:
        session.add(TokenVersion(user_id=user_id, version=1))
        try:
            await session.commit()
        except IntegrityError:  # a concurrent first bump inserted the row just now
            await session.rollback()
            await _increment_version(session, user_id)
            await session.commit()
    else:
        await session.commit()
    return await current_version(session, user_id)


async def _increment_version(session: AsyncSession, user_id: int) -> int:
    """Add one to the user's version; how many rows changed (0: the user has no row yet)."""
    result = await session.execute(
        update(TokenVersion)
        .where(TokenVersion.user_id == user_id)
        .values(version=TokenVersion.version + 1)
    )
    return int(cast(CursorResult[Any], result).rowcount)


from sqlalchemy import and_, bindparam, exists, func
from sqlalchemy.ext.asyncio import AsyncEngine

from clouddocs.db import MAX_ROW_ID
from clouddocs.refresh_tokens import RefreshFamily, revoke_all_families

#: The claim naming the login (refresh family) an access token was issued under. ``sid``
#: is its registered name (IANA JWT claims, "Session ID").
FAMILY_CLAIM = "sid"


def revocation_params(claims: Mapping[str, Any]) -> dict[str, Any] | None:
    """The values ``REVOCATION_CHECK`` needs, or None for claims it cannot check."""
    version, subject, family, jti = (
        claims.get(name) for name in (VERSION_CLAIM, "sub", FAMILY_CLAIM, "jti")
    )
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        return None  # a token without a usable version cannot be checked: refuse it
    if not all(isinstance(value, str) and 0 < len(value) <= 64 for value in (family, jti)):
        return None  # nor one that names no refresh family (or has an odd jti)
    if not (isinstance(subject, str) and subject.isascii() and subject.isdigit()):
        return None  # CloudDocs subjects are user ids; anything else is not ours
    if len(subject) > 10 or max(int(subject), version) > MAX_ROW_ID:
        return None  # out of range for an INTEGER column (PostgreSQL would raise)
    return {"jti": jti, "user_id": int(subject), "version": version, "family": family}


#: Denied (this token logged out)? Stale (issued before the user's latest "log out
#: everywhere")? Family gone (logout, reuse detected)? One SELECT, true while the token
#: lives. Built once: building it per request would cost more than running it.
REVOCATION_CHECK = select(
    and_(
        ~exists().where(DeniedToken.jti == bindparam("jti")),
        func.coalesce(
            select(TokenVersion.version)
            .where(TokenVersion.user_id == bindparam("user_id"))
            .scalar_subquery(),
            0,
        )
        <= bindparam("version"),
        exists().where(
            RefreshFamily.id == bindparam("family"),
            RefreshFamily.user_id == bindparam("user_id"),
            RefreshFamily.revoked_reason.is_(None),
        ),
    ).label("live")
)


async def is_revoked(engine: AsyncEngine, claims: Mapping[str, Any]) -> bool:
    """True if the token was denied, predates the user's version or its family ended."""
    params = revocation_params(claims)
    if params is None:
        return True  # refused without touching the database
    # A connection held for this one statement only: no ORM session, and no transaction
    # left open while the route runs (closing it rolls back the read, returning it clean).
    # On the in-memory SQLite default every connection is the same one, so that rollback
    # would hit another request's uncommitted work: serve concurrent requests from a file
    # or a server database.
    async with engine.connect() as connection:
        return not (await connection.execute(REVOCATION_CHECK, params)).scalar()


async def end_all_sessions(session: AsyncSession, user_id: int, reason: str) -> None:
    """Log the user out everywhere: after a "log out everywhere", a password change, ...

    Refresh families are revoked *before* the token version is bumped, and a refresh reads
    the version *before* re-checking its family (``RefreshTokens.ensure_live``). Whatever
    the interleaving, a refresh racing with this call cannot come out with an access
    token carrying the new version.
    """
    await revoke_all_families(session, user_id, reason)
    await bump_token_version(session, user_id)
