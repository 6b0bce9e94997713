# Generated from notebooks/01_mental_model.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""The time source CloudDocs code is given instead of reading the wall clock itself."""

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current time."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def time(self) -> float:
        """The current time as epoch seconds (what JWT ``iat``/``exp`` use)."""
        ...


class SystemClock:
    """The real wall clock: the default everywhere in production."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return self.now().timestamp()

    def __repr__(self) -> str:
        return "SystemClock()"
