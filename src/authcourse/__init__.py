"""authcourse: the toolkit around the FastAPI Auth, Hands-On course.

The lesson itself lives in the notebooks and in ``clouddocs``; this package is the
infrastructure: in-process clients, exchange rendering, the clock, exercise checks,
the grader, the identity provider, TLS helpers and the security audit.

The names below are imported on first use, so ``python -m authcourse export`` works even
while ``clouddocs`` (which some of them import) is being regenerated.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from authcourse.checks import check, check_all, hint
    from authcourse.client import asgi_client, browser
    from authcourse.clock import FrozenClock, SystemClock
    from authcourse.show import show

_HOME = {
    "FrozenClock": "authcourse.clock",
    "SystemClock": "authcourse.clock",
    "asgi_client": "authcourse.client",
    "browser": "authcourse.client",
    "check": "authcourse.checks",
    "check_all": "authcourse.checks",
    "hint": "authcourse.checks",
    "show": "authcourse.show",
}

__all__ = [
    "FrozenClock",
    "SystemClock",
    "asgi_client",
    "browser",
    "check",
    "check_all",
    "hint",
    "show",
]


def __getattr__(name: str) -> object:
    if name not in _HOME:
        raise AttributeError(f"module 'authcourse' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
