"""Drive the provider's pages from code, as a browser would (for tests and notebooks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Literal

import httpx2

FormKind = Literal["login", "consent", "logout", "other"]


@dataclass(frozen=True)
class LoginForm:
    """A form found in a provider page: where it posts to, its hidden inputs, and its kind.

    ``kind`` is ``"login"`` (asks for a password), ``"consent"`` (Allow / Deny),
    ``"logout"`` (confirm signing out) or ``"other"``.
    """

    action: str
    hidden_fields: dict[str, str]
    kind: FormKind = "login"
    input_names: frozenset[str] = field(default_factory=frozenset)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.hidden_fields: dict[str, str] = {}
        self.input_names: set[str] = set()
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = attributes.get("action", "")
            self._in_form = True
        elif tag in ("input", "button") and self._in_form:
            if tag == "input" and attributes.get("type") == "hidden":
                self.hidden_fields[attributes.get("name", "")] = attributes.get("value", "")
            elif attributes.get("name"):
                self.input_names.add(attributes["name"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def parse_login_form(html: str) -> LoginForm | None:
    """The first form in ``html``, or None when the page has no form (an error page, say)."""
    parser = _FormParser()
    parser.feed(html)
    if parser.action is None:
        return None
    names = frozenset(parser.input_names)
    kind: FormKind = "other"
    if "password" in names:
        kind = "login"
    elif "consent" in names:
        kind = "consent"
    elif "logout" in names:
        kind = "logout"
    return LoginForm(parser.action, parser.hidden_fields, kind, names)


async def submit_form(
    client: httpx2.AsyncClient, page: httpx2.Response, form: LoginForm, fields: dict[str, str]
) -> httpx2.Response:
    """Post ``form`` (found in ``page``) with its hidden fields plus ``fields``.

    Sends the ``Origin`` header a browser sends with every form post.
    """
    origin = f"{page.url.scheme}://{page.url.netloc.decode()}"
    return await client.post(
        page.url.join(form.action),
        data={**form.hidden_fields, **fields},
        headers={"Origin": origin},
    )


async def sign_in(
    client: httpx2.AsyncClient,
    authorization_url: str,
    *,
    username: str,
    password: str,
    consent: bool = True,
) -> httpx2.Response:
    """Open ``authorization_url``, sign in and answer the consent screen, like a user.

    The provider shows the sign-in form unless the browser (``client``'s cookie jar)
    already has a session there, and the consent screen unless the user already approved
    these scopes for this client (or the client is first-party). ``consent`` is the
    user's answer: Allow (True) or Deny (False).

    Returns the provider's last answer: on success a redirect whose ``Location`` is the
    client's redirect URI with ``code`` and ``state``; after a refusal, the page or the
    error redirect that the provider answered.
    """
    response = await client.get(authorization_url)
    form = parse_login_form(response.text) if response.status_code == 200 else None
    if form is not None and form.kind == "login":
        response = await submit_form(
            client, response, form, {"username": username, "password": password}
        )
        form = parse_login_form(response.text) if response.status_code == 200 else None
    if form is not None and form.kind == "consent":
        response = await submit_form(
            client, response, form, {"consent": "allow" if consent else "deny"}
        )
    return response
