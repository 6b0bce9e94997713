"""What a probe works with: requests to the app in-process, identities, and its evidence.

Each probe gets its own ``Context`` with its own client address, so a per-IP rate limit
tripped by one probe never blocks the next. No cookie jar is shared: every request
carries exactly the credentials the probe gives it, like a browser would for one site.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2
from starlette.types import ASGIApp

from authcourse.audit.framework import NotApplicable
from authcourse.audit.target import Account, Auth, Role, Target
from authcourse.show import MASK, show

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Evidence keeps this much of each body: enough to read the answer, not a dump.
BODY_EXCERPT = 400
_names = itertools.count(1)
#: JSON fields of a login answer whose values are credentials.
_SECRET_KEY = re.compile(r"token|secret|key|session|csrf", re.IGNORECASE)


@dataclass(frozen=True)
class SetCookie:
    """One ``Set-Cookie`` header, parsed: name, value and lower-cased attributes."""

    name: str
    value: str
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def deleted(self) -> bool:
        return self.value in ("", '""') or self.attributes.get("max-age") == "0"


def set_cookies(response: httpx2.Response) -> list[SetCookie]:
    found = []
    for header in response.headers.get_list("set-cookie"):
        first, *rest = header.split(";")
        name, _, value = first.strip().partition("=")
        attributes = {}
        for part in rest:
            key, _, attribute = part.strip().partition("=")
            attributes[key.lower()] = attribute
        found.append(SetCookie(name, value, attributes))
    return found


def json_field(response: httpx2.Response, name: str | None) -> str | None:
    """A string field of a JSON body, or None."""
    if name is None:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


class Context:
    """One probe's view of the app."""

    def __init__(
        self,
        app: ASGIApp | None,
        target: Target,
        *,
        client_ip: str,
        secrets: set[str],
        url: str | None = None,
    ) -> None:
        #: None when auditing a server by URL: probes that need the route table say so.
        self.app = app
        #: Set when auditing a running server: every request then comes from one address.
        self.url = url
        self.target = target
        self.client_ip = client_ip
        #: Every credential the audit has handled; masked in evidence, searched in logs.
        self.secrets = secrets
        self.evidence: list[str] = []
        self._clients: dict[str, httpx2.AsyncClient] = {}

    # -- HTTP --------------------------------------------------------------------------

    def client(self, client_ip: str | None = None) -> httpx2.AsyncClient:
        if self.url is not None or self.app is None:
            if "network" not in self._clients:
                self._clients["network"] = httpx2.AsyncClient(base_url=self.url or "")
            return self._clients["network"]
        ip = client_ip or self.client_ip
        if ip not in self._clients:
            transport = httpx2.ASGITransport(
                app=self.app, client=(ip, 50000), raise_app_exceptions=False
            )
            self._clients[ip] = httpx2.AsyncClient(
                transport=transport, base_url=self.target.origin
            )
        return self._clients[ip]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        auth: Auth | None = None,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        content: bytes | None = None,
        client_ip: str | None = None,
        same_origin: bool = True,
    ) -> httpx2.Response:
        """Send one request as ``auth`` (or anonymously).

        Unsafe requests carry ``Origin`` set to the target's origin and the CSRF token,
        as the app's own front end would send them; ``same_origin=False`` leaves both out.
        """
        method = method.upper()
        sent: dict[str, str] = {}
        jar: dict[str, str] = {}
        if auth is not None:
            sent.update(auth.headers)
            refresh = self.target.refresh
            jar.update(
                {
                    name: value
                    for name, value in auth.cookies.items()
                    if refresh is None or name != refresh.cookie
                }
            )
            if method in UNSAFE_METHODS and auth.csrf and same_origin and self.target.login:
                sent[self.target.login.csrf_header] = auth.csrf
        if method in UNSAFE_METHODS and same_origin:
            sent["Origin"] = self.target.origin
        jar.update(cookies or {})
        if jar:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in jar.items())
        sent.update(headers or {})
        client = self.client(client_ip)
        response = await client.request(
            method, url, headers=sent, json=json_body, data=form, content=content
        )
        client.cookies.clear()  # no jar: each request says exactly what it carries
        return response

    def cite(self, response: httpx2.Response, label: str) -> httpx2.Response:
        """Keep this exchange as evidence (masked, body shortened); returns it."""
        exchange = show(response)
        lines = [f"# {label}"]
        for part in (exchange.request_lines, exchange.response_lines):
            text = "\n".join(part)
            head, blank, body = text.partition("\n\n")
            if len(body) > BODY_EXCERPT:
                body = body[:BODY_EXCERPT] + f"… ({len(body)} characters)"
            lines.append(head + (blank + body if blank else ""))
        self.evidence.append(self.mask("\n".join(lines)))
        return response

    def note(self, text: str) -> None:
        """Add a line of evidence that is not an exchange (a measurement, a decoded claim)."""
        self.evidence.append(self.mask(text))

    def mask(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 8:
                text = text.replace(secret, MASK)
        return text

    def remember(self, *secrets: str | None) -> None:
        self.secrets.update(secret for secret in secrets if secret)

    # -- identities ----------------------------------------------------------------------

    def account(self, role: Role | str) -> Account:
        target = self.target
        accounts = {
            "user": target.user,
            "other": target.other_user,
            "admin": target.admin,
            "spare": target.spare or target.other_user,
        }
        found = accounts[role]
        if found is None:
            field_name = {"other": "other_user", "spare": "spare"}.get(role, role)
            raise NotApplicable(f"the target names no {role} account (Target.{field_name})")
        self.remember(found.password)
        return found

    async def sign_in(self, role: Role) -> Auth:
        """Credentials for ``role``: the target's ``sign_in`` hook, else a password login."""
        if self.target.sign_in is not None:
            auth = await self.target.sign_in(self, role)
            self.remember(auth.access_token, auth.refresh_token, auth.api_key, auth.csrf)
            self.remember(*auth.cookies.values())
            return auth
        account = self.account(role)
        response = await self.login(account)
        if not response.is_success:
            self.cite(response, f"logging in as {role}")
            raise NotApplicable(
                f"logging in as the target's {role} account failed ({response.status_code})"
            )
        return self.auth_from(response)

    async def login(
        self,
        account: Account | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        cookies: Mapping[str, str] | None = None,
        client_ip: str | None = None,
    ) -> httpx2.Response:
        login = self.target.login
        if login is None:
            raise NotApplicable("the target names no login route (Target.login)")
        fields = {
            **login.extra,
            login.username_field: username if username is not None else _need(account).username,
            login.password_field: password if password is not None else _need(account).password,
        }
        self.remember(fields[login.password_field])
        if login.form:
            response = await self.request(
                login.method, login.path, form=fields, cookies=cookies, client_ip=client_ip
            )
        else:
            response = await self.request(
                login.method, login.path, json_body=fields, cookies=cookies, client_ip=client_ip
            )
        if response.is_success:
            self._remember_response(response)
        return response

    def auth_from(self, response: httpx2.Response) -> Auth:
        """The credentials a successful login (or refresh) answer hands out."""
        login, refresh = self.target.login, self.target.refresh
        auth = Auth()
        for cookie in set_cookies(response):
            if not cookie.deleted:
                auth.cookies[cookie.name] = cookie.value
        token = json_field(response, login.token_field if login else "access_token")
        if token:
            auth.headers["Authorization"] = f"Bearer {token}"
            auth.access_token = token
        auth.csrf = json_field(response, login.csrf_field if login else None)
        if refresh is not None:
            if refresh.cookie is not None:
                auth.refresh_token = auth.cookies.get(refresh.cookie)
            else:
                auth.refresh_token = json_field(response, refresh.body_field)
        self.remember(auth.access_token, auth.refresh_token, auth.csrf, *auth.cookies.values())
        return auth

    def session_cookie(self, auth: Auth) -> str | None:
        """The name of the cookie that carries the session, if login set one."""
        if self.target.session_cookie is not None:
            return self.target.session_cookie if self.target.session_cookie in auth.cookies else None
        refresh = self.target.refresh
        for name in auth.cookies:
            if refresh is None or name != refresh.cookie:
                return name
        return None

    async def use_refresh(self, auth: Auth, token: str | None = None) -> httpx2.Response:
        """Call the refresh route with ``token`` (default: ``auth``'s refresh token)."""
        refresh = self.target.refresh
        if refresh is None:
            raise NotApplicable("the target names no refresh route (Target.refresh)")
        token = token if token is not None else auth.refresh_token
        if token is None:
            raise NotApplicable("login handed out no refresh token where Target.refresh says")
        if refresh.cookie is not None:
            return await self.request(
                refresh.method, refresh.path, auth=auth, cookies={refresh.cookie: token}
            )
        return await self.request(
            refresh.method,
            refresh.path,
            auth=auth,
            json_body={refresh.body_field or "refresh_token": token},
        )

    def fresh_username(self) -> str:
        registration = self.target.registration
        template = registration.username_template if registration else "audit-{n}@example.com"
        return template.format(n=f"{next(_names)}x{id(self) % 10_000}")

    async def register(
        self,
        password: str,
        *,
        username: str | None = None,
        extra: Mapping[str, Any] | None = None,
        complete: bool = True,
    ) -> tuple[str, httpx2.Response]:
        """Sign up; the answer that decides on the password (see ``Registration.complete``),
        or with ``complete=False`` the first answer, the one enumeration probes compare."""
        registration = self.target.registration
        if registration is None:
            raise NotApplicable("the target names no registration route (Target.registration)")
        username = username or self.fresh_username()
        fields: dict[str, Any] = {
            **registration.extra,
            registration.username_field: username,
            registration.password_field: password,
            **(extra or {}),
        }
        self.remember(password)
        if registration.form:
            response = await self.request(
                "POST", registration.path, form={k: str(v) for k, v in fields.items()}
            )
        else:
            response = await self.request("POST", registration.path, json_body=fields)
        if complete and response.is_success and registration.complete is not None:
            completed = await registration.complete(self, username, password)
            if completed is not None:
                response = completed
        return username, response

    async def register_and_login(self, password: str) -> tuple[httpx2.Response, str]:
        """Sign up with ``password`` and log in with it; NotApplicable when either fails."""
        username, signup = await self.register(password)
        if not signup.is_success:
            self.cite(signup, "signing up")
            raise NotApplicable(
                f"signing up with a valid password failed ({signup.status_code}); check"
                " Target.registration"
            )
        response = await self.login(username=username, password=password)
        if not response.is_success and response.status_code != 401:
            self.cite(response, "logging in after signing up")
        if response.status_code in (403, 404, 429) or response.status_code >= 500:
            raise NotApplicable(f"logging in after sign-up answered {response.status_code}")
        return response, username

    def _remember_response(self, response: httpx2.Response) -> None:
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError):
            return
        if isinstance(body, dict):
            self.remember(
                *(
                    value
                    for key, value in body.items()
                    if isinstance(value, str) and _SECRET_KEY.search(str(key))
                )
            )


def _need(account: Account | None) -> Account:
    if account is None:
        raise ValueError("login() needs an account or a username and password")
    return account
