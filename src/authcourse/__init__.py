"""authcourse: the toolkit around the FastAPI Auth, Hands-On course.

The lesson itself lives in the notebooks and in ``clouddocs``; this package is the
infrastructure: in-process clients, exchange rendering, the clock, exercise checks,
the grader, the identity provider, TLS helpers and the security audit.
"""

from authcourse.checks import check, check_all, hint
from authcourse.client import asgi_client, browser
from authcourse.clock import FrozenClock, SystemClock
from authcourse.show import show

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
