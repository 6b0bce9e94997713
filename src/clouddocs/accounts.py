# Generated from notebooks/02_passwords_sessions.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Accounts with passwords: registration and an enumeration-safe ``authenticate``.

Credentials live in their own table, next to (not on) ``User``. ``authenticate`` does the
same work whether or not the email exists, and upgrades the stored hash when it is legacy
or was made with older parameters.
"""

from anyio import to_thread
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.db import Base, User
from clouddocs.password_policy import PasswordPolicy
from clouddocs.passwords import PasswordHasher


class PasswordCredential(Base):
    """One user's password hash (PHC string); the password itself is never stored."""

    __tablename__ = "password_credentials"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))


class RegistrationError(ValueError):
    """The registration cannot go ahead; ``problems`` lists why, in user-facing words."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class EmailAlreadyRegistered(RegistrationError):
    """The email is taken. Callers must not reveal this to the requester (enumeration)."""

    def __init__(self) -> None:
        super().__init__(["email already registered"])


def normalize_email(email: str) -> str:
    """One spelling per address, so ``Ada@Example.com`` and ``ada@example.com `` are one account."""
    return email.strip().lower()


async def register_user(
    session: AsyncSession,
    *,
    tenant_id: int,
    email: str,
    password: str,
    display_name: str,
    hasher: PasswordHasher,
    policy: PasswordPolicy | None = None,
) -> User:
    """Create a user and their password credential.

    Raises ``RegistrationError`` when the password breaks the policy and
    ``EmailAlreadyRegistered`` when the email is taken. The password is hashed *before*
    the email is looked up, so both outcomes take the same time. The lookup is only a
    fast path: two sign-ups racing for one address both pass it, and the database's
    unique constraint decides (the loser gets ``EmailAlreadyRegistered``, not a 500).
    """
    email = normalize_email(email)
    problems = (policy or PasswordPolicy()).problems(password, context=(email, display_name))
    if problems:
        raise RegistrationError(problems)
    password_hash = await to_thread.run_sync(hasher.hash, password)
    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise EmailAlreadyRegistered()
    user = User(tenant_id=tenant_id, email=email, display_name=display_name)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        if await session.scalar(select(User.id).where(User.email == email)) is None:
            raise  # another constraint failed (an unknown tenant?): a bug, not a race
        raise EmailAlreadyRegistered() from None
    session.add(PasswordCredential(user_id=user.id, password_hash=password_hash))
    await session.commit()
    return user


async def authenticate(
    session: AsyncSession, *, email: str, password: str, hasher: PasswordHasher
) -> User | None:
    """The user whose email and password match, else ``None``.

    Unknown emails are verified against a dummy hash, so they cost as much as a wrong
    password. A correct password whose stored hash is legacy (bcrypt, SHA-1) or was made
    with other parameters is rehashed at the current profile: the upgrade happens at login,
    the only moment the plaintext is known.
    """
    user = await session.scalar(select(User).where(User.email == normalize_email(email)))
    credential = await session.get(PasswordCredential, user.id) if user is not None else None
    stored_hash = credential.password_hash if credential is not None else hasher.dummy_hash
    # Argon2 is CPU-bound for tens of milliseconds; a worker thread keeps the event loop free.
    matches = await to_thread.run_sync(hasher.verify, stored_hash, password)
    if user is None or credential is None or not matches:
        return None
    if hasher.needs_rehash(stored_hash):
        credential.password_hash = await to_thread.run_sync(hasher.hash, password)
        await session.commit()
    return user
