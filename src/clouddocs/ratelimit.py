# Generated from notebooks/02_passwords_sessions.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Rate limiting on top of the ``limits`` library: memory by default, Redis by URL.

``RateLimiter("10/minute").hit(key)`` counts one request for ``key`` (an IP address, an
API key id, ...) in a moving window and returns a ``RateDecision``; a refused decision
becomes a 429 with ``Retry-After`` and the ``RateLimit-*`` headers.
"""

import math
import time
from dataclasses import dataclass

import anyio.to_thread
from fastapi import HTTPException, status
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


@dataclass(frozen=True)
class RateDecision:
    """The outcome of one hit: allowed or not, and what the client may do next."""

    allowed: bool
    limit: int
    remaining: int
    #: Seconds until the window frees a slot (0 while requests are allowed).
    retry_after: int
    #: Seconds until the window is completely empty again.
    reset_after: int


class RateLimiter:
    """``rate`` in the ``limits`` notation ("5/minute", "100/hour"); one counter per key.

    ``storage_uri`` is any ``limits`` storage: ``memory://`` (one process) or
    ``redis://host:6379`` (shared by every worker). The ``limits`` library reads the wall
    clock itself, so windows are real seconds.
    """

    def __init__(
        self, rate: str, storage_uri: str = "memory://", *, scope: str = "default"
    ) -> None:
        self.item = parse(rate)
        self.scope = scope
        self._strategy = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def hit(self, key: str) -> RateDecision:
        """Count one request for ``key`` (refused requests are not counted)."""
        allowed = self._strategy.hit(self.item, self.scope, key)
        stats = self._strategy.get_window_stats(self.item, self.scope, key)
        reset_after = max(0, math.ceil(stats.reset_time - time.time()))
        return RateDecision(
            allowed=allowed,
            limit=self.item.amount,
            remaining=stats.remaining,
            retry_after=0 if allowed else max(1, reset_after),
            reset_after=reset_after,
        )

    async def hit_async(self, key: str) -> RateDecision:
        """``hit`` for async code: it runs in a worker thread, so a network storage such as
        Redis never blocks the event loop (with ``memory://`` the thread costs ~50 µs)."""
        return await anyio.to_thread.run_sync(self.hit, key)

    def reset(self, key: str) -> None:
        """Forget ``key``'s history (an operator unblocking a client)."""
        self._strategy.clear(self.item, self.scope, key)


def rate_limit_headers(decision: RateDecision) -> dict[str, str]:
    """The IETF draft ``RateLimit-*`` headers, their older ``X-RateLimit-*`` spelling,
    and ``Retry-After`` (RFC 9110 section 10.2.3) when the request was refused."""
    values = {
        "Limit": str(decision.limit),
        "Remaining": str(decision.remaining),
        "Reset": str(decision.reset_after),
    }
    headers = {
        f"{prefix}RateLimit-{name}": value
        for prefix in ("", "X-")
        for name, value in values.items()
    }
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after)
    return headers


def too_many_requests(decision: RateDecision) -> HTTPException:
    """The 429 to raise for a refused decision: ``raise too_many_requests(decision)``."""
    return HTTPException(
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        detail="too many requests; retry later",
        headers=rate_limit_headers(decision),
    )
