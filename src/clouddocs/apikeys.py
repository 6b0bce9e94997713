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
from typing import get_args

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from clouddocs.db import Base

#: Scopes a key can carry; a key gets only the ones it needs (least privilege). A Literal, so
#: request schemas list the allowed values and anything else is an ordinary 422.
Scope = Literal["docs:read", "docs:write", "docs:share", "keys:manage"]
KNOWN_SCOPES: frozenset[str] = frozenset(get_args(Scope))
#: Keys expire: a key nobody rotates for a quarter is a key nobody is looking after.
DEFAULT_KEY_LIFETIME = timedelta(days=90)
#: No key outlives this, whatever the caller asks for: there are no immortal keys.
MAX_KEY_LIFETIME = timedelta(days=365)


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
    # NOT NULL: the database refuses a key without an end.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # Set by the one rotation that issued this key's successor: a key is rotated at most once.
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    rotated_from_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), default=None)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    def is_active(self, now: datetime) -> bool:
        """Not revoked and not expired at ``now``."""
        return self.revoked_at is None and now < as_utc(self.expires_at)


def as_utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes even from timezone-aware columns; they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from clouddocs.audit_log import AuditEventType, record_event
from clouddocs.clock import Clock


async def audit_key_event(
    session: AsyncSession,
    event: AuditEventType,
    key_id: int,
    *,
    clock: Clock,
    client_ip: str | None = None,
) -> None:
    """Append one audit event about a key, named by its id (never the key, never its digest)."""
    # The key id goes in the column chapter 2 uses for a non-user subject.
    await record_event(
        session,
        event,
        clock=clock,
        account_key=f"api-key:{key_id}",
        client_ip=client_ip,
    )


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


def validate_lifetime(lifetime: timedelta) -> timedelta:
    """``lifetime`` if it is positive and at most MAX_KEY_LIFETIME; ValueError otherwise."""
    if not timedelta(0) < lifetime <= MAX_KEY_LIFETIME:
        raise ValueError(f"a key lives more than 0 and at most {MAX_KEY_LIFETIME.days} days")
    return lifetime


def new_key_record(
    *,
    tenant_id: int,
    name: str,
    scopes: Iterable[str],
    now: datetime,
    environment: Environment = "live",
    lifetime: timedelta = DEFAULT_KEY_LIFETIME,
    rotated_from_id: int | None = None,
) -> tuple[str, ApiKey]:
    """A new key and its row, not yet added to a session: (plaintext, row)."""
    granted = validate_scopes(scopes)
    plaintext = generate_api_key(environment)
    record = ApiKey(
        tenant_id=tenant_id,
        name=name,
        digest=key_digest(plaintext),
        hint=display_hint(plaintext),
        scopes=" ".join(sorted(granted)),
        created_at=now,
        expires_at=now + validate_lifetime(lifetime),
        rotated_from_id=rotated_from_id,
    )
    return plaintext, record


async def issue_api_key(
    session: AsyncSession,
    *,
    tenant_id: int,
    name: str,
    scopes: Iterable[str],
    clock: Clock,
    environment: Environment = "live",
    lifetime: timedelta = DEFAULT_KEY_LIFETIME,
    client_ip: str | None = None,
) -> IssuedKey:
    """Create a key, store its digest, audit it, and return the plaintext this one time."""
    plaintext, record = new_key_record(
        tenant_id=tenant_id,
        name=name,
        scopes=scopes,
        now=clock.now(),
        environment=environment,
        lifetime=lifetime,
    )
    session.add(record)
    await session.commit()
    await audit_key_event(session, AuditEventType.API_KEY_CREATED, record.id, clock=clock, client_ip=client_ip)
    return IssuedKey(plaintext, record)


def key_environment(hint_or_key: str) -> Environment:
    """Which environment a key (or its display hint) belongs to, read from its prefix."""
    return "test" if hint_or_key.startswith(KEY_PREFIXES["test"]) else "live"


from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

#: Writing last_used_at on every request would turn each read into a write; once a minute is plenty.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class KeyPrincipal:
    """Who is calling: a key of a tenant, with its scopes. Carries no secret."""

    key_id: int
    tenant_id: int
    name: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class KeyCheck:
    """What one lookup found: the caller, or enough to audit a refusal."""

    principal: KeyPrincipal | None
    #: The id of a key that exists but is revoked or expired (for the audit log).
    inactive_key_id: int | None = None
    #: True when last_used_at is older than LAST_USED_RESOLUTION and is worth writing.
    touch_due: bool = False
    #: Until when this answer holds without a write: the key's expiry or its next touch.
    fresh_until: datetime | None = None


_KEY_BY_DIGEST = select(
    ApiKey.id,
    ApiKey.tenant_id,
    ApiKey.name,
    ApiKey.scopes,
    ApiKey.expires_at,
    ApiKey.revoked_at,
    ApiKey.last_used_at,
).where(ApiKey.digest == bindparam("digest"))


async def check_api_key(connection: AsyncConnection, presented: str, now: datetime) -> KeyCheck:
    """Look ``presented`` up with one indexed SELECT. Junk never reaches the database."""
    if not looks_like_api_key(presented):
        return KeyCheck(None)
    result = await connection.execute(_KEY_BY_DIGEST, {"digest": key_digest(presented)})
    row = result.first()
    if row is None:
        return KeyCheck(None)
    if row.revoked_at is not None or now >= as_utc(row.expires_at):
        return KeyCheck(None, inactive_key_id=row.id)
    principal = KeyPrincipal(row.id, row.tenant_id, row.name, frozenset(row.scopes.split()))
    last_used = row.last_used_at
    due = last_used is None or now - as_utc(last_used) >= LAST_USED_RESOLUTION
    next_touch = (now if due else as_utc(last_used)) + LAST_USED_RESOLUTION
    return KeyCheck(principal, touch_due=due, fresh_until=min(as_utc(row.expires_at), next_touch))


async def touch_last_used(connection: AsyncConnection, key_id: int, now: datetime) -> None:
    """Record a use; the WHERE makes a concurrent second touch within the minute a no-op."""
    stale = now - LAST_USED_RESOLUTION
    await connection.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .where(or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= stale))
        .values(last_used_at=now)
    )


from typing import Any

from sqlalchemy import CursorResult

#: During a rotation the old key keeps working this long, so clients can switch without downtime.
DEFAULT_ROTATION_OVERLAP = timedelta(hours=24)


async def verify_api_key(session: AsyncSession, presented: str, clock: Clock) -> ApiKey | None:
    """The active key matching ``presented``, or None. Records its last use (once a minute)."""
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
    session: AsyncSession, *, key_id: int, tenant_id: int, clock: Clock, client_ip: str | None = None
) -> bool:
    """Revoke a key; the very next request with it is refused. False if there is no such key."""
    record = await tenant_key(session, key_id=key_id, tenant_id=tenant_id)
    if record is None:
        return False
    if record.revoked_at is None:
        record.revoked_at = clock.now()
        await session.commit()
        await audit_key_event(session, AuditEventType.API_KEY_REVOKED, key_id, clock=clock, client_ip=client_ip)
    return True


async def rotate_api_key(
    session: AsyncSession,
    *,
    key_id: int,
    tenant_id: int,
    clock: Clock,
    overlap: timedelta = DEFAULT_ROTATION_OVERLAP,
    client_ip: str | None = None,
) -> IssuedKey | None:
    """Issue a successor with the same tenant, name and scopes; the old key ends after ``overlap``.

    Both keys work during the overlap, so clients deploy the new key at their own pace.
    Returns None when there is no active, not yet rotated key with that id in the tenant.
    """
    old = await tenant_key(session, key_id=key_id, tenant_id=tenant_id)
    now = clock.now()
    if old is None or not old.is_active(now) or old.rotated_at is not None:
        return None
    # Never extend a key that was going to expire sooner than the overlap.
    overlap_end = min(now + overlap, as_utc(old.expires_at))
    claim = (
        update(ApiKey)
        .where(ApiKey.id == old.id, ApiKey.rotated_at.is_(None), ApiKey.revoked_at.is_(None))
        .where(ApiKey.expires_at > now)
        .values(rotated_at=now, expires_at=overlap_end)
        .execution_options(synchronize_session=False)
    )
    claimed: CursorResult[Any] = cast(CursorResult[Any], await session.execute(claim))
    if claimed.rowcount != 1:  # another rotation (or a revocation) got there first
        await session.rollback()
        return None
    plaintext, successor = new_key_record(
        tenant_id=old.tenant_id,
        name=old.name,
        scopes=old.scope_set,
        now=now,
        environment=key_environment(old.hint),
        rotated_from_id=old.id,
    )
    session.add(successor)
    await session.commit()  # the claim and the successor: one transaction
    await audit_key_event(session, AuditEventType.API_KEY_ROTATED, old.id, clock=clock, client_ip=client_ip)
    return IssuedKey(plaintext, successor)


import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import anyio.to_thread
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from clouddocs.ratelimit import RateDecision

#: Each key's budget; an integration that needs more gets a key with its own limiter.
DEFAULT_KEY_RATE = "600/minute"
#: Failed key attempts one client address may make before it must wait.
DEFAULT_FAILED_ATTEMPT_RATE = "20/minute"


class KeyLimiter:
    """A moving-window limit per name, awaited without a thread hop when the storage is local.

    ``storage_uri``: ``memory://`` (this process) or ``redis://host:6379`` (every worker).
    """

    def __init__(self, rate: str, storage_uri: str = "memory://") -> None:
        self.item = parse(rate)
        self.in_process = urlsplit(storage_uri).scheme == "memory"
        self._strategy = MovingWindowRateLimiter(storage_from_string(storage_uri))

    async def hit(self, name: str) -> RateDecision:
        """Count one request for ``name`` (refused requests are not counted)."""
        return await self._run(self._hit, name)

    async def peek(self, name: str) -> RateDecision:
        """Would one more request for ``name`` be allowed? Counts nothing."""
        return await self._run(self._peek, name)

    async def _run(self, call: Callable[[str], RateDecision], name: str) -> RateDecision:
        if self.in_process:
            return call(name)  # a dictionary update: microseconds, nothing to wait for
        return await anyio.to_thread.run_sync(call, name)  # a network round trip

    def _hit(self, name: str) -> RateDecision:
        return self._decision(self._strategy.hit(self.item, name), name)

    def _peek(self, name: str) -> RateDecision:
        return self._decision(self._strategy.test(self.item, name), name)

    def _decision(self, allowed: bool, name: str) -> RateDecision:
        stats = self._strategy.get_window_stats(self.item, name)
        reset_after = max(0, math.ceil(stats.reset_time - time.time()))
        return RateDecision(
            allowed=allowed,
            limit=self.item.amount,
            remaining=stats.remaining,
            retry_after=0 if allowed else max(1, reset_after),
            reset_after=reset_after,
        )


from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response, status

from clouddocs.security import bearer_challenge

#: Query parameters that carry credentials in the wild; a request using one is refused.
CREDENTIAL_QUERY_PARAMETERS = frozenset({"api_key", "apikey", "key", "access_token", "token"})
KEY_SHAPE = re.compile(r"cdk_(live|test)_")


async def refuse_key_in_url(request: Request) -> None:
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


def client_address(request: Request) -> str:
    """The peer's address. Behind a proxy, configure the server to report the real client
    (uvicorn ``--forwarded-allow-ips``); never trust X-Forwarded-For from anyone."""
    return request.client.host if request.client else "unknown"


from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from clouddocs.clock import SystemClock
from clouddocs.credential_cache import CredentialCache
from clouddocs.db import Database
from clouddocs.ratelimit import rate_limit_headers, too_many_requests
from clouddocs.security import BEARER_TOKEN_SYNTAX, MAX_TOKEN_LENGTH, unauthorized


class ApiKeyGuard:
    """FastAPI dependencies that authenticate API keys and enforce scopes.

    ``Depends(guard.authenticate)`` answers who is calling (or 400/401/429);
    ``Depends(guard.require("docs:write"))`` also demands a scope (or 403, naming it).
    Keys of the other ``environment`` (``cdk_test_`` on the live API) are refused.
    ``cache`` (off by default): see ``clouddocs.credential_cache`` and ``lookup``.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock | None = None,
        limiter: KeyLimiter | None = None,
        *,
        failed_attempts: KeyLimiter | None = None,
        environment: Environment = "live",
        cache: CredentialCache[KeyCheck] | None = None,
    ) -> None:
        self.cache = cache
        self.db = db
        self.clock: Clock = clock or SystemClock()
        self.limiter = limiter or KeyLimiter(DEFAULT_KEY_RATE)
        self.failed_attempts = failed_attempts or KeyLimiter(DEFAULT_FAILED_ATTEMPT_RATE)
        self.environment: Environment = environment
        self.authenticate = key_authentication(self)

    def require(self, *scopes: str) -> Callable[..., Awaitable[KeyPrincipal]]:
        """A dependency that lets the request through only if the key has every scope."""
        return scope_requirement(self.authenticate, *scopes)

    async def lookup(self, presented: str) -> KeyCheck:
        """One SELECT on a pooled connection; an UPDATE too when last use is a minute old.
        With a cache, a key found active is reused until ``fresh_until``: no statement."""
        now, cache = self.clock.now(), self.cache
        # `is not None`, never plain truthiness: an empty cache has len() 0, so it is falsy.
        digest, ticket = (key_digest(presented), cache.ticket()) if cache is not None else ("", 0)
        cached = cache.get(digest) if cache is not None else None
        if cached is not None and cached.fresh_until and now < cached.fresh_until:
            return cached
        async with self.db.engine.connect() as connection:
            found = await check_api_key(connection, presented, now)
            if found.principal is not None and found.touch_due:
                await touch_last_used(connection, found.principal.key_id, now)
                await connection.commit()
        if cache is not None and found.principal is not None:  # only an active key is cached
            cache.put(digest, KeyCheck(found.principal, fresh_until=found.fresh_until), ticket)
        return found

    def forget_key(self, key_id: int) -> None:
        """Drop a key from the cache: after its revocation or rotation has committed."""
        if self.cache is not None:
            self.cache.forget_where(
                lambda check: check.principal is not None and check.principal.key_id == key_id
            )

    async def refusal(self, client: str, found: KeyCheck, description: str) -> HTTPException:
        """Count a failed attempt against ``client``, audit it if the key exists, build the 401."""
        await self.failed_attempts.hit(f"client:{client}")
        if found.inactive_key_id is not None:
            async with self.db.sessions() as session:
                await audit_key_event(
                    session,
                    AuditEventType.API_KEY_REFUSED,
                    found.inactive_key_id,
                    clock=self.clock,
                    client_ip=client,
                )
        return unauthorized("invalid_token", description)


def key_authentication(guard: ApiKeyGuard) -> Callable[..., Awaitable[KeyPrincipal]]:
    """The guard's ``authenticate`` dependency (see the diagram above for the order)."""
    # Declaring HTTPBearer makes OpenAPI and the route inventory see these routes as protected.
    scheme = HTTPBearer(auto_error=False, scheme_name="CloudDocsApiKey")
    wrong_prefix = KEY_PREFIXES["test" if guard.environment == "live" else "live"]

    async def authenticate(
        request: Request,
        response: Response,
        # Declared first, so it runs first: a key in the URL is refused even without a header.
        _no_key_in_url: Annotated[None, Depends(refuse_key_in_url)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(scheme)],
    ) -> KeyPrincipal:
        if credentials is None:
            raise unauthorized()  # no key at all: a challenge without an error code
        client = client_address(request)
        standing = await guard.failed_attempts.peek(f"client:{client}")
        if not standing.allowed:
            raise too_many_requests(standing)  # before any database work
        presented = credentials.credentials
        if presented.startswith(wrong_prefix):
            raise await guard.refusal(
                client,
                KeyCheck(None),
                f"A {wrong_prefix} key is not accepted by the {guard.environment} API.",
            )
        well_formed = len(presented) <= MAX_TOKEN_LENGTH and BEARER_TOKEN_SYNTAX.fullmatch(presented)
        found = await guard.lookup(presented) if well_formed else KeyCheck(None)
        if found.principal is None:
            # One message for every other reason: a caller cannot probe why a key failed.
            raise await guard.refusal(client, found, "The access token is not valid.")
        # Counted per key id: one noisy integration cannot starve the others behind the same
        # IP, and the limiter's storage never sees the key itself.
        decision = await guard.limiter.hit(f"api-key:{found.principal.key_id}")
        if not decision.allowed:
            raise too_many_requests(decision)
        response.headers.update(rate_limit_headers(decision))
        return found.principal

    return authenticate


def scope_requirement(
    authenticate: Callable[..., Awaitable[KeyPrincipal]], *scopes: str
) -> Callable[..., Awaitable[KeyPrincipal]]:
    """A dependency: ``authenticate`` first, then 403 unless the key has every scope."""
    needed = validate_scopes(scopes)

    async def key_with_scopes(
        key: Annotated[KeyPrincipal, Depends(authenticate)],
    ) -> KeyPrincipal:
        missing = " ".join(sorted(needed - key.scopes))
        if missing:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this API key lacks the scope {missing}",
                headers={"WWW-Authenticate": bearer_challenge("insufficient_scope", scope=missing)},
            )
        return key

    return key_with_scopes


from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from clouddocs.db import MAX_ROW_ID

#: Key ids are bounded by what every supported database stores (PostgreSQL's INTEGER is 32-bit):
#: a larger id in a URL is a 422, not a driver error (a 500).
KeyId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


_CHALLENGE = _header("How to authenticate (RFC 6750 §3): `Bearer realm=…, error=…`")
#: The refusals every key-protected route can answer, declared for OpenAPI.
KEY_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "A credential in the URL", "headers": {"WWW-Authenticate": _CHALLENGE}},
    401: {"description": "No key, or a key that is not valid", "headers": {"WWW-Authenticate": _CHALLENGE}},
    403: {"description": "The key lacks a scope", "headers": {"WWW-Authenticate": _CHALLENGE}},
    429: {
        "description": "Too many requests for this key, or too many failed keys from this client",
        "headers": {"Retry-After": _header("Seconds to wait before trying again")},
    },
}


class NewKeyRequest(BaseModel):
    # No control characters: NUL is refused by PostgreSQL (a 500), a newline forges log lines.
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    scopes: list[Scope] = Field(min_length=1, max_length=len(KNOWN_SCOPES))
    lifetime_days: int = Field(default=DEFAULT_KEY_LIFETIME.days, ge=1, le=MAX_KEY_LIFETIME.days)


class KeyInfo(BaseModel):
    """What anyone managing keys may see about a key: never the key, never its digest."""

    id: int
    name: str
    hint: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
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
            expires_at=as_utc(record.expires_at),
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
    """``/api-keys``: create, list, rotate and revoke the keys of the caller's tenant."""
    router = APIRouter(prefix="/api-keys", tags=["api keys"], responses=KEY_AUTH_RESPONSES)
    Manager = Annotated[KeyPrincipal, Depends(guard.require("keys:manage"))]

    @router.post("", status_code=status.HTTP_201_CREATED)
    async def create_key(
        new_key: NewKeyRequest, request: Request, response: Response, caller: Manager
    ) -> CreatedKey:
        requested = validate_scopes(new_key.scopes)  # the schema already allows only known ones
        refuse_scopes_beyond(caller, requested)
        async with guard.db.sessions() as session:
            issued = await issue_api_key(
                session,
                tenant_id=caller.tenant_id,
                name=new_key.name,
                scopes=requested,
                clock=guard.clock,
                environment=guard.environment,
                lifetime=timedelta(days=new_key.lifetime_days),
                client_ip=client_address(request),
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
    async def rotate_key(
        key_id: KeyId, request: Request, response: Response, caller: Manager
    ) -> CreatedKey:
        async with guard.db.sessions() as session:
            target = await tenant_key(session, key_id=key_id, tenant_id=caller.tenant_id)
            if target is not None:
                # The successor (and its plaintext, returned to the caller) has the target's
                # scopes: rotating a key is creating one, and follows the same rule.
                refuse_scopes_beyond(caller, target.scope_set)
            issued = await rotate_api_key(
                session,
                key_id=key_id,
                tenant_id=caller.tenant_id,
                clock=guard.clock,
                client_ip=client_address(request),
            )
        guard.forget_key(key_id)  # the old key's expiry moved: ask the database again
        if issued is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, "no active API key with this id that is not rotated yet"
            )
        response.headers["Cache-Control"] = "no-store"
        return CreatedKey(**KeyInfo.of(issued.record).model_dump(), api_key=issued.plaintext)

    @router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def revoke_key(key_id: KeyId, request: Request, caller: Manager) -> None:
        async with guard.db.sessions() as session:
            found = await revoke_api_key(
                session,
                key_id=key_id,
                tenant_id=caller.tenant_id,
                clock=guard.clock,
                client_ip=client_address(request),
            )
        guard.forget_key(key_id)  # committed above: this process refuses it from now on
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no API key with this id")

    return router


from fastapi import FastAPI

from clouddocs.security import harden


class NewDocument(BaseModel):
    # min_length=1: the schema says what the handler needs, so "" is an ordinary 422.
    title: str = Field(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]+$")


def create_api_key_app(guard: ApiKeyGuard) -> FastAPI:
    """The chapter's CloudDocs API: documents behind scoped keys, and key management."""
    api = FastAPI(title="CloudDocs API (API keys)")
    harden(api)  # chapter 1's baseline: headers, no-store, a body limit, quiet 422s
    api.include_router(api_keys_router(guard))

    @api.get("/documents", responses=KEY_AUTH_RESPONSES)
    async def list_documents(
        key: Annotated[KeyPrincipal, Depends(guard.require("docs:read"))],
    ) -> dict[str, object]:
        return {"tenant_id": key.tenant_id, "documents": ["Q1 plan", "Onboarding guide"]}

    @api.post("/documents", status_code=status.HTTP_201_CREATED, responses=KEY_AUTH_RESPONSES)
    async def create_document(
        document: NewDocument,
        key: Annotated[KeyPrincipal, Depends(guard.require("docs:write"))],
    ) -> dict[str, str]:
        return {"title": document.title, "created_by": key.name}

    return api
