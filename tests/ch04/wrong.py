"""Known-wrong implementations of the chapter 4 exercises, one mistake each.

Every public callable here must be rejected by at least one case of its exercise
(``test_checks.py`` names the case). They are the mistakes seen in real code bases:
predictable or short keys, plaintext or Argon2 storage, keys accepted in URLs, substring
scope checks, rotations that break clients, limits keyed by IP, and webhook receivers with
no time window, no replay memory or an ``==`` comparison.
"""

import hashlib
import hmac
import random
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

from argon2 import PasswordHasher
from fastapi import Depends, HTTPException, Request, Response
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authcourse.clock import Clock
from clouddocs.apikeys import (
    BASE62_ALPHABET,
    KEY_PREFIXES,
    ApiKey,
    KeyLimiter,
    KeyPrincipal,
    as_utc,
    display_hint,
    generate_api_key,
    issue_api_key,
    key_checksum,
    looks_like_api_key,
)
from clouddocs.ratelimit import rate_limit_headers, too_many_requests

Dependency = Callable[..., Awaitable[Any]]

# --------------------------------------------------------------------------- 04.1


def generate_with_random(environment: str = "live") -> str:
    """`random` instead of `secrets`: the keys follow from the generator's state."""
    body = "".join(random.choices(BASE62_ALPHABET, k=22))
    unchecked = KEY_PREFIXES[environment] + body  # type: ignore[index]
    return unchecked + key_checksum(unchecked)


def generate_short_body(environment: str = "live") -> str:
    """16 random characters: about 95 bits, below the 128-bit floor."""
    body = "".join(secrets.choice(BASE62_ALPHABET) for _ in range(16))
    unchecked = KEY_PREFIXES[environment] + body  # type: ignore[index]
    return unchecked + key_checksum(unchecked)


def generate_without_checksum(environment: str = "live") -> str:
    """28 random characters and no checksum: scanners cannot tell it from a look-alike."""
    return KEY_PREFIXES[environment] + "".join(  # type: ignore[index]
        secrets.choice(BASE62_ALPHABET) for _ in range(28)
    )


def generate_hex_body(environment: str = "live") -> str:
    """22 hex characters: the right length, but only 88 bits."""
    unchecked = KEY_PREFIXES[environment] + secrets.token_hex(11)  # type: ignore[index]
    return unchecked + key_checksum(unchecked)


def checksum_prefix_only(candidate: str) -> bool:
    """Looks at the prefix and nothing else."""
    return candidate.startswith(("cdk_live_", "cdk_test_"))


# --------------------------------------------------------------------------- 04.2


async def _store(
    session: AsyncSession, tenant_id: int, clock: Clock, stored: str, key: str
) -> None:
    now = clock.now()
    session.add(
        ApiKey(
            tenant_id=tenant_id,
            name="wrong",
            digest=stored,
            hint=display_hint(key),
            scopes="docs:read",
            created_at=now,
            expires_at=now + timedelta(days=90),
        )
    )
    await session.commit()


async def store_plaintext(
    session: AsyncSession, *, tenant_id: int, scopes: list[str], clock: Clock
) -> str:
    """The key itself in the digest column: a database leak hands out working keys."""
    key = generate_api_key()
    await _store(session, tenant_id, clock, key, key)
    return key


async def verify_plaintext(session: AsyncSession, presented: str, clock: Clock) -> ApiKey | None:
    return await session.scalar(select(ApiKey).where(ApiKey.digest == presented))


_cheap_argon2 = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


async def store_argon2(
    session: AsyncSession, *, tenant_id: int, scopes: list[str], clock: Clock
) -> str:
    """A salted Argon2 hash: no index can find it, so every request must try every row."""
    key = generate_api_key()
    await _store(session, tenant_id, clock, _cheap_argon2.hash(key), key)
    return key


async def verify_argon2_every_row(
    session: AsyncSession, presented: str, clock: Clock
) -> ApiKey | None:
    for record in await session.scalars(select(ApiKey)):
        try:
            if _cheap_argon2.verify(record.digest, presented):
                return record
        except Exception:
            continue
    return None


async def store_without_expiry(
    session: AsyncSession, *, tenant_id: int, scopes: list[str], clock: Clock
) -> str:
    """Keys that live a century: as good as forever (the column refuses a missing end)."""
    key = generate_api_key()
    session.add(
        ApiKey(
            tenant_id=tenant_id,
            name="wrong",
            digest=hashlib.sha256(key.encode()).hexdigest(),
            hint=display_hint(key),
            scopes="docs:read",
            created_at=clock.now(),
            expires_at=clock.now() + timedelta(days=36_500),
        )
    )
    await session.commit()
    return key


async def _lookup(session: AsyncSession, presented: str) -> ApiKey | None:
    if not looks_like_api_key(presented):
        return None
    digest = hashlib.sha256(presented.encode()).hexdigest()
    return await session.scalar(select(ApiKey).where(ApiKey.digest == digest))


async def verify_ignoring_expiry(
    session: AsyncSession, presented: str, clock: Clock
) -> ApiKey | None:
    """Finds the row and stops there: revoked and expired keys keep working."""
    record = await _lookup(session, presented)
    if record is not None:
        record.last_used_at = clock.now()
        await session.commit()
    return record


async def verify_without_last_used(
    session: AsyncSession, presented: str, clock: Clock
) -> ApiKey | None:
    """Correct, except nobody can tell which keys are still in use."""
    record = await _lookup(session, presented)
    if record is None or record.revoked_at is not None:
        return None
    if record.expires_at is not None and clock.now() >= as_utc(record.expires_at):
        return None
    return record


# --------------------------------------------------------------------------- 04.3


def _bearer_or_401(request: Request) -> str:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential:
        raise HTTPException(401, "key required", headers={"WWW-Authenticate": "Bearer"})
    return credential


def read_key_from_query_too(request: Request) -> str:
    """Falls back to ?api_key=, as many APIs once did."""
    in_query = request.query_params.get("api_key")
    return in_query if in_query else _bearer_or_401(request)


def refuse_only_api_key_name(request: Request) -> str:
    """Refuses ?api_key= but not the same key under another name."""
    if "api_key" in request.query_params:
        raise HTTPException(400, "not in the URL", headers={"WWW-Authenticate": "Bearer"})
    return _bearer_or_401(request)


def bare_401_without_challenge(request: Request) -> str:
    """Refuses URLs correctly, but its 401 does not say how to authenticate."""
    for name, value in request.query_params.multi_items():
        if name in {"api_key", "apikey", "key", "access_token", "token"} or "cdk_" in value:
            raise HTTPException(400, "not in the URL")
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential:
        raise HTTPException(401, "key required")
    return credential


def accept_any_scheme(request: Request) -> str:
    """Takes whatever follows the first space of Authorization, Basic included."""
    for name, value in request.query_params.multi_items():
        if name in {"api_key", "apikey", "key", "access_token", "token"} or "cdk_" in value:
            raise HTTPException(400, "not in the URL", headers={"WWW-Authenticate": "Bearer"})
    credential = request.headers.get("authorization", "").partition(" ")[2]
    if not credential:
        raise HTTPException(401, "key required", headers={"WWW-Authenticate": "Bearer"})
    return credential


# --------------------------------------------------------------------------- 04.4


def scope_401_when_missing(scope: str, authenticate: Dependency) -> Dependency:
    """Answers "who are you?" to a caller who is known, just not allowed."""

    async def dependency(key: Annotated[KeyPrincipal, Depends(authenticate)]) -> KeyPrincipal:
        if scope not in key.scopes:
            raise HTTPException(401, f"missing {scope}", headers={"WWW-Authenticate": "Bearer"})
        return key

    return dependency


def scope_403_without_naming(scope: str, authenticate: Dependency) -> Dependency:
    """A bare 403: the integrator cannot tell which scope to ask for."""

    async def dependency(key: Annotated[KeyPrincipal, Depends(authenticate)]) -> KeyPrincipal:
        if scope not in key.scopes:
            challenge = 'Bearer error="insufficient_scope"'
            raise HTTPException(403, "forbidden", headers={"WWW-Authenticate": challenge})
        return key

    return dependency


def scope_substring_match(scope: str, authenticate: Dependency) -> Dependency:
    """`"docs:read" in "docs:read-metadata"` is True: a substring is not a scope."""

    async def dependency(key: Annotated[KeyPrincipal, Depends(authenticate)]) -> KeyPrincipal:
        if not any(scope in granted for granted in key.scopes):
            challenge = f'Bearer error="insufficient_scope", scope="{scope}"'
            raise HTTPException(
                403, f"lacks the scope {scope}", headers={"WWW-Authenticate": challenge}
            )
        return key

    return dependency


# --------------------------------------------------------------------------- 04.5


async def _active_old_key(session: AsyncSession, key_id: int, clock: Clock) -> ApiKey:
    old = await session.get(ApiKey, key_id)
    if old is None or not old.is_active(clock.now()):
        raise LookupError(key_id)
    return old


async def rotate_revoking_old_at_once(
    session: AsyncSession, old_key_id: int, clock: Clock, overlap: timedelta
) -> str:
    """Every client using the old key breaks the moment the new one is issued."""
    old = await _active_old_key(session, old_key_id, clock)
    new = await issue_api_key(
        session, tenant_id=old.tenant_id, name=old.name, scopes=old.scope_set, clock=clock
    )
    old.revoked_at = clock.now()
    await session.commit()
    return new.plaintext


async def rotate_without_expiring_old(
    session: AsyncSession, old_key_id: int, clock: Clock, overlap: timedelta
) -> str:
    """The old key never stops: a rotation that rotates nothing out."""
    old = await _active_old_key(session, old_key_id, clock)
    new = await issue_api_key(
        session, tenant_id=old.tenant_id, name=old.name, scopes=old.scope_set, clock=clock
    )
    return new.plaintext


async def rotate_with_default_scopes(
    session: AsyncSession, old_key_id: int, clock: Clock, overlap: timedelta
) -> str:
    """The successor gets a default scope set instead of the old key's."""
    old = await _active_old_key(session, old_key_id, clock)
    new = await issue_api_key(
        session, tenant_id=old.tenant_id, name=old.name, scopes=["docs:read"], clock=clock
    )
    old.expires_at = clock.now() + overlap
    await session.commit()
    return new.plaintext


async def rotate_extending_expiry(
    session: AsyncSession, old_key_id: int, clock: Clock, overlap: timedelta
) -> str:
    """Always sets the old key's end to now + overlap, even when it was due sooner."""
    old = await _active_old_key(session, old_key_id, clock)
    new = await issue_api_key(
        session, tenant_id=old.tenant_id, name=old.name, scopes=old.scope_set, clock=clock
    )
    old.expires_at = clock.now() + overlap
    await session.commit()
    return new.plaintext


async def rotate_revoked_too(
    session: AsyncSession, old_key_id: int, clock: Clock, overlap: timedelta
) -> str:
    """Never checks the old key is active: a revoked key's holder gets a fresh one."""
    old = await session.get(ApiKey, old_key_id)
    if old is None:
        raise LookupError(old_key_id)
    new = await issue_api_key(
        session, tenant_id=old.tenant_id, name=old.name, scopes=old.scope_set, clock=clock
    )
    old.expires_at = min(as_utc(old.expires_at or clock.now()), clock.now() + overlap)
    await session.commit()
    return new.plaintext


# --------------------------------------------------------------------------- 04.6


def _limit(
    limiter: KeyLimiter, authenticate: Dependency, counter: Callable[..., str]
) -> Dependency:
    async def dependency(
        key: Annotated[KeyPrincipal, Depends(authenticate)], request: Request, response: Response
    ) -> KeyPrincipal:
        decision = await limiter.hit(counter(key, request))
        if not decision.allowed:
            raise too_many_requests(decision)
        response.headers.update(rate_limit_headers(decision))
        return key

    return dependency


def limit_per_ip(limiter: KeyLimiter, authenticate: Dependency) -> Dependency:
    """Counts the client's IP: integrations behind one NAT starve each other."""
    return _limit(limiter, authenticate, lambda key, request: f"ip:{request.client.host}")


def limit_per_key_and_ip(limiter: KeyLimiter, authenticate: Dependency) -> Dependency:
    """One budget per key *and* IP: a client spread over many IPs gets many budgets."""
    return _limit(
        limiter, authenticate, lambda key, request: f"api-key:{key.key_id}:{request.client.host}"
    )


def limit_by_plaintext_key(limiter: KeyLimiter, authenticate: Dependency) -> Dependency:
    """Uses the presented key as the counter name: Redis now stores every key in clear."""
    return _limit(limiter, authenticate, lambda key, request: request.headers["authorization"])


def limit_without_headers(limiter: KeyLimiter, authenticate: Dependency) -> Dependency:
    """Counts correctly but tells clients nothing: a bare 429, no Retry-After."""

    async def dependency(key: Annotated[KeyPrincipal, Depends(authenticate)]) -> KeyPrincipal:
        if not (await limiter.hit(f"api-key:{key.key_id}")).allowed:
            raise HTTPException(429, "slow down")
        return key

    return dependency


def limit_refusing_everything(limiter: KeyLimiter, authenticate: Dependency) -> Dependency:
    """Every request is "over the limit": the refusal cases pass, nothing else does."""

    async def dependency(key: Annotated[KeyPrincipal, Depends(authenticate)]) -> KeyPrincipal:
        raise HTTPException(429, "slow down", headers={"Retry-After": "60"})

    return dependency


# --------------------------------------------------------------------------- refuse everything


def checksum_refusing_everything(candidate: str) -> bool:
    """Says False to everything: typos are refused, and so are real keys."""
    return False


async def verify_refusing_everything(
    session: AsyncSession, presented: str, clock: Clock
) -> ApiKey | None:
    return None


def read_key_refusing_everything(request: Request) -> str:
    raise HTTPException(401, "no", headers={"WWW-Authenticate": 'Bearer realm="clouddocs"'})


async def rotate_refusing_everything(
    session: AsyncSession, old_key_id: int, clock: Clock, overlap: timedelta
) -> str:
    raise LookupError(old_key_id)


# --------------------------------------------------------------------------- issue 11 findings


async def verify_matching_digest_too(
    session: AsyncSession, presented: str, clock: Clock
) -> ApiKey | None:
    """Also matches the digest column against the raw input: a leaked dump works as keys."""
    digest = hashlib.sha256(presented.encode()).hexdigest()
    record = await session.scalar(
        select(ApiKey).where(or_(ApiKey.digest == digest, ApiKey.digest == presented))
    )
    if record is None or not record.is_active(clock.now()):
        return None
    record.last_used_at = clock.now()
    await session.commit()
    return record


async def verify_by_hint(session: AsyncSession, presented: str, clock: Clock) -> ApiKey | None:
    """Finds the row by its display hint (prefix + last four): any look-alike matches."""
    if not presented.startswith("cdk_"):
        return None
    record = await session.scalar(select(ApiKey).where(ApiKey.hint == display_hint(presented)))
    if record is None or not record.is_active(clock.now()):
        return None
    record.last_used_at = clock.now()
    await session.commit()
    return record


def scope_checked_before_the_key(scope: str, authenticate: Dependency) -> Dependency:
    """Decides on the scope before knowing who calls: no key at all is a 403, not a 401."""
    challenge = f'Bearer error="insufficient_scope", scope="{scope}"'

    async def scope_first(request: Request) -> None:
        if "authorization" not in request.headers:
            raise HTTPException(
                403, f"lacks the scope {scope}", headers={"WWW-Authenticate": challenge}
            )

    async def dependency(
        _: Annotated[None, Depends(scope_first)],
        key: Annotated[KeyPrincipal, Depends(authenticate)],
    ) -> KeyPrincipal:
        if scope not in key.scopes:
            raise HTTPException(
                403, f"lacks the scope {scope}", headers={"WWW-Authenticate": challenge}
            )
        return key

    return dependency


async def rotate_read_then_write(
    session: AsyncSession, old_key_id: int, clock: Clock, overlap: timedelta
) -> str:
    """Checks the row in Python, then writes: two concurrent rotations both pass the check."""
    old = await _active_old_key(session, old_key_id, clock)
    expires_at = min(as_utc(old.expires_at), clock.now() + overlap)
    new = await issue_api_key(
        session, tenant_id=old.tenant_id, name=old.name, scopes=old.scope_set, clock=clock
    )
    # The write does not repeat the check: nothing stops a second rotation in between.
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == old_key_id)
        .values(expires_at=expires_at, rotated_at=clock.now())
    )
    await session.commit()
    return new.plaintext


# --------------------------------------------------------------------------- 04.7

TOLERANCE = 300


def _mac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _signed(timestamp: int, delivery_id: str, body: bytes) -> bytes:
    return f"{timestamp}.{delivery_id}.".encode() + body


def sign_body_only(secret: str, body: bytes, timestamp: int, delivery_id: str) -> str:
    """The timestamp and id ride along but are not signed: anyone can refresh a delivery."""
    return f"t={timestamp},id={delivery_id},v1={_mac(secret, body)}"


def _parse(header: str | None) -> tuple[int, str, str] | None:
    fields = dict(item.partition("=")[::2] for item in (header or "").split(","))
    timestamp, delivery_id, signature = (
        fields.get("t", ""),
        fields.get("id", ""),
        fields.get("v1", ""),
    )
    if not (timestamp.isascii() and timestamp.isdigit()) or not delivery_id or not signature:
        return None
    return int(timestamp), delivery_id, signature


class _Receiver:
    """The right receiver; each known-wrong one below changes one step."""

    def __init__(self, secret: str, clock: Clock) -> None:
        self.secret, self.clock, self.seen = secret, clock, dict[str, float]()

    def accept(self, header: str | None, body: bytes) -> bool:
        parsed = self.parse(header)
        if parsed is None:
            return False
        timestamp, delivery_id, signature = parsed
        now = self.clock.time()
        if not self.fresh(now, timestamp):
            return False
        if not self.matches(_mac(self.secret, _signed(timestamp, delivery_id, body)), signature):
            return False
        return self.first_time(self.replay_key(timestamp, delivery_id, body), timestamp, now)

    def parse(self, header: str | None) -> tuple[int, str, str] | None:
        return _parse(header)

    def fresh(self, now: float, timestamp: int) -> bool:
        return abs(now - timestamp) <= TOLERANCE

    def matches(self, expected: str, signature: str) -> bool:
        return hmac.compare_digest(expected.encode(), signature.encode())

    def replay_key(self, timestamp: int, delivery_id: str, body: bytes) -> str:
        return delivery_id

    def first_time(self, key: str, timestamp: int, now: float) -> bool:
        self.seen = {seen: until for seen, until in self.seen.items() if until >= now}
        if key in self.seen:
            return False
        self.seen[key] = timestamp + TOLERANCE
        return True


class ReceiverWithoutWindow(_Receiver):
    """Checks the MAC and remembers ids, but accepts a delivery of any age."""

    def fresh(self, now: float, timestamp: int) -> bool:
        return True

    def first_time(self, key: str, timestamp: int, now: float) -> bool:
        if key in self.seen:
            return False
        self.seen[key] = timestamp + TOLERANCE
        return True


class ReceiverWithoutReplayMemory(_Receiver):
    """Window and MAC are right; the same delivery is accepted as often as it is sent."""

    def first_time(self, key: str, timestamp: int, now: float) -> bool:
        return True


class ReceiverWithEquals(_Receiver):
    """Everything right except `==`, which stops at the first differing character."""

    def matches(self, expected: str, signature: str) -> bool:
        return expected == signature


class ReceiverWithDecoyCompare(_Receiver):
    """Calls hmac.compare_digest on the way, then lets == decide: still a timing leak."""

    def matches(self, expected: str, signature: str) -> bool:
        hmac.compare_digest(signature, signature)  # the decoy: its answer is ignored
        return expected == signature


class ReceiverThatNeverForgets(_Receiver):
    """Every id is kept forever: memory grows with each delivery until the process dies."""

    def first_time(self, key: str, timestamp: int, now: float) -> bool:
        if key in self.seen:
            return False
        self.seen[key] = timestamp + TOLERANCE
        return True


class ReceiverKeyedOnTimestampAndBody(_Receiver):
    """Recognises replays by t + body: the same event sent twice in a second is lost."""

    def replay_key(self, timestamp: int, delivery_id: str, body: bytes) -> str:
        return hashlib.sha256(f"{timestamp}.".encode() + body).hexdigest()


class ReceiverDefaultingMissingTimestamp(_Receiver):
    """Takes a missing t= as "now": a signature stripped of its timestamp is accepted."""

    def parse(self, header: str | None) -> tuple[int, str, str] | None:
        fields = dict(item.partition("=")[::2] for item in (header or "").split(","))
        if "t" not in fields:
            header = f"t={int(self.clock.time())}," + (header or "")
        return _parse(header)


class ReceiverRaisingOnMalformed(_Receiver):
    """Right for good headers, but int("yesterday") raises instead of refusing."""

    def parse(self, header: str | None) -> tuple[int, str, str] | None:
        fields = dict(item.partition("=")[::2] for item in (header or "").split(","))
        return int(fields["t"]), fields["id"], fields["v1"]


class ReceiverRefusingEverything(_Receiver):
    def accept(self, header: str | None, body: bytes) -> bool:
        return False
