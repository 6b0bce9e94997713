# Generated from notebooks/03_jwt.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Access tokens: short-lived signed JWTs that say who the caller is, for a few minutes.

Signed, not encrypted: anyone holding a token can read its claims, so nothing secret goes
in them. Verification pins everything the token could otherwise choose for itself: the
algorithm (per key, RFC 8725 §3.1), the key (by ``kid`` from our own allow-list, never
from ``jku``/``jwk`` headers), the token type (RFC 8725 §3.11, RFC 9068 §2.1), the issuer
and the audience (RFC 8725 §3.8–3.9), and the time claims against an injectable clock.
"""

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from clouddocs.clock import Clock, SystemClock

#: The ``typ`` header of an access token (RFC 9068 §2.1) and of a refresh token.
ACCESS_TOKEN_TYPE = "at+jwt"
REFRESH_TOKEN_TYPE = "refresh+jwt"

#: Access tokens cannot be recalled once issued, so they must die quickly.
MAX_ACCESS_LIFETIME = timedelta(minutes=15)
#: Clock skew tolerated between servers; more than a minute hides real expiry bugs.
MAX_LEEWAY = timedelta(seconds=60)
#: HS256 keys shorter than the hash output can be brute-forced (RFC 7518 §3.2).
MIN_HS256_SECRET_BYTES = 32

#: Claims every token must carry; a token missing one is refused, not defaulted.
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti")
#: Header parameters that would let a token name its own verification key. Never honoured.
KEY_SOURCE_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c"})

Algorithm = Literal["HS256", "RS256", "EdDSA"]
PrivateKey = bytes | RSAPrivateKey | Ed25519PrivateKey
PublicKey = bytes | RSAPublicKey | Ed25519PublicKey


class InvalidToken(Exception):
    """A token was refused. The message is for logs and tests; clients get a bare 401."""


@dataclass(frozen=True, repr=False)
class SigningKey:
    """One key, its id and the single algorithm it may be used with.

    The key is a parsed object (or raw secret bytes for HS256), loaded once at start-up:
    parsing a PEM file on every request costs far more than the signature itself.
    """

    kid: str
    algorithm: Algorithm
    private_key: PrivateKey

    def __post_init__(self) -> None:
        expected: dict[str, type] = {
            "HS256": bytes,
            "RS256": RSAPrivateKey,
            "EdDSA": Ed25519PrivateKey,
        }
        if not isinstance(self.private_key, expected[self.algorithm]):
            raise TypeError(f"{self.algorithm} needs a {expected[self.algorithm].__name__}")
        if isinstance(self.private_key, bytes) and len(self.private_key) < MIN_HS256_SECRET_BYTES:
            raise ValueError(f"an HS256 secret needs at least {MIN_HS256_SECRET_BYTES} bytes")

    @property
    def public_key(self) -> PublicKey:
        """What verifies this key's signatures (the secret itself for HS256)."""
        if isinstance(self.private_key, bytes):
            return self.private_key
        return self.private_key.public_key()

    def __repr__(self) -> str:
        # Never print key material, even by accident in a notebook or a log line.
        return f"SigningKey(kid={self.kid!r}, algorithm={self.algorithm!r})"


@dataclass(frozen=True)
class VerificationKey:
    """A key a verifier accepts, pinned to exactly one algorithm."""

    algorithm: Algorithm
    # For HS256 this *is* the secret: keep it out of reprs, tracebacks and logs.
    key: PublicKey = field(repr=False)


def new_hs256_key(kid: str) -> SigningKey:
    """A fresh 256-bit HS256 secret from the operating system's CSPRNG."""
    return SigningKey(kid, "HS256", secrets.token_bytes(MIN_HS256_SECRET_BYTES))


class KeyRing:
    """The key an issuer signs with now, plus older keys it still accepts during rotation."""

    def __init__(self, current: SigningKey) -> None:
        self._keys: dict[str, SigningKey] = {}
        self._verification: dict[str, VerificationKey] = {}
        self._current = current
        self._add(current)

    @property
    def current(self) -> SigningKey:
        return self._current

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    def signing_keys(self) -> list[SigningKey]:
        return list(self._keys.values())

    def rotate(self, new_key: SigningKey) -> None:
        """Sign with ``new_key`` from now on; tokens signed by older keys still verify."""
        self._add(new_key)
        self._current = new_key

    def retire(self, kid: str) -> None:
        """Stop accepting a key (once every token it signed has expired)."""
        if kid == self._current.kid:
            raise ValueError("rotate to a new key before retiring the current one")
        del self._keys[kid]
        del self._verification[kid]

    def verification_keys(self) -> Mapping[str, VerificationKey]:
        return self._verification

    def _add(self, key: SigningKey) -> None:
        if key.kid in self._keys:
            raise ValueError(f"key id {key.kid!r} is already in the ring")
        self._keys[key.kid] = key
        # Derived once here, so verifying never re-derives or re-parses a key.
        self._verification[key.kid] = VerificationKey(key.algorithm, key.public_key)


def verify_jwt(
    token: str,
    keys: Mapping[str, VerificationKey],
    *,
    token_type: str,
    issuer: str,
    audience: str,
    clock: Clock,
    leeway: timedelta,
) -> dict[str, Any]:
    """Verify ``token`` and return its claims, or raise ``InvalidToken``.

    Every choice is the verifier's, none is the token's: the key comes from ``keys`` by
    ``kid`` (an allow-list), the algorithm is the one pinned to that key, and the type,
    issuer and audience must be the expected ones.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as error:
        raise InvalidToken("malformed token") from error
    if KEY_SOURCE_HEADERS & header.keys():
        raise InvalidToken("the token tries to supply its own key (jku/jwk/x5u/x5c)")
    if header.get("typ") != token_type:
        raise InvalidToken(f"wrong token type: expected {token_type!r}")
    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise InvalidToken("unknown key id")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm],
            issuer=issuer,
            audience=audience,
            # PyJWT compares exp/iat/nbf with the wall clock (datetime.now) and offers no
            # hook for another clock. We switch those three checks off here and make them
            # in check_time_claims against the injected clock: the same code then expires
            # tokens under SystemClock in production and under FrozenClock in tests.
            options={
                "require": list(REQUIRED_CLAIMS),
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidTokenError as error:
        raise InvalidToken(f"rejected by the JWT library: {type(error).__name__}") from error
    check_time_claims(claims, now=clock.time(), leeway=leeway)
    return claims


def check_time_claims(claims: Mapping[str, Any], *, now: float, leeway: timedelta) -> None:
    """Refuse a token that has expired, was issued in the future or is not valid yet."""
    slack = leeway.total_seconds()
    times = {name: claims[name] for name in ("exp", "iat", "nbf") if name in claims}
    for name, value in times.items():
        # JSON parsers accept NaN and Infinity: an exp of NaN would never compare as past.
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidToken(f"the {name} claim is not a number")
    if now >= times["exp"] + slack:
        raise InvalidToken("the token has expired")
    if now + slack < times["iat"]:
        raise InvalidToken("the token was issued in the future")
    if now + slack < times.get("nbf", times["iat"]):
        raise InvalidToken("the token is not valid yet")


@dataclass(frozen=True)
class TokenSettings:
    """Who issues tokens, for whom, and for how long."""

    issuer: str
    audience: str
    access_lifetime: timedelta = timedelta(minutes=10)
    leeway: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        if not timedelta(0) < self.access_lifetime <= MAX_ACCESS_LIFETIME:
            raise ValueError(f"access tokens must live at most {MAX_ACCESS_LIFETIME}")
        if not timedelta(0) <= self.leeway <= MAX_LEEWAY:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY}")


@dataclass
class TokenService:
    """Issues and verifies CloudDocs tokens with the keys of one ``KeyRing``."""

    keys: KeyRing
    settings: TokenSettings
    clock: Clock = field(default_factory=SystemClock)

    def issue(
        self,
        subject: str,
        *,
        token_type: str = ACCESS_TOKEN_TYPE,
        audience: str | None = None,
        lifetime: timedelta | None = None,
        claims: Mapping[str, Any] | None = None,
        jti: str | None = None,
    ) -> str:
        """Sign a token for ``subject``; registered claims cannot be overridden by ``claims``."""
        lifetime = lifetime or self.settings.access_lifetime
        if token_type == ACCESS_TOKEN_TYPE and lifetime > MAX_ACCESS_LIFETIME:
            raise ValueError(f"access tokens must live at most {MAX_ACCESS_LIFETIME}")
        now = int(self.clock.time())
        payload = {
            **(claims or {}),
            "iss": self.settings.issuer,
            "sub": subject,
            "aud": audience or self.settings.audience,
            "iat": now,
            "exp": now + int(lifetime.total_seconds()),
            "jti": jti or secrets.token_urlsafe(16),
        }
        key = self.keys.current
        return jwt.encode(
            payload,
            key.private_key,
            algorithm=key.algorithm,
            headers={"typ": token_type, "kid": key.kid},
        )

    def verify(
        self, token: str, *, token_type: str = ACCESS_TOKEN_TYPE, audience: str | None = None
    ) -> dict[str, Any]:
        """The claims of a valid token of ``token_type``; ``InvalidToken`` otherwise."""
        return verify_jwt(
            token,
            self.keys.verification_keys(),
            token_type=token_type,
            issuer=self.settings.issuer,
            audience=audience or self.settings.audience,
            clock=self.clock,
            leeway=self.settings.leeway,
        )


# Taking back access tokens before they expire: a ``jti`` denylist and a per-user version.
#
# A JWT is valid until ``exp`` by construction. To end one early the server must remember
# something: either the ids of individual revoked tokens (the denylist: "log out this
# device"), or, per user, a counter that every token carries and that the server bumps to
# invalidate all earlier tokens at once (the token version: "log out everywhere", "I changed
# my password"). Both are looked up on every request, which is what they cost.

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
#: CloudDocs user ids are 64-bit integers: at most 18 digits keeps any ``sub`` we parse in range.
MAX_USER_ID_DIGITS = 18


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


async def is_denied(session: AsyncSession, jti: str) -> bool:
    return await session.get(DeniedToken, jti) is not None


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


async def is_revoked(session: AsyncSession, claims: Mapping[str, Any]) -> bool:
    """True if the token was denied or predates the user's current token version."""
    if await is_denied(session, claims["jti"]):
        return True
    version = claims.get(VERSION_CLAIM)
    if isinstance(version, bool) or not isinstance(version, int):
        return True  # a token without a usable version cannot be checked: refuse it
    subject = claims["sub"]
    if not (
        isinstance(subject, str)
        and subject.isascii()
        and subject.isdigit()
        and len(subject) <= MAX_USER_ID_DIGITS
    ):
        return True  # CloudDocs subjects are user ids; anything else is not ours
    return version < await current_version(session, int(subject))


# Refresh tokens: long-lived, single-use, grouped in families, stored server-side.
#
# Each login starts a *family*. Every refresh spends the presented token and hands out the
# next one of the same family (rotation). A spent token presented again means two parties
# hold it, one of them an attacker, and we cannot tell which: the whole family is revoked
# (RFC 9700 §4.14.2). A family also has an absolute lifetime, so a stolen chain cannot be
# kept alive forever by refreshing it.

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.db import Base


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


async def end_all_sessions(session: AsyncSession, user_id: int, reason: str) -> None:
    """Log the user out everywhere: after a "log out everywhere", a password change, ...

    Refresh families are revoked *before* the token version is bumped, and a refresh reads
    the version *before* re-checking its family (``RefreshTokens.ensure_live``). Whatever
    the interleaving, a refresh racing with this call cannot come out with an access
    token carrying the new version.
    """
    await revoke_all_families(session, user_id, reason)
    await bump_token_version(session, user_id)


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

    async def start(self, session: AsyncSession, user_id: int) -> str:
        now = self._now()
        record = await start_family(
            session,
            user_id,
            now=now,
            token_lifetime=self.token_lifetime,
            family_lifetime=self.family_lifetime,
        )
        return self._sign(user_id, record, now)

    async def rotate(self, session: AsyncSession, token: str) -> tuple[int, str]:
        """Spend ``token``; return the user id and the next refresh token."""
        claims = self._verify(token)
        now = self._now()
        record = await rotate_refresh(
            session, claims["jti"], now=now, token_lifetime=self.token_lifetime
        )
        user_id = await session.scalar(
            select(RefreshFamily.user_id).where(RefreshFamily.id == record.family_id)
        )
        assert user_id is not None  # the foreign key guarantees the family exists
        return user_id, self._sign(user_id, record, now)

    async def ensure_live(self, session: AsyncSession, token: str) -> None:
        """Refuse ``token`` if its family was revoked meanwhile (see ``end_all_sessions``)."""
        if not await family_is_live(session, self._verify(token)["jti"]):
            raise InvalidToken("this refresh token's family has been revoked")

    async def revoke(
        self, session: AsyncSession, token: str, *, user_id: int, reason: str = "logout"
    ) -> None:
        """Log this device out: its whole family stops refreshing.

        Only ``user_id``'s own family: a refresh token of someone else is ignored.
        """
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


# The HTTP side of CloudDocs' tokens: a bearer dependency and the login/refresh/logout routes.
#
# Access tokens travel in the ``Authorization: Bearer`` header and live minutes. The refresh
# token travels only in a ``__Secure-`` cookie that JavaScript cannot read (HttpOnly), that
# other sites cannot make the browser send (SameSite=Strict), over HTTPS only (Secure), and
# only to the refresh path (Path), so no other endpoint ever sees it.

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Depends, FastAPI, HTTPException, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from clouddocs.accounts import authenticate
from clouddocs.audit_log import AuditEventType, record_event
from clouddocs.db import Database, User
from clouddocs.lockout import AccountLockout, LockoutPolicy
from clouddocs.passwords import PasswordHasher
from clouddocs.ratelimit import RateLimiter, too_many_requests
from clouddocs.security import bearer_challenge, hide_rejected_input, unauthorized

REFRESH_COOKIE = "__Secure-refresh"
REFRESH_PATH = "/auth/refresh"
LOGIN_FAILED = "email or password is incorrect"
LOCKED_OUT = "too many failed logins for this account; try again later"
#: Sent with a refused refresh: the browser drops the dead cookie at once.
EXPIRED_REFRESH_COOKIE = (
    f"{REFRESH_COOKIE}=; Max-Age=0; Path={REFRESH_PATH}; Secure; HttpOnly; SameSite=strict"
)
#: The routes reachable without an access token (each checks its own credential).
PUBLIC_ROUTES = frozenset({("POST", "/auth/login"), ("POST", REFRESH_PATH)})

#: Shows the scheme in OpenAPI; auto_error=False so that *we* write the 401 and its challenge.
bearer_scheme = HTTPBearer(
    auto_error=False, bearerFormat="JWT", description="CloudDocs access token"
)

# The 401s come from chapter 1's clouddocs.security: unauthorized() when no token was sent
# (a bare challenge), unauthorized("invalid_token") for a bad one (RFC 6750 §3).


AccessDependency = Callable[..., Awaitable[dict[str, Any]]]


def require_access_token(tokens: TokenService, db: Database) -> AccessDependency:
    """A dependency returning the claims of a valid, unrevoked access token, or answering 401.

    Revocation is checked here, on every request: a denylist consulted only when
    refreshing would let a logged-out access token work until it expires.
    """

    async def access_claims(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
        session: Annotated[AsyncSession, Depends(db.session)],
    ) -> dict[str, Any]:
        if credentials is None:
            raise unauthorized()
        try:
            claims = tokens.verify(credentials.credentials)
        except InvalidToken:
            raise unauthorized("invalid_token") from None  # the reason stays server-side
        if await is_revoked(session, claims):
            raise unauthorized("invalid_token")
        return claims

    return access_claims


class LoginForm(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=128)  # longer is refused before any hashing (DoS)


@dataclass
class TokenAppSettings:
    db: Database
    tokens: TokenService
    refresh: RefreshTokens
    hasher: PasswordHasher
    #: Chapter 2's per-account lockout: failed logins per login name before a pause.
    lockout_policy: LockoutPolicy = field(default_factory=LockoutPolicy)
    #: HMAC key of the lockout counters and audit events; workers sharing a database share it.
    lockout_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    #: Chapter 2's per-IP limit on login attempts, in the ``limits`` notation.
    login_rate_per_ip: str = "20/minute"
    rate_limit_storage: str = "memory://"


def token_routes(settings: TokenAppSettings) -> APIRouter:
    """Login, refresh, logout, log out everywhere, and ``/me``."""
    db, tokens, refresh = settings.db, settings.tokens, settings.refresh
    lockout = AccountLockout(
        clock=tokens.clock, policy=settings.lockout_policy, key=settings.lockout_key
    )
    login_limiter = RateLimiter(
        settings.login_rate_per_ip, settings.rate_limit_storage, scope="token-login-ip"
    )
    access_claims = require_access_token(tokens, db)
    Session = Annotated[AsyncSession, Depends(db.session)]
    Claims = Annotated[dict[str, Any], Depends(access_claims)]
    RefreshCookie = Annotated[str | None, Cookie(alias=REFRESH_COOKIE)]
    router = APIRouter()

    async def audit(session: AsyncSession, event: AuditEventType, **fields: Any) -> None:
        await record_event(session, event, clock=tokens.clock, **fields)

    async def issue_pair(session: AsyncSession, user_id: int, response: Response) -> dict[str, Any]:
        version = await current_version(session, user_id)
        access = tokens.issue(str(user_id), claims={VERSION_CLAIM: version})
        return token_body(access, response)

    def token_body(access: str, response: Response) -> dict[str, Any]:
        response.headers["Cache-Control"] = "no-store"  # tokens must not sit in caches
        lifetime = int(tokens.settings.access_lifetime.total_seconds())
        return {"access_token": access, "token_type": "Bearer", "expires_in": lifetime}

    def set_refresh_cookie(response: Response, token: str) -> None:
        response.set_cookie(
            REFRESH_COOKIE,
            token,
            max_age=int(refresh.token_lifetime.total_seconds()),
            path=REFRESH_PATH,
            secure=True,
            httponly=True,
            samesite="strict",
        )

    def clear_refresh_cookie(response: Response) -> None:
        response.delete_cookie(
            REFRESH_COOKIE, path=REFRESH_PATH, secure=True, httponly=True, samesite="strict"
        )

    @router.post("/auth/login")
    async def login(
        form: LoginForm, request: Request, session: Session, response: Response
    ) -> dict[str, Any]:
        # Brute force is stopped as in chapter 2: a per-IP rate limit, then a per-account
        # lockout counted *before* the password is checked.
        client_ip = request.client.host if request.client else "unknown"
        key = lockout.account_key(form.email)  # an HMAC, never the email itself
        decision = await login_limiter.hit_async(client_ip)
        if not decision.allowed:
            await audit(
                session, AuditEventType.LOGIN_RATE_LIMITED, account_key=key, client_ip=client_ip
            )
            raise too_many_requests(decision)
        attempt = await lockout.begin_attempt(session, form.email)
        if attempt.locked_now:
            await audit(
                session, AuditEventType.ACCOUNT_LOCKED, account_key=key, client_ip=client_ip
            )
        if not attempt.allowed:
            raise HTTPException(429, LOCKED_OUT, headers={"Retry-After": str(attempt.retry_after)})
        user = await authenticate(
            session, email=form.email, password=form.password, hasher=settings.hasher
        )
        if user is None:
            await audit(session, AuditEventType.LOGIN_FAILED, account_key=key, client_ip=client_ip)
            raise HTTPException(
                401,
                LOGIN_FAILED,
                headers={"WWW-Authenticate": bearer_challenge(), "Cache-Control": "no-store"},
            )
        await lockout.record_success(session, form.email)
        await audit(session, AuditEventType.LOGIN_SUCCEEDED, user_id=user.id, client_ip=client_ip)
        set_refresh_cookie(response, await refresh.start(session, user.id))
        return await issue_pair(session, user.id, response)

    @router.post(REFRESH_PATH)
    async def refresh_tokens(
        session: Session,
        request: Request,
        response: Response,
        refresh_cookie: RefreshCookie = None,
    ) -> dict[str, Any]:
        # Authenticated by the refresh cookie itself: that is the credential checked here.
        if refresh_cookie is None:
            raise unauthorized()
        client_ip = request.client.host if request.client else "unknown"
        try:
            user_id, next_refresh = await refresh.rotate(session, refresh_cookie)
            body = await issue_pair(session, user_id, response)  # reads the token version
            await refresh.ensure_live(session, next_refresh)  # ... then the family, again
        except InvalidToken as refused_token:
            if isinstance(refused_token, RefreshReuse):
                # The one event a security team wants paged on: someone replayed a token.
                await audit(
                    session,
                    AuditEventType.REFRESH_TOKEN_REUSED,
                    user_id=refused_token.user_id,
                    client_ip=client_ip,
                )
            refused = unauthorized("invalid_token")
            headers = {**(refused.headers or {}), "Set-Cookie": EXPIRED_REFRESH_COOKIE}
            raise HTTPException(401, refused.detail, headers=headers) from None
        set_refresh_cookie(response, next_refresh)
        await audit(session, AuditEventType.TOKEN_REFRESHED, user_id=user_id, client_ip=client_ip)
        return body

    @router.delete(REFRESH_PATH, status_code=204)
    async def logout(
        claims: Claims,
        request: Request,
        session: Session,
        response: Response,
        refresh_cookie: RefreshCookie = None,
    ) -> None:
        """Log this device out: deny its access token, revoke its refresh family."""
        user_id = int(claims["sub"])
        await deny(session, claims)
        if refresh_cookie is not None:
            try:
                await refresh.revoke(session, refresh_cookie, user_id=user_id)
            except InvalidToken:
                pass  # an invalid cookie refreshes nothing anyway; still clear it
        clear_refresh_cookie(response)
        client_ip = request.client.host if request.client else "unknown"
        await audit(session, AuditEventType.LOGOUT, user_id=user_id, client_ip=client_ip)

    @router.post("/auth/logout-everywhere", status_code=204)
    async def logout_everywhere(claims: Claims, request: Request, session: Session) -> None:
        """Every token this user holds, on every device, stops working now."""
        user_id = int(claims["sub"])
        await end_all_sessions(session, user_id, "logout everywhere")
        client_ip = request.client.host if request.client else "unknown"
        await audit(session, AuditEventType.LOGOUT_EVERYWHERE, user_id=user_id, client_ip=client_ip)

    @router.get("/me")
    async def me(claims: Claims, session: Session) -> dict[str, Any]:
        user = await session.get(User, int(claims["sub"]))
        if user is None:
            raise unauthorized("invalid_token")
        return {"id": user.id, "email": user.email, "display_name": user.display_name}

    return router


def create_token_app(settings: TokenAppSettings) -> FastAPI:
    app = FastAPI(title="CloudDocs (JWT)")
    app.include_router(token_routes(settings))
    hide_rejected_input(app)  # 422s name the field, never echo the password sent
    return app


# Asymmetric signing (RS256, EdDSA), a JWKS document and a verifier that uses it.
#
# With HS256 every verifier holds the signing secret, so every verifier could mint tokens.
# With RS256 or EdDSA only the issuer holds the private key; other services fetch the
# public keys from the issuer's JWKS endpoint (RFC 7517) and pick one by the token's
# ``kid`` — from that fetched set only, never from a URL or key inside the token.

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from fastapi import APIRouter
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from clouddocs.clock import Clock, SystemClock

#: The only algorithms a JWKS verifier will ever accept: asymmetric ones.
ASYMMETRIC_ALGORITHMS: frozenset[str] = frozenset({"RS256", "EdDSA"})


def new_rsa_key(kid: str) -> SigningKey:
    """A 2048-bit RSA key for RS256 (the widest-supported JWT algorithm)."""
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def new_ed25519_key(kid: str) -> SigningKey:
    """An Ed25519 key for EdDSA: small keys, fast deterministic signatures."""
    return SigningKey(kid, "EdDSA", ed25519.Ed25519PrivateKey.generate())


def public_jwk(key: SigningKey) -> dict[str, Any]:
    """The public half of ``key`` as a JWK, tagged with its ``kid`` and pinned ``alg``."""
    public = key.public_key
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ed25519.Ed25519PublicKey):
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    else:
        raise ValueError("an HS256 secret is not public and never goes in a JWKS")
    return {**jwk, "kid": key.kid, "alg": key.algorithm, "use": "sig"}


def jwks_document(ring: KeyRing) -> dict[str, Any]:
    """Every public key of the ring, the current one and those still being phased out."""
    return {"keys": [public_jwk(key) for key in ring.signing_keys()]}


def jwks_router(ring: KeyRing, path: str = "/.well-known/jwks.json") -> APIRouter:
    """Publish the ring's public keys. Public by design: they verify, they cannot sign."""
    router = APIRouter()

    @router.get(path, tags=["public"])
    async def jwks(response: Response) -> dict[str, Any]:
        # Let verifiers cache for a few minutes; rotation keeps old keys published longer.
        response.headers["Cache-Control"] = "public, max-age=300"
        return jwks_document(ring)

    return router


def keys_from_jwks(document: Mapping[str, Any]) -> dict[str, VerificationKey]:
    """Parse a JWKS once into ``kid`` → key pinned to its algorithm.

    Keys without a ``kid``, without an ``alg``, with a symmetric or unknown algorithm, or
    not meant for signatures are skipped: they could only widen what we accept.
    """
    keys: dict[str, VerificationKey] = {}
    for jwk in document.get("keys", []):
        kid, algorithm = jwk.get("kid"), jwk.get("alg")
        if not isinstance(kid, str) or algorithm not in ASYMMETRIC_ALGORITHMS:
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        try:
            parsed = jwt.PyJWK.from_dict(jwk)
        except jwt.PyJWTError:
            continue
        keys[kid] = VerificationKey(cast(Algorithm, algorithm), parsed.key)
    return keys


@dataclass
class JwksVerifier:
    """What a resource service uses to verify tokens from an issuer it does not trust with keys."""

    jwks: Mapping[str, Any]
    issuer: str
    audience: str
    clock: Clock = field(default_factory=SystemClock)
    leeway: timedelta = timedelta(seconds=30)
    keys: dict[str, VerificationKey] = field(init=False)

    def __post_init__(self) -> None:
        self.keys = keys_from_jwks(self.jwks)

    def update(self, jwks: Mapping[str, Any]) -> None:
        """Replace the key set (after re-fetching the issuer's JWKS on rotation)."""
        self.jwks = jwks
        self.keys = keys_from_jwks(jwks)

    def verify(self, token: str, *, token_type: str = ACCESS_TOKEN_TYPE) -> dict[str, Any]:
        if not self.keys:
            raise InvalidToken("no usable keys in the issuer's JWKS")
        return verify_jwt(
            token,
            self.keys,
            token_type=token_type,
            issuer=self.issuer,
            audience=self.audience,
            clock=self.clock,
            leeway=self.leeway,
        )
