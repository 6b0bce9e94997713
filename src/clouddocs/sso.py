# Generated from notebooks/06_openid_connect.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Single sign-on accounts: keyed by (issuer, subject), linked safely, roles from IdP groups.

An email address is not an identity: two providers may both say ``ada@acme.test``, one of
them without checking, and users change addresses. CloudDocs keys an SSO account by the
pair (``iss``, ``sub``), which the provider promises never to reassign, and links it to an
existing password account only when the provider verified the email *and* the user proves
the account (with its password).
"""

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.accounts import normalize_email
from clouddocs.db import Base, User
from clouddocs.oidc import OIDCError


class ExternalIdentity(Base):
    """One provider account (``iss`` + ``sub``) and the CloudDocs user it signs in as."""

    __tablename__ = "external_identities"

    issuer: Mapped[str] = mapped_column(String(255), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)


class LinkRequired(OIDCError):
    """A CloudDocs account already has this (verified) email: the user must prove it is
    theirs, with its password, before the provider account is linked to it."""

    def __init__(self, user_id: int) -> None:
        super().__init__("an account with this email exists: sign in to it once to link")
        self.user_id = user_id


class AccountConflict(OIDCError):
    """The email belongs to an account this provider may not link: it did not verify the
    email, or the account is in another tenant. No link, ever."""

    def __init__(self, reason: str = "the provider has not verified this email, and it "
                 "belongs to an account") -> None:
        super().__init__(reason)


def placeholder_email(issuer: str, subject: str) -> str:
    """A unique, undeliverable address (RFC 2606 ``.invalid``) for an account whose email is
    missing or unverified: such an email must not occupy a real address in ``users``."""
    digest = hashlib.sha256(f"{issuer}|{subject}".encode()).hexdigest()[:32]
    return f"sso-{digest}@users.invalid"


def email_is_verified(claims: Mapping[str, Any]) -> bool:
    """True only when the provider says so; a missing claim means "not verified"."""
    return claims.get("email_verified") in (True, "true")


async def user_for_identity(db: AsyncSession, issuer: str, subject: str) -> User | None:
    """The user this provider account signs in as, if it was seen before."""
    return await db.scalar(
        select(User)
        .join(ExternalIdentity, ExternalIdentity.user_id == User.id)
        .where(ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject)
    )


async def provision(db: AsyncSession, claims: Mapping[str, Any], *, tenant_id: int) -> User:
    """The CloudDocs user for validated ID token ``claims``, created on first sign-in.

    Known (``iss``, ``sub``): that user, whatever the email says today. New one: a new
    user, unless the email belongs to an account (``LinkRequired`` if the provider verified
    it, ``AccountConflict`` if not). Two first sign-ins at once make one user: the
    database's primary key on (issuer, subject) decides, and the loser reads the winner's.
    """
    issuer, subject = str(claims["iss"]), str(claims["sub"])
    user = await user_for_identity(db, issuer, subject)
    email = claims.get("email")
    if user is None and isinstance(email, str) and email:
        owner = await db.scalar(select(User).where(User.email == normalize_email(email)))
        # The owner may be this very identity, created a moment ago by a concurrent
        # sign-in (user and identity are committed together): look again before refusing.
        user = await user_for_identity(db, issuer, subject) if owner is not None else None
        if owner is not None and user is None:
            if owner.tenant_id != tenant_id:
                # A tenant's provider never reaches another tenant's accounts, not even to
                # ask for their password.
                raise AccountConflict("this email belongs to an account in another tenant")
            raise LinkRequired(owner.id) if email_is_verified(claims) else AccountConflict()
    if user is None:
        user = await _create_user(db, claims, tenant_id=tenant_id)
    if user.tenant_id != tenant_id:
        raise OIDCError("this provider account belongs to another tenant")
    return user


async def _create_user(db: AsyncSession, claims: Mapping[str, Any], *, tenant_id: int) -> User:
    """A new user and its identity; if a concurrent sign-in won the race, that one's user."""
    issuer, subject, email = str(claims["iss"]), str(claims["sub"]), claims.get("email")
    verified = isinstance(email, str) and bool(email) and email_is_verified(claims)
    name = claims.get("name")
    user = User(
        tenant_id=tenant_id,
        email=normalize_email(str(email)) if verified else placeholder_email(issuer, subject),
        display_name=name if isinstance(name, str) and name else "SSO user",
    )
    try:
        db.add(user)
        await db.flush()
        db.add(ExternalIdentity(issuer=issuer, subject=subject, user_id=user.id))
        await db.commit()
    except IntegrityError:
        await db.rollback()  # another request provisioned this identity first
        winner = await user_for_identity(db, issuer, subject)
        if winner is None:
            raise
        return winner
    return user


async def link_identity(db: AsyncSession, claims: Mapping[str, Any], *, user: User) -> None:
    """Link the provider account to ``user``, who has just proved the account (password).

    Only with the provider's word that the email is verified and is ``user``'s.
    """
    email = claims.get("email")
    if not email_is_verified(claims) or not isinstance(email, str):
        raise AccountConflict()
    if normalize_email(email) != user.email:
        raise OIDCError("the provider's email is not this account's")
    db.add(ExternalIdentity(issuer=str(claims["iss"]), subject=str(claims["sub"]), user_id=user.id))
    await db.commit()


#: CloudDocs roles, least to most privileged.
ROLES = ("viewer", "member", "admin", "owner")


def role_for_groups(
    groups: Sequence[str], mapping: Mapping[str, str], default: str = "viewer"
) -> str:
    """The most privileged role any of the user's IdP ``groups`` maps to, else ``default``.

    Group names are compared exactly (``docs-admins`` is not ``not-docs-admins``), and a
    groups claim that is not a list of strings counts as no groups.
    """
    if isinstance(groups, str) or not isinstance(groups, (list, tuple)):
        return default
    roles = [mapping[g] for g in groups if isinstance(g, str) and mapping.get(g) in ROLES]
    return max(roles, key=ROLES.index, default=default)
