# Generated from notebooks/04_api_keys.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""CloudDocs API keys: format, generation, storage as a digest, verification, scopes, rotation.

A key reads ``cdk_live_<22 random base62 characters><6-character checksum>``:

- the prefix says what the string is and where it works, so people, log scanners and
  secret scanners recognise it;
- the body carries 22 x log2(62) ≈ 131 bits from ``secrets``: nobody guesses that;
- the checksum (CRC32 of everything before it) lets a scanner tell a real key from a
  look-alike offline, and lets the server refuse typos without a database query.

The database keeps only the SHA-256 digest of each key: the plaintext is shown once.
"""

import hashlib
import math
import re
import secrets
import string
import zlib
from typing import Literal

Environment = Literal["live", "test"]

KEY_PREFIXES: dict[Environment, str] = {"live": "cdk_live_", "test": "cdk_test_"}
BASE62_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
BODY_LENGTH = 22
CHECKSUM_LENGTH = 6  # 62**6 > 2**32: six base62 characters hold any CRC32 value
BODY_BITS = BODY_LENGTH * math.log2(len(BASE62_ALPHABET))
KEY_PATTERN = re.compile(rf"cdk_(live|test)_[0-9A-Za-z]{{{BODY_LENGTH + CHECKSUM_LENGTH}}}")


def generate_api_key(environment: Environment = "live") -> str:
    """A new key: prefix, 131 random bits drawn with ``secrets``, checksum."""
    body = "".join(secrets.choice(BASE62_ALPHABET) for _ in range(BODY_LENGTH))
    unchecked = KEY_PREFIXES[environment] + body
    return unchecked + key_checksum(unchecked)


def key_checksum(unchecked: str) -> str:
    """CRC32 of the prefix and body, written as six base62 digits (most significant first)."""
    value = zlib.crc32(unchecked.encode("ascii"))
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, remainder = divmod(value, len(BASE62_ALPHABET))
        digits.append(BASE62_ALPHABET[remainder])
    return "".join(reversed(digits))


def looks_like_api_key(candidate: str) -> bool:
    """True when ``candidate`` has the key format and a correct checksum: no database needed."""
    if not KEY_PATTERN.fullmatch(candidate):
        return False
    unchecked, checksum = candidate[:-CHECKSUM_LENGTH], candidate[-CHECKSUM_LENGTH:]
    # The checksum is not a secret (anyone holding the key can compute it), so == is fine.
    return key_checksum(unchecked) == checksum


def key_digest(key: str) -> str:
    """SHA-256 of the key in hex: what the database stores and indexes."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_hint(key: str) -> str:
    """What a dashboard may show: the prefix and the last four characters."""
    prefix = key[: key.index("_", len("cdk_")) + 1]
    return f"{prefix}…{key[-4:]}"


from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.db import Base

#: Scopes a key can carry; a key gets only the ones it needs (least privilege).
KNOWN_SCOPES = frozenset({"docs:read", "docs:write", "docs:share", "keys:manage"})
#: Keys expire: a key nobody rotates for a quarter is a key nobody is looking after.
DEFAULT_KEY_LIFETIME = timedelta(days=90)


class ApiKey(Base):
    """One API key of a tenant. The plaintext is never stored: only its SHA-256 digest."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # Unique index: verification is one indexed lookup, and two keys can never collide.
    digest: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    hint: Mapped[str] = mapped_column(String(20))
    scopes: Mapped[str] = mapped_column(String(500))  # space-separated, like OAuth's `scope`
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    rotated_from_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), default=None)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    def is_active(self, now: datetime) -> bool:
        """Not revoked and not expired at ``now``."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < as_utc(self.expires_at)


def as_utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes even from timezone-aware columns; they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clouddocs.clock import Clock

#: Writing last_used_at on every request would turn each read into a write; once a minute is plenty.
LAST_USED_RESOLUTION = timedelta(minutes=1)
#: During a rotation the old key keeps working this long, so clients can switch without downtime.
DEFAULT_ROTATION_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True, repr=False)
class IssuedKey:
    """A freshly issued key: the only moment its plaintext exists on the server."""

    plaintext: str
    record: ApiKey

    def __repr__(self) -> str:
        # Printing or logging this object must not leak the key.
        return f"IssuedKey(id={self.record.id}, plaintext=<shown once to its owner>)"


def validate_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The requested scopes, refused if empty or unknown."""
    requested = frozenset(scopes)
    unknown = requested - KNOWN_SCOPES
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(sorted(unknown))}")
    if not requested:
        raise ValueError("an API key needs at least one scope")
    return requested


async def issue_api_key(
    session: AsyncSession,
    *,
    tenant_id: int,
    name: str,
    scopes: Iterable[str],
    clock: Clock,
    environment: Environment = "live",
    lifetime: timedelta | None = DEFAULT_KEY_LIFETIME,
    rotated_from_id: int | None = None,
) -> IssuedKey:
    """Create a key, store its digest, and return the plaintext this one time."""
    granted = validate_scopes(scopes)
    plaintext = generate_api_key(environment)
    now = clock.now()
    record = ApiKey(
        tenant_id=tenant_id,
        name=name,
        digest=key_digest(plaintext),
        hint=display_hint(plaintext),
        scopes=" ".join(sorted(granted)),
        created_at=now,
        expires_at=None if lifetime is None else now + lifetime,
        rotated_from_id=rotated_from_id,
    )
    session.add(record)
    await session.commit()
    return IssuedKey(plaintext, record)


async def verify_api_key(session: AsyncSession, presented: str, clock: Clock) -> ApiKey | None:
    """The active key matching ``presented``, or None. Records when the key was last used."""
    if not looks_like_api_key(presented):
        return None  # junk and typos never reach the database
    record = await session.scalar(select(ApiKey).where(ApiKey.digest == key_digest(presented)))
    now = clock.now()
    if record is None or not record.is_active(now):
        return None
    if record.last_used_at is None or now - as_utc(record.last_used_at) >= LAST_USED_RESOLUTION:
        record.last_used_at = now
        await session.commit()
    return record


async def tenant_key(session: AsyncSession, *, key_id: int, tenant_id: int) -> ApiKey | None:
    """A key by id, but only within the caller's tenant (another tenant's key is 'not found')."""
    return await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.tenant_id == tenant_id)
    )


async def revoke_api_key(
    session: AsyncSession, *, key_id: int, tenant_id: int, clock: Clock
) -> bool:
    """Revoke a key; the very next request with it is refused. False if there is no such key."""
    record = await tenant_key(session, key_id=key_id, tenant_id=tenant_id)
    if record is None:
        return False
    if record.revoked_at is None:
        record.revoked_at = clock.now()
        await session.commit()
    return True


async def rotate_api_key(
    session: AsyncSession,
    *,
    key_id: int,
    tenant_id: int,
    clock: Clock,
    overlap: timedelta = DEFAULT_ROTATION_OVERLAP,
) -> IssuedKey | None:
    """Issue a successor with the same tenant, name and scopes; the old key ends after ``overlap``.

    Both keys work during the overlap, so clients deploy the new key at their own pace.
    Returns None when there is no active key with that id in the tenant.
    """
    old = await tenant_key(session, key_id=key_id, tenant_id=tenant_id)
    now = clock.now()
    if old is None or not old.is_active(now):
        return None
    environment: Environment = "test" if old.hint.startswith(KEY_PREFIXES["test"]) else "live"
    successor = await issue_api_key(
        session,
        tenant_id=old.tenant_id,
        name=old.name,
        scopes=old.scope_set,
        clock=clock,
        environment=environment,
        rotated_from_id=old.id,
    )
    overlap_end = now + overlap
    if old.expires_at is None or overlap_end < as_utc(old.expires_at):
        old.expires_at = overlap_end  # never extend a key that was going to expire sooner
    await session.commit()
    return successor


from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response, status

from clouddocs.clock import SystemClock
from clouddocs.db import Database
from clouddocs.ratelimit import RateLimiter, rate_limit_headers, too_many_requests
from clouddocs.security import bearer_auth, bearer_challenge

#: Query parameters that carry credentials in the wild; a request using one is refused.
CREDENTIAL_QUERY_PARAMETERS = frozenset({"api_key", "apikey", "key", "access_token", "token"})
KEY_SHAPE = re.compile(r"cdk_(live|test)_")


@dataclass(frozen=True)
class KeyPrincipal:
    """Who is calling: a key of a tenant, with its scopes. Carries no secret."""

    key_id: int
    tenant_id: int
    name: str
    scopes: frozenset[str]


def refuse_key_in_url(request: Request) -> None:
    """400 when a credential rides in the query string: URLs end up in logs and histories.

    Refused: a parameter with a credential's name, and a key anywhere in a parameter's name
    or value (``?q=cdk_live_…`` and a bare ``?cdk_live_…`` are logged just the same).
    """
    for name, value in request.query_params.multi_items():
        named_like_a_credential = name.lower() in CREDENTIAL_QUERY_PARAMETERS
        if named_like_a_credential or KEY_SHAPE.search(name) or KEY_SHAPE.search(value):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                detail=(
                    "API keys are accepted only in the Authorization header, never in the URL."
                    " A key sent in a URL is in logs now: rotate it."
                ),
                headers={"WWW-Authenticate": bearer_challenge("invalid_request")},
            )


class ApiKeyGuard:
    """FastAPI dependencies that authenticate API keys and enforce scopes.

    ``Depends(guard.authenticate)`` answers who is calling (or 400/401);
    ``Depends(guard.require("docs:write"))`` also demands a scope (or 403, naming it).
    With a ``limiter``, each key gets its own request budget (or 429).
    """

    def __init__(
        self, db: Database, clock: Clock | None = None, limiter: RateLimiter | None = None
    ) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()
        self.limiter = limiter
        self.authenticate = self._authenticate_dependency()

    async def lookup(self, presented: str) -> KeyPrincipal | None:
        """The caller behind ``presented``, or None when the key is not valid right now."""
        async with self.db.sessions() as session:
            record = await verify_api_key(session, presented, self.clock)
            if record is None:
                return None
            return KeyPrincipal(record.id, record.tenant_id, record.name, record.scope_set)

    def _authenticate_dependency(self) -> Callable[..., Awaitable[KeyPrincipal]]:
        # Chapter 1's bearer_auth gives the 401s (with their challenges) and declares the
        # scheme, so OpenAPI and the route inventory see these routes as protected.
        bearer = bearer_auth(self.lookup, scheme_name="CloudDocsApiKey")

        async def authenticate(
            # Declared first, so it runs first: a key in the URL is refused even without a header.
            _no_key_in_url: Annotated[None, Depends(refuse_key_in_url)],
            key: Annotated[KeyPrincipal, Depends(bearer)],
            response: Response,
        ) -> KeyPrincipal:
            if self.limiter is not None:
                # Counted per key id: one noisy integration cannot starve the others, even
                # behind the same IP, and the limiter's storage never sees the key itself.
                # `hit` is synchronous and, with Redis storage, waits on the network: called
                # here directly it would stall the event loop, and every request this worker
                # is serving, for each round trip. `hit_async` runs it in a worker thread.
                decision = await self.limiter.hit_async(f"api-key:{key.key_id}")
                if not decision.allowed:
                    raise too_many_requests(decision)
                response.headers.update(rate_limit_headers(decision))
            return key

        return authenticate

    def require(self, *scopes: str) -> Callable[..., Awaitable[KeyPrincipal]]:
        """A dependency that lets the request through only if the key has every scope."""
        needed = validate_scopes(scopes)

        async def key_with_scopes(
            key: Annotated[KeyPrincipal, Depends(self.authenticate)],
        ) -> KeyPrincipal:
            missing = " ".join(sorted(needed - key.scopes))
            if missing:
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN,
                    detail=f"this API key lacks the scope {missing}",
                    headers={
                        "WWW-Authenticate": bearer_challenge("insufficient_scope", scope=missing)
                    },
                )
            return key

        return key_with_scopes


from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

#: Key ids are 64-bit integers in the database: a larger id in a URL is a 422, not a crash
#: (SQLite raises OverflowError on an integer it cannot store, which would be a 500).
KeyId = Annotated[int, Path(ge=1, le=2**63 - 1)]
#: Longer than any scope in KNOWN_SCOPES: a longer string is refused before any scope check.
ScopeName = Annotated[str, Field(max_length=32)]


class NewKeyRequest(BaseModel):
    # No control characters: NUL is refused by PostgreSQL (a 500), a newline forges log lines.
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    scopes: list[ScopeName] = Field(min_length=1, max_length=len(KNOWN_SCOPES))
    environment: Environment = "live"


class KeyInfo(BaseModel):
    """What anyone managing keys may see about a key: never the key, never its digest."""

    id: int
    name: str
    hint: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool

    @classmethod
    def of(cls, record: ApiKey) -> "KeyInfo":
        return cls(
            id=record.id,
            name=record.name,
            hint=record.hint,
            scopes=sorted(record.scope_set),
            created_at=as_utc(record.created_at),
            expires_at=as_utc(record.expires_at) if record.expires_at else None,
            last_used_at=as_utc(record.last_used_at) if record.last_used_at else None,
            revoked=record.revoked_at is not None,
        )


class CreatedKey(KeyInfo):
    api_key: str = Field(description="The key itself. Shown once: CloudDocs keeps only a digest.")


def refuse_scopes_beyond(caller: KeyPrincipal, scopes: frozenset[str]) -> None:
    """403 when ``scopes`` include one the calling key lacks: no key may mint a stronger key."""
    beyond_caller = sorted(scopes - caller.scopes)
    if beyond_caller:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"a key cannot hand out scopes it lacks: {' '.join(beyond_caller)}",
        )


def api_keys_router(guard: ApiKeyGuard) -> APIRouter:
    """``/api-keys``: create, list, rotate and revoke the keys of the caller's tenant.

    Every route needs a key with ``keys:manage``. A manager never receives a key with a
    scope it lacks — neither by creating one nor by rotating a more powerful key, whose
    successor's plaintext it would receive — so managing keys is not a way to escalate.
    """
    router = APIRouter(prefix="/api-keys", tags=["api keys"])
    Manager = Annotated[KeyPrincipal, Depends(guard.require("keys:manage"))]

    @router.post("", status_code=status.HTTP_201_CREATED)
    async def create_key(new_key: NewKeyRequest, response: Response, caller: Manager) -> CreatedKey:
        try:
            requested = validate_scopes(new_key.scopes)
        except ValueError as error:
            raise HTTPException(422, str(error)) from None  # 422, like FastAPI's validation
        refuse_scopes_beyond(caller, requested)
        async with guard.db.sessions() as session:
            issued = await issue_api_key(
                session,
                tenant_id=caller.tenant_id,
                name=new_key.name,
                scopes=requested,
                clock=guard.clock,
                environment=new_key.environment,
            )
        response.headers["Cache-Control"] = "no-store"  # no cache may keep the plaintext
        return CreatedKey(**KeyInfo.of(issued.record).model_dump(), api_key=issued.plaintext)

    @router.get("")
    async def list_keys(caller: Manager) -> list[KeyInfo]:
        async with guard.db.sessions() as session:
            records = await session.scalars(
                select(ApiKey).where(ApiKey.tenant_id == caller.tenant_id).order_by(ApiKey.id)
            )
            return [KeyInfo.of(record) for record in records]

    @router.post("/{key_id}/rotate", status_code=status.HTTP_201_CREATED)
    async def rotate_key(key_id: KeyId, response: Response, caller: Manager) -> CreatedKey:
        async with guard.db.sessions() as session:
            target = await tenant_key(session, key_id=key_id, tenant_id=caller.tenant_id)
            if target is not None:
                # The successor (and its plaintext, returned to the caller) has the target's
                # scopes: rotating a key is creating one, and follows the same rule.
                refuse_scopes_beyond(caller, target.scope_set)
            issued = await rotate_api_key(
                session, key_id=key_id, tenant_id=caller.tenant_id, clock=guard.clock
            )
        if issued is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no active API key with this id")
        response.headers["Cache-Control"] = "no-store"
        return CreatedKey(**KeyInfo.of(issued.record).model_dump(), api_key=issued.plaintext)

    @router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def revoke_key(key_id: KeyId, caller: Manager) -> None:
        async with guard.db.sessions() as session:
            found = await revoke_api_key(
                session, key_id=key_id, tenant_id=caller.tenant_id, clock=guard.clock
            )
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no API key with this id")

    return router
