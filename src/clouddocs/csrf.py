# Generated from notebooks/02_passwords_sessions.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""CSRF protection for cookie sessions: a session-bound token plus an Origin check.

The token is an HMAC of a fixed label keyed with the session id. Only someone who holds
the session id (the browser, never a script thanks to HttpOnly) or sees a page rendered
for that session can know it, it changes with every session, and the server stores
nothing extra. ``CsrfProtection`` is the dependency that enforces both checks on every
state-changing request.
"""

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status

CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LABEL = b"clouddocs csrf v1"


def csrf_token_for(session_id: str) -> str:
    """The CSRF token that belongs to one session (URL-safe, 43 characters)."""
    digest = hmac.new(session_id.encode(), _LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def request_origin(request: Request) -> str | None:
    """``scheme://host[:port]`` of the page that sent the request: Origin, else Referer."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return origin
    referer = request.headers.get("referer")
    if referer:
        try:
            parts = urlsplit(referer)
        except ValueError:  # e.g. "http://[::1": malformed input is a 403 below, never a 500
            return None
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return None


class SameOriginCheck:
    """Dependency: refuse (403) an unsafe request whose Origin (or Referer) is not ours.

    A request with neither header is refused too, as OWASP recommends. On its own this
    guards the routes that run before a session exists (login, registration: "login CSRF").
    """

    def __init__(self, allowed_origins: Iterable[str]) -> None:
        self.allowed_origins = frozenset(allowed_origins)

    async def __call__(self, request: Request) -> None:
        if (
            request.method not in SAFE_METHODS
            and request_origin(request) not in self.allowed_origins
        ):
            raise _forbidden("cross-origin request refused")


class CsrfProtection:
    """Dependency: the Origin check plus a token bound to the caller's session.

    Safe methods pass (they must not change state). The token is the primary defence and
    the Origin check a second, independent one.
    """

    def __init__(self, allowed_origins: Iterable[str], *, cookie_name: str) -> None:
        self.same_origin = SameOriginCheck(allowed_origins)
        self.cookie_name = cookie_name

    async def __call__(self, request: Request) -> None:
        if request.method in SAFE_METHODS:
            return
        await self.same_origin(request)
        session_id = request.cookies.get(self.cookie_name, "")
        submitted = request.headers.get(CSRF_HEADER) or await _form_token(request)
        if not session_id or not submitted:
            raise _forbidden("missing CSRF token")
        if not hmac.compare_digest(submitted.encode(), csrf_token_for(session_id).encode()):
            raise _forbidden("invalid CSRF token")


async def _form_token(request: Request) -> str:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return ""
    value = (await request.form()).get(CSRF_FORM_FIELD)
    return value if isinstance(value, str) else ""


def _forbidden(reason: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=reason)
