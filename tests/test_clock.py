"""The injectable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from authcourse.clock import COURSE_EPOCH, FrozenClock, SystemClock


def test_frozen_clock_stands_still_until_advanced() -> None:
    clock = FrozenClock()
    assert clock.now() == COURSE_EPOCH == clock.now()
    clock.advance(minutes=15, seconds=1)
    assert clock.now() - COURSE_EPOCH == timedelta(minutes=15, seconds=1)
    assert clock.time() == COURSE_EPOCH.timestamp() + 901


def test_frozen_clock_refuses_to_go_back_or_guess_a_timezone() -> None:
    clock = FrozenClock()
    with pytest.raises(ValueError, match="forward"):
        clock.advance(seconds=-1)
    with pytest.raises(ValueError, match="timezone"):
        FrozenClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone"):
        clock.set(datetime(2026, 1, 1))


def test_set_jumps_to_an_instant_in_utc() -> None:
    clock = FrozenClock()
    clock.set(datetime(2030, 1, 1, tzinfo=UTC))
    assert clock.now().year == 2030 and clock.now().tzinfo is UTC


def test_system_clock_is_aware_and_current() -> None:
    clock = SystemClock()
    assert clock.now().tzinfo is UTC
    assert abs(clock.time() - datetime.now(UTC).timestamp()) < 5
