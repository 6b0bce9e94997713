"""Sign-in throttling: per account and per client IP, counted with the ``limits`` library.

Every password attempt is counted *before* the password is checked, against two budgets:
the account named in the form (known or not, so the answer never tells which accounts
exist) and the client's IP address. When either budget is spent, the provider answers
429 with ``Retry-After`` and the sign-in form again, with one generic message, and does
not look at the password at all: the right password is refused too until the window
ends. A successful sign-in clears the account's count (not the IP's).

The IP is the connection's peer (``request.client.host``); behind a reverse proxy, have
the server take it from the proxy's headers (uvicorn's ``--forwarded-allow-ips``), or
every user shares the proxy's budget.

Windows are fixed and follow the provider's injectable clock: the window number is part
of the counter's key, so a ``FrozenClock`` moved past the window starts a fresh count.
``limits`` keeps the counters (in memory by default, in Redis by URL, shared by workers).

The trade-off: anyone can lock an account for one window by failing on purpose. That is
the price of stopping online guessing; the window is short and the IP budget limits how
many accounts one address can lock.
"""

from __future__ import annotations

import math

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from authcourse.clock import Clock

ACCOUNT_LIMIT = "5 per 15 minutes"
IP_LIMIT = "30 per 15 minutes"


class LoginThrottle:
    """Counts sign-in attempts; ``attempt`` says whether this one may be checked."""

    def __init__(
        self,
        clock: Clock,
        *,
        account_limit: str = ACCOUNT_LIMIT,
        ip_limit: str = IP_LIMIT,
        storage_uri: str = "memory://",
        namespace: str = "idp",
    ) -> None:
        self._clock = clock
        self._account = parse(account_limit)
        self._ip = parse(ip_limit)
        self._limiter = FixedWindowRateLimiter(storage_from_string(storage_uri))
        self._namespace = namespace

    def attempt(self, username: str, client_ip: str) -> int | None:
        """Count one attempt. None if allowed, else the seconds until it may be retried."""
        refusals = [
            self._retry_after(item)
            for item, key in (
                (self._account, self._account_key(username)),
                (self._ip, "ip:" + client_ip),
            )
            if not self._limiter.hit(item, self._namespace, key, self._window(item))
        ]
        return max(refusals) if refusals else None

    def succeeded(self, username: str) -> None:
        """The account's failures are forgiven once its owner proves the password."""
        self._limiter.clear(
            self._account, self._namespace, self._account_key(username), self._window(self._account)
        )

    @staticmethod
    def _account_key(username: str) -> str:
        # "Alice" and "alice" share one budget, or case changes would multiply it.
        return "account:" + username.casefold()

    def _window(self, item: RateLimitItem) -> str:
        return str(int(self._clock.time() // item.get_expiry()))

    def _retry_after(self, item: RateLimitItem) -> int:
        length = item.get_expiry()
        return max(1, math.ceil(length - self._clock.time() % length))
