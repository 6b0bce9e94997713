"""authcourse: the toolkit around the FastAPI Auth, Hands-On course.

The lesson itself lives in the notebooks and in ``clouddocs``; this package is the
infrastructure: in-process clients (``client``), exchange rendering (``show``), the
clock, exercise checks (``checks``), the batch grader (``grading``), the lab and export
generators, the in-process identity provider (``idp``) and timing helpers (``bench``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from authcourse.checks import check, check_all, hint
from authcourse.client import asgi_client, browser
from authcourse.progress import progress
from authcourse.show import show

if TYPE_CHECKING:
    from authcourse.clock import FrozenClock, SystemClock

__all__ = [
    "FrozenClock",
    "SystemClock",
    "asgi_client",
    "browser",
    "check",
    "check_all",
    "hint",
    "progress",
    "show",
]


def __getattr__(name: str) -> object:
    # The clock names are imported on first use: authcourse.clock re-exports clouddocs.clock,
    # and `python -m authcourse export` must run even while clouddocs is being regenerated.
    if name in ("FrozenClock", "SystemClock"):
        from authcourse import clock

        return getattr(clock, name)
    raise AttributeError(f"module 'authcourse' has no attribute {name!r}")
