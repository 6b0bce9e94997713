"""Drive the provider's login form from code, as a browser would (for tests and notebooks)."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

import httpx2


@dataclass(frozen=True)
class LoginForm:
    """The login form found in a page: where it posts to and its hidden inputs."""

    action: str
    hidden_fields: dict[str, str]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.hidden_fields: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = attributes.get("action", "")
            self._in_form = True
        elif tag == "input" and self._in_form and attributes.get("type") == "hidden":
            self.hidden_fields[attributes.get("name", "")] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def parse_login_form(html: str) -> LoginForm | None:
    """The first form in ``html``, or None when the page has no form (an error page, say)."""
    parser = _FormParser()
    parser.feed(html)
    if parser.action is None:
        return None
    return LoginForm(parser.action, parser.hidden_fields)


async def sign_in(
    client: httpx2.AsyncClient, authorization_url: str, *, username: str, password: str
) -> httpx2.Response:
    """Open ``authorization_url``, fill in the login form and submit it.

    Returns the provider's answer to the submission: on success a redirect whose
    ``Location`` is the client's redirect URI with ``code`` and ``state``. If the first page
    is not a login form (an error page, or an error redirect), that response is returned.
    """
    page = await client.get(authorization_url)
    form = parse_login_form(page.text) if page.status_code == 200 else None
    if form is None:
        return page
    fields = {**form.hidden_fields, "username": username, "password": password}
    return await client.post(page.url.join(form.action), data=fields)
