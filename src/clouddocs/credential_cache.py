# Generated from notebooks/02_passwords_sessions.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""An opt-in cache in front of the per-request credential lookups: speed bought with a delay.

Every guard in this course asks the database on every request, so a logout, a revoked key
or a password change takes effect on the very next request, in every worker. A cache
trades part of that away, and the trade must be stated exactly:

- **In this process** nothing changes: logout, "log out everywhere", a key's revocation or
  rotation, a password change and a refresh family's revocation *forget* the entries they
  affect, after their write commits, so the next request here asks the database again.
- **In another process** (a second worker, another machine) nothing forgets the entry: it
  is served until its TTL runs out. So a revoked credential may still work there for at
  most ``ttl`` seconds. ``ttl`` defaults to 5 s and may not exceed ``MAX_TTL_SECONDS``.
- **Only positive answers are cached**, and only after a full check passed. A refusal is
  never cached: an attacker cannot fill the cache (only valid credentials create entries,
  so it cannot push real users out), and a cached "no" would neither spare the database
  much (refusals are rate limited) nor stay correct for long.
- **Keys are SHA-256 digests** of the credential, never the credential: a memory dump or a
  debugger shows no usable secret. The size is bounded (least recently used goes first).

Off by default: a guard uses one only when given one.
"""

import re
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from cachetools import TTLCache

from clouddocs.clock import Clock, SystemClock

DEFAULT_TTL_SECONDS = 5.0
#: The longest delay this course accepts before another worker notices a revocation.
MAX_TTL_SECONDS = 30.0
DEFAULT_MAXSIZE = 10_000
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

V = TypeVar("V")


class CredentialCache(Generic[V]):
    """Live credentials by digest, for at most ``ttl`` seconds (measured by ``clock``).

    A miss takes a ``ticket()`` *before* its database read and hands it to ``put``; any
    ``forget`` in between voids the ticket. Without it, a request that read "live" just
    before a logout committed would store that stale answer after the logout had cleared
    the cache, and this process would accept the credential for another ``ttl``.
    """

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        maxsize: int = DEFAULT_MAXSIZE,
        clock: Clock | None = None,
    ) -> None:
        if not 0 < ttl <= MAX_TTL_SECONDS:
            raise ValueError(f"ttl must be more than 0 and at most {MAX_TTL_SECONDS:g} seconds")
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.ttl = ttl
        timer = (clock or SystemClock()).time
        self._entries: TTLCache[str, V] = TTLCache(maxsize=maxsize, ttl=ttl, timer=timer)
        # cachetools' caches are not thread-safe; a lock costs ~0.1 µs when nobody waits.
        self._lock = threading.Lock()
        self._epoch = 0

    def get(self, digest: str) -> V | None:
        """The cached entry, or None when absent or older than ``ttl``."""
        with self._lock:
            return self._entries.get(digest)

    def ticket(self) -> int:
        """Take before the database read of a miss; ``put`` refuses it after any ``forget``."""
        with self._lock:
            return self._epoch

    def put(self, digest: str, value: V, ticket: int) -> bool:
        """Remember a credential that was just found live; False if a ``forget`` intervened."""
        if not _SHA256_HEX.fullmatch(digest):
            raise ValueError("cache keys are SHA-256 hex digests, never the credential itself")
        with self._lock:
            if ticket != self._epoch:
                return False
            self._entries[digest] = value
            return True

    def forget(self, digest: str) -> None:
        """Drop one credential (logout of this session, this token)."""
        self.forget_where(lambda _value: False, digest=digest)

    def forget_where(self, matches: Callable[[V], bool], *, digest: str | None = None) -> int:
        """Drop every entry ``matches`` accepts (and ``digest``); how many went.

        A scan of at most ``maxsize`` entries: fine for rare events (a revocation, a
        password change), and nothing to keep in step like a second index would be.
        """
        with self._lock:
            self._epoch += 1  # voids the tickets of misses in flight
            doomed = [key for key, value in self._entries.items() if matches(value)]
            if digest is not None and digest in self._entries:
                doomed.append(digest)
            for key in doomed:
                self._entries.pop(key, None)
            return len(doomed)

    def clear(self) -> None:
        self.forget_where(lambda _value: True)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
