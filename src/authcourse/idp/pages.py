"""The provider's HTML: sign-in, consent and logout forms, and the error page.

Every value is HTML-escaped. Every form carries a ``csrf_token`` hidden field (see
``browser.py``); the authorization request itself rides along in hidden fields, so the
form posts back to /authorize everything needed to validate it again.
"""

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


def _hidden_inputs(fields: Mapping[str, str]) -> str:
    return "\n".join(
        f'    <input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in fields.items()
    )


def login_page(
    *,
    action: str,
    issuer: str,
    client_name: str,
    scope: str,
    hidden_fields: Mapping[str, str],
    error: str | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The sign-in form; the authorization request rides along in hidden inputs."""
    hidden = _hidden_inputs(hidden_fields)
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
    return HTMLResponse(body, status_code=status_code, headers=_PAGE_HEADERS | dict(headers or {}))


def consent_page(
    *,
    action: str,
    user_name: str,
    client_name: str,
    scope: str,
    resource: str | None,
    hidden_fields: Mapping[str, str],
) -> HTMLResponse:
    """Asks the signed-in user whether ``client_name`` may have ``scope`` (RFC 6749 §4.1.1),
    naming the API (RFC 8707 resource) the access will be for."""
    items = "\n".join(f"    <li>{escape(item)}</li>" for item in scope.split())
    if resource is not None:
        items += f"\n    <li>at {escape(resource)}</li>"
    body = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Allow access?</title></head>
<body>
  <h1>{escape(client_name)} wants to access your account</h1>
  <p>Signed in as {escape(user_name)}. {escape(client_name)} asks for:</p>
  <ul>
{items}
  </ul>
  <form method="post" action="{escape(action)}">
{_hidden_inputs(hidden_fields)}
    <button type="submit" name="consent" value="allow">Allow</button>
    <button type="submit" name="consent" value="deny">Deny</button>
  </form>
</body>
</html>
"""
    return HTMLResponse(body, headers=_PAGE_HEADERS)


def logout_page(*, action: str, issuer: str, hidden_fields: Mapping[str, str]) -> HTMLResponse:
    """Asks before signing out: a logout request without a valid hint may be forged by any
    site (RP-Initiated Logout 1.0, Security Considerations)."""
    body = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign out - {escape(issuer)}</title></head>
<body>
  <h1>Sign out of {escape(issuer)}?</h1>
  <form method="post" action="{escape(action)}">
{_hidden_inputs(hidden_fields)}
    <button type="submit" name="logout" value="yes">Sign out</button>
  </form>
</body>
</html>
"""
    return HTMLResponse(body, headers=_PAGE_HEADERS)


def message_page(title: str, message: str, *, status_code: int = 200) -> HTMLResponse:
    """A plain page with one message (signed out, say)."""
    body = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{escape(title)}</title></head>
<body>
  <h1>{escape(title)}</h1>
  <p>{escape(message)}</p>
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
