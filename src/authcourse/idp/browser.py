"""The provider's cookies: the single sign-on session and the CSRF binding of its forms.

* **Session.** After a successful sign-in the browser gets a fresh random session id
  (256 bits, stored only as a SHA-256 digest, never reused from before the sign-in, so a
  planted id is worthless: session fixation). It lasts ``SESSION_LIFETIME`` at most and
  ends at RP-initiated logout.
* **CSRF.** Every form the provider shows (sign-in, consent, logout) carries a token that
  is an HMAC, under a per-provider key, of something only this browser has: its session id
  when signed in, else a random ``csrf`` cookie (the signed double-submit pattern). A page
  on another site can make the browser post a form, but cannot read the token.

Cookie names follow the issuer and the connection: ``__Host-`` for an issuer at the root
of its host, ``__Secure-`` (with ``Path`` = the issuer's path) for an issuer with a path,
and no prefix and no ``Secure`` only over plain-http loopback (``serve()``), the one place
the provider accepts http at all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from authcourse.clock import Clock
from authcourse.idp.store import BrowserSession, MemoryStore

SESSION_LIFETIME = 12 * 3600  # seconds


@dataclass
class BrowserVisit:
    """One request's view of the browser's cookies, and the cookie changes to send back."""

    session_id: str | None
    session: BrowserSession | None
    csrf_cookie: str | None
    secure: bool
    _set: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    _delete: set[str] = field(default_factory=set)


class BrowserCookies:
    """Reads and writes the provider's cookies for one issuer."""

    def __init__(self, issuer: str, store: MemoryStore, clock: Clock) -> None:
        self._path = urlsplit(issuer).path or "/"
        self._store = store
        self._clock = clock
        self._key = secrets.token_bytes(32)

    def name(self, cookie: str, *, secure: bool) -> str:
        """``idp_session`` or ``idp_csrf``, with the prefix this connection allows."""
        if not secure:
            return cookie
        return ("__Host-" if self._path == "/" else "__Secure-") + cookie

    def visit(self, request: Request) -> BrowserVisit:
        secure = request.url.scheme == "https"
        session_id = request.cookies.get(self.name("idp_session", secure=secure))
        session = self._store.session(session_id) if session_id else None
        if session is not None and self._clock.time() >= session.expires_at:
            session = None
        return BrowserVisit(
            session_id=session_id if session is not None else None,
            session=session,
            csrf_cookie=request.cookies.get(self.name("idp_csrf", secure=secure)) or None,
            secure=secure,
        )

    def start_session(self, visit: BrowserVisit, subject: str) -> None:
        """Sign the browser in with a brand-new session id (the old one, if any, ends)."""
        if visit.session_id is not None:
            self._store.end_session(visit.session_id)
        now = self._clock.time()
        session_id = secrets.token_urlsafe(32)
        session = BrowserSession(
            subject=subject, auth_time=int(now), expires_at=now + SESSION_LIFETIME
        )
        self._store.add_session(session_id, session)
        visit.session_id, visit.session = session_id, session
        visit._set["idp_session"] = (session_id, SESSION_LIFETIME)

    def end_session(self, visit: BrowserVisit) -> None:
        if visit.session_id is not None:
            self._store.end_session(visit.session_id)
        visit.session_id, visit.session = None, None
        visit._delete.add("idp_session")

    def csrf_token(self, visit: BrowserVisit) -> str:
        """The token to put in a form shown in this visit (sets the csrf cookie if needed)."""
        if visit.session_id is not None:
            return self._mac("session", visit.session_id)
        if visit.csrf_cookie is None:
            visit.csrf_cookie = secrets.token_urlsafe(32)
            visit._set["idp_csrf"] = (visit.csrf_cookie, None)
        return self._mac("browser", visit.csrf_cookie)

    def check_csrf(self, visit: BrowserVisit, token: str) -> bool:
        """True when ``token`` was issued to this browser (constant-time comparisons)."""
        candidates = []
        if visit.session_id is not None:
            candidates.append(self._mac("session", visit.session_id))
        if visit.csrf_cookie is not None:
            candidates.append(self._mac("browser", visit.csrf_cookie))
        # Compare against every candidate (no early exit) so timing says nothing.
        matches = [hmac.compare_digest(token.encode(), c.encode()) for c in candidates]
        return any(matches)

    def apply(self, visit: BrowserVisit, response: Response) -> Response:
        for cookie, (value, max_age) in visit._set.items():
            response.set_cookie(
                self.name(cookie, secure=visit.secure),
                value,
                max_age=max_age,
                path=self._path,
                secure=visit.secure,
                httponly=True,
                # Lax: the session must come along when a relying party sends the user here
                # with a top-level GET; cross-site POSTs (login CSRF) do not carry it.
                samesite="lax",
            )
        for cookie in visit._delete:
            response.delete_cookie(
                self.name(cookie, secure=visit.secure),
                path=self._path,
                secure=visit.secure,
                httponly=True,
                samesite="lax",
            )
        return response

    def _mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return digest.hex()
