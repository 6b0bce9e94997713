"""The clock for tests and notebooks: ``FrozenClock``, which only moves when told to.

Reference code never calls ``time.time()`` or ``datetime.now()`` directly: it takes a
``Clock`` (defined in ``clouddocs.clock``, so the reference code needs nothing from this
toolkit) and asks it. Production passes ``SystemClock()``; tests and notebooks pass a
``FrozenClock`` and move it forward with ``advance()``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clouddocs.clock import Clock, SystemClock

__all__ = ["COURSE_EPOCH", "Clock", "FrozenClock", "SystemClock"]

#: A fixed, readable starting instant so notebook outputs stay the same run after run.
COURSE_EPOCH = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


class FrozenClock:
    """A clock that only moves when told to.

    >>> clock = FrozenClock()
    >>> clock.advance(minutes=15)
    >>> clock.now().isoformat()
    '2026-01-05T09:15:00+00:00'
    """

    def __init__(self, start: datetime = COURSE_EPOCH) -> None:
        if start.tzinfo is None:
            # Naive datetimes are ambiguous; refuse rather than guess a timezone.
            raise ValueError("FrozenClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def time(self) -> float:
        return self._now.timestamp()

    def advance(
        self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> None:
        """Move the clock forward (never backward: time in these demos only goes one way)."""
        step = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if step < timedelta(0):
            raise ValueError("a FrozenClock only moves forward")
        self._now += step

    def set(self, instant: datetime) -> None:
        """Jump to an absolute instant (timezone-aware)."""
        if instant.tzinfo is None:
            raise ValueError("FrozenClock.set needs a timezone-aware datetime")
        self._now = instant.astimezone(UTC)

    def __repr__(self) -> str:
        return f"FrozenClock({self._now.isoformat()})"
