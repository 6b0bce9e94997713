# Generated from notebooks/02_passwords_sessions.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Accounts with passwords: address checks, provisioning and an enumeration-safe ``authenticate``.

Credentials live in their own table, next to (not on) ``User``. ``authenticate`` does the
same work whether or not the email exists, and upgrades the stored hash when it is legacy
or was made with older parameters. Self-service sign-up is in ``clouddocs.signup``.
"""

import re

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.db import Base


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


# The WHATWG HTML "valid e-mail address" grammar, plus a dot in the domain (no intranet
# hosts for a SaaS) and the SMTP length limits (RFC 5321 section 4.5.3.1).
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL = re.compile(rf"[a-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+")


def is_valid_email(email: str) -> bool:
    """Syntax only, on the normalised address; that the address is *yours* is proved by
    the link we mail to it."""
    local, _, domain = email.partition("@")
    return len(email) <= 254 and len(local) <= 64 and _EMAIL.fullmatch(email) is not None


from anyio import to_thread
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from clouddocs.db import User
from clouddocs.password_policy import PasswordPolicy
from clouddocs.passwords import PasswordHasher


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
    """Provision a user and their password credential in ``tenant_id``.

    For trusted callers only: seeding, tests, and ``clouddocs.signup`` once an emailed link
    has proved the address. Never call it with a tenant or an address a stranger chose.
    Raises ``RegistrationError`` (policy, address syntax) or ``EmailAlreadyRegistered``;
    two calls racing for one address: the unique constraint decides, the loser gets
    ``EmailAlreadyRegistered``, not a 500.
    """
    email = normalize_email(email)
    if not is_valid_email(email):
        raise RegistrationError(["enter a valid email address"])
    problems = (policy or PasswordPolicy()).problems(password, context=(email, display_name))
    if problems:
        raise RegistrationError(problems)
    password_hash = await to_thread.run_sync(hasher.hash, password)  # hashes the NFKC form
    # A fast path only: two calls racing for one address both pass it; the constraint decides.
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
    password. A correct password whose stored hash is legacy (bcrypt, SHA-1), was made with
    other parameters or from the un-normalised password is rehashed at the current profile:
    the upgrade happens at login, the only moment the plaintext is known.
    """
    user = await session.scalar(select(User).where(User.email == normalize_email(email)))
    credential = await session.get(PasswordCredential, user.id) if user is not None else None
    stored_hash = credential.password_hash if credential is not None else hasher.dummy_hash
    # Argon2 is CPU-bound for tens of milliseconds; a worker thread keeps the event loop free.
    verdict = await to_thread.run_sync(hasher.check, stored_hash, password)
    if user is None or credential is None or not verdict.matches:
        return None
    if verdict.needs_rehash:
        credential.password_hash = await to_thread.run_sync(hasher.hash, password)
        await session.commit()
    return user
