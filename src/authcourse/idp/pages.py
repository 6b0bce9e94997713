"""The provider's HTML: the login form and the error page. Every value is HTML-escaped."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from starlette.responses import HTMLResponse

# RFC 6749 §10.13: the authorization server MUST defend against clickjacking, so its pages
# refuse to be framed. They are never cached either: they carry per-request parameters.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def login_page(
    *,
    action: str,
    issuer: str,
    client_name: str,
    scope: str,
    hidden_fields: Mapping[str, str],
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The sign-in form; the authorization request rides along in hidden inputs."""
    hidden = "\n".join(
        f'    <input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in hidden_fields.items()
    )
    alert = f'  <p role="alert">{escape(error)}</p>\n' if error else ""
    body = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in - {escape(issuer)}</title></head>
<body>
  <h1>Sign in to continue to {escape(client_name)}</h1>
  <p>Requested access: {escape(scope)}</p>
{alert}  <form method="post" action="{escape(action)}">
{hidden}
    <label>Username <input name="username" autocomplete="username" required></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
    <button type="submit">Sign in</button>
  </form>
</body>
</html>
"""
    return HTMLResponse(body, status_code=status_code, headers=_PAGE_HEADERS)


def error_page(error: str, description: str, *, status_code: int = 400) -> HTMLResponse:
    """Shown instead of redirecting when the client or its redirect URI cannot be trusted."""
    body = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Authorization error</title></head>
<body>
  <h1>Authorization error</h1>
  <p><code>{escape(error)}</code>: {escape(description)}</p>
</body>
</html>
"""
    return HTMLResponse(body, status_code=status_code, headers=_PAGE_HEADERS)
