# Generated from notebooks/02_passwords_sessions.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Verified sign-up: nothing usable exists until the owner of the address follows a link.

``request_signup`` stores a pending sign-up (no user, no credential, no tenant) under the
SHA-256 of a single-use token and mails the token to the address; for an address that
already has an account it mails "you already have an account" instead, doing the same
work. ``invite`` does the same for a tenant's invitation, the only way into an existing
tenant. ``activate`` spends a token once, before it expires, and creates the account.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.db import Base

SIGNUP_TTL = timedelta(hours=1)
INVITATION_TTL = timedelta(days=7)
TOKEN_BYTES = 32  # 256 bits: as unguessable as a session id


@dataclass(frozen=True)
class OutgoingEmail:
    """One message for the mail system. ``link`` carries the token in its fragment
    (``#token=…``): browsers never send a fragment to a server, so proxies and access
    logs never see it; the page reads it and POSTs it."""

    to: str
    subject: str
    body: str
    link: str | None = None

    @property
    def token(self) -> str | None:
        """The token in ``link`` (what the page would POST), or ``None``."""
        return (self.link.partition("#token=")[2] or None) if self.link else None


class Outbox(Protocol):
    """Where mail goes: an SMTP or mail-API sender in production, a list in the notebook."""

    async def send(self, message: OutgoingEmail) -> None: ...


@dataclass
class MemoryOutbox:
    """Keeps messages in memory so a notebook or a test can read them. Sends nothing."""

    messages: list[OutgoingEmail] = field(default_factory=list)

    async def send(self, message: OutgoingEmail) -> None:
        self.messages.append(message)


class SignupToken(Base):
    """A pending sign-up (``tenant_id`` NULL) or an invitation into ``tenant_id``."""

    __tablename__ = "signup_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 hex
    email: Mapped[str] = mapped_column(String(320), index=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), default=None)
    created_at: Mapped[float] = mapped_column(Float)  # epoch seconds, from the clock
    expires_at: Mapped[float] = mapped_column(Float)


def hash_token(token: str) -> str:
    """What the table stores: a leaked table cannot be turned back into working links."""
    return hashlib.sha256(token.encode()).hexdigest()


class InvalidSignupToken(ValueError):
    """Unknown, used, expired, or for an address that meanwhile has an account: one answer."""


import secrets

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from clouddocs.accounts import (
    EmailAlreadyRegistered,
    RegistrationError,
    is_valid_email,
    normalize_email,
    register_user,
)
from clouddocs.clock import Clock
from clouddocs.db import Tenant, User
from clouddocs.password_policy import PasswordPolicy
from clouddocs.passwords import PasswordHasher


async def request_signup(
    db: AsyncSession, *, email: str, outbox: Outbox, clock: Clock, base_url: str
) -> None:
    """Start a sign-up for ``email``. New address: a link to finish. Taken address: "you
    already have an account". Both paths run the same statements (a lookup, one INSERT)
    and send one message, so neither the answer nor the work tells them apart."""
    email = normalize_email(email)
    if not is_valid_email(email):
        raise RegistrationError(["enter a valid email address"])
    token = secrets.token_urlsafe(TOKEN_BYTES)
    existing = await db.scalar(select(User.id).where(User.email == email))
    now = clock.time()
    # Stored on both paths (same work); a row for a taken address can never activate.
    expires = now + SIGNUP_TTL.total_seconds()
    db.add(SignupToken(token_hash=hash_token(token), email=email, created_at=now, expires_at=expires))
    await db.commit()
    if existing is None:
        body = "Follow this link within an hour to choose a password and finish signing up."
        link: str | None = f"{base_url}/signup/finish#token={token}"
    else:
        body = "You already have an account. Log in, or reset your password if you forgot it."
        link = None
    await outbox.send(OutgoingEmail(email, "Your CloudDocs sign-up", body, link))


async def invite(
    db: AsyncSession, *, tenant_id: int, email: str, outbox: Outbox, clock: Clock, base_url: str
) -> None:
    """Invite ``email`` into ``tenant_id`` (the caller checks that the inviter may do so)."""
    email = normalize_email(email)
    if not is_valid_email(email):
        raise RegistrationError(["enter a valid email address"])
    token, now = secrets.token_urlsafe(TOKEN_BYTES), clock.time()
    expires = now + INVITATION_TTL.total_seconds()
    db.add(SignupToken(token_hash=hash_token(token), email=email, tenant_id=tenant_id,
                       created_at=now, expires_at=expires))  # fmt: skip
    await db.commit()
    body = "You are invited to a CloudDocs workspace. Follow the link within 7 days to join."
    link = f"{base_url}/signup/finish#token={token}"
    await outbox.send(OutgoingEmail(email, "Your CloudDocs invitation", body, link))


async def activate(
    db: AsyncSession,
    *,
    token: str,
    password: str,
    display_name: str,
    hasher: PasswordHasher,
    clock: Clock,
    policy: PasswordPolicy | None = None,
) -> User:
    """Spend ``token`` (once, before it expires) and create the account it stands for: in
    the inviting tenant, or in a new workspace of its own for a self-service sign-up.

    A password the policy refuses raises ``RegistrationError`` and leaves the link usable.
    """
    digest = hash_token(token)
    pending = await db.get(SignupToken, digest)
    if pending is None or pending.expires_at <= clock.time():
        raise InvalidSignupToken()
    email, tenant_id = pending.email, pending.tenant_id
    problems = (policy or PasswordPolicy()).problems(password, context=(email, display_name))
    if problems:
        raise RegistrationError(problems)
    # Single use: whoever deletes the row owns the link; a concurrent second use deletes
    # nothing (the database serialises the two DELETEs) and is refused.
    spent = await db.execute(
        delete(SignupToken).where(SignupToken.token_hash == digest).returning(SignupToken.email)
    )
    if spent.first() is None:
        await db.rollback()
        raise InvalidSignupToken()
    if tenant_id is None:  # a stranger never lands in somebody else's tenant
        workspace = Tenant(name=f"workspace-{secrets.token_hex(8)}")
        db.add(workspace)
        await db.flush()
        tenant_id = workspace.id
    try:
        return await register_user(
            db, tenant_id=tenant_id, email=email, password=password,
            display_name=display_name, hasher=hasher, policy=policy,
        )  # fmt: skip
    except EmailAlreadyRegistered:  # the address got an account meanwhile (or always had)
        await db.execute(delete(SignupToken).where(SignupToken.token_hash == digest))
        await db.commit()
        raise InvalidSignupToken() from None
