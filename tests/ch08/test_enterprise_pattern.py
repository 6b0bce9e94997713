"""clouddocs.patterns.enterprise_app: OIDC SSO per tenant, roles from IdP groups, ABAC labels,
tenant-filtered documents. Each refusal separately, with its exact status, body and headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from sqlalchemy import delete, update

from authcourse import asgi_client
from authcourse.audit.target import Auth
from authcourse.audit.targets.patterns import ORIGIN, AuditedPattern, build_enterprise
from clouddocs.db import Document
from clouddocs.patterns import SubjectProfile
from clouddocs.sso_app import UserRole

pytestmark = pytest.mark.anyio
NOT_LOGGED_IN = 'Cookie realm="clouddocs", cookie-name="__Host-session"'


@dataclass
class Enterprise:
    built: AuditedPattern
    http: httpx2.AsyncClient

    async def sign_in(self, role: str) -> Auth:
        assert self.built.target.sign_in is not None
        return await self.built.target.sign_in(None, role)  # type: ignore[arg-type]

    async def call(self, method: str, path: str, auth: Auth | None, *, csrf: bool = True,
                   origin: str = ORIGIN, **kwargs: Any) -> httpx2.Response:
        headers = {"Origin": origin}
        if auth is not None:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in auth.cookies.items())
            if csrf and auth.csrf:
                headers["X-CSRF-Token"] = auth.csrf
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def user_id(self, auth: Auth) -> int:
        return int((await self.call("GET", "/me", auth)).json()["user_id"])

    async def execute(self, statement: Any) -> None:
        async with self.built.world["db"].engine.begin() as connection:
            await connection.execute(statement)


@pytest.fixture
async def enterprise() -> AsyncIterator[Enterprise]:
    built = build_enterprise()
    async with asgi_client(built.app, base_url=ORIGIN) as http:
        yield Enterprise(built, http)


async def test_roles_come_from_the_idp_groups_and_documents_from_the_tenant(enterprise: Enterprise) -> None:
    ada, root, bob = [await enterprise.sign_in(r) for r in ("user", "admin", "other")]
    assert (await enterprise.call("GET", "/me", ada)).json()["role"] == "member"
    assert (await enterprise.call("GET", "/me", root)).json()["role"] == "admin"
    listed = await enterprise.call("GET", "/documents", ada)
    assert listed.status_code == 200
    assert [(d["id"], d["title"], d["classification"], d["region"]) for d in listed.json()] == [(1, "Q1 plan", 1, "eu")]
    assert (await enterprise.call("GET", "/documents", bob)).json() == []  # Globex sees none of Acme's


async def test_without_a_session_every_document_route_is_a_401(enterprise: Enterprise) -> None:
    for method, path in [("GET", "/documents"), ("GET", "/documents/1"), ("POST", "/documents"),
                         ("PATCH", "/documents/1"), ("GET", "/session/csrf")]:
        response = await enterprise.call(method, path, None, json={"title": "x"})
        assert response.status_code == 401, (method, path)  # the session first, then CSRF
        assert response.json() == {"detail": "not logged in"}
        assert response.headers["WWW-Authenticate"] == NOT_LOGGED_IN


async def test_a_forged_session_cookie_is_a_401(enterprise: Enterprise) -> None:
    response = await enterprise.call("GET", "/documents", Auth(cookies={"__Host-session": "forged-" + "x" * 36}))
    assert (response.status_code, response.json()) == (401, {"detail": "not logged in"})
    assert response.headers["WWW-Authenticate"] == NOT_LOGGED_IN


async def test_another_tenants_document_is_a_404_like_a_missing_one(enterprise: Enterprise) -> None:
    await enterprise.sign_in("user")  # creates document 1 (Acme)
    bob = await enterprise.sign_in("other")
    theirs = await enterprise.call("GET", "/documents/1", bob)
    missing = await enterprise.call("GET", "/documents/999", bob)
    assert (theirs.status_code, theirs.json()) == (404, {"detail": "Not Found"})
    assert (missing.status_code, missing.text) == (theirs.status_code, theirs.text)
    edit = await enterprise.call("PATCH", "/documents/1", bob, json={"title": "mine"})
    assert (edit.status_code, edit.json()) == (404, {"detail": "Not Found"})


async def test_a_classification_above_the_clearance_is_a_403_naming_the_rule(enterprise: Enterprise) -> None:
    ada = await enterprise.sign_in("user")
    response = await enterprise.call("POST", "/documents", ada, json={"title": "M&A", "classification": 3})
    assert response.status_code == 403
    assert response.json() == {"detail": "denied by the clearance rule: classification RESTRICTED is above clearance CONFIDENTIAL"}


async def test_sensitive_data_is_not_read_from_another_region(enterprise: Enterprise) -> None:
    ada, cy = await enterprise.sign_in("user"), await enterprise.sign_in("spare")
    created = await enterprise.call("POST", "/documents", ada, json={"title": "Payroll", "classification": 2})
    assert created.status_code == 201, created.text
    await enterprise.execute(update(SubjectProfile).where(SubjectProfile.user_id == await enterprise.user_id(cy))
                             .values(region="us"))
    response = await enterprise.call("GET", f"/documents/{created.json()['id']}", cy)
    assert response.status_code == 403
    assert response.json() == {"detail": "denied by the region rule: CONFIDENTIAL data stays in region eu"}
    assert [d["id"] for d in (await enterprise.call("GET", "/documents", cy)).json()] == [1]  # filtered out


async def test_sensitive_changes_only_in_business_hours(enterprise: Enterprise) -> None:
    enterprise.built.clock.advance(days=5)  # Monday 09:15 UTC + 5 days: Saturday
    ada = await enterprise.sign_in("user")  # after: a session idle for 5 days has ended
    response = await enterprise.call("POST", "/documents", ada, json={"title": "Payroll", "classification": 2})
    assert response.status_code == 403
    assert response.json() == {"detail": "denied by the hours rule: changes to sensitive documents only on weekdays 08:00-18:00 UTC"}
    internal = await enterprise.call("POST", "/documents", ada, json={"title": "Menu", "classification": 1})
    assert internal.status_code == 201  # the rule is about sensitive data only


async def test_a_viewer_cannot_write(enterprise: Enterprise) -> None:
    cy = await enterprise.sign_in("spare")
    await enterprise.execute(update(UserRole).where(UserRole.user_id == await enterprise.user_id(cy)).values(role="viewer"))
    response = await enterprise.call("POST", "/documents", cy, json={"title": "x"})
    assert response.status_code == 403
    assert response.json() == {"detail": "denied by the role rule: role viewer lacks documents:write"}


async def test_a_member_edits_only_their_own_documents_an_admin_any(enterprise: Enterprise) -> None:
    ada, cy, root = [await enterprise.sign_in(r) for r in ("user", "spare", "admin")]
    refused = await enterprise.call("PATCH", "/documents/1", cy, json={"title": "cy's now"})
    assert (refused.status_code, refused.json()) == (403, {"detail": "Only the owner or an admin may edit"})
    assert (await enterprise.call("PATCH", "/documents/1", ada, json={"title": "v2"})).json()["title"] == "v2"
    assert (await enterprise.call("PATCH", "/documents/1", root, json={"title": "v3"})).json()["title"] == "v3"


async def test_a_user_without_a_role_is_a_403(enterprise: Enterprise) -> None:
    cy = await enterprise.sign_in("spare")
    await enterprise.execute(delete(UserRole).where(UserRole.user_id == await enterprise.user_id(cy)))
    response = await enterprise.call("GET", "/documents", cy)
    assert (response.status_code, response.json()) == (403, {"detail": "no role in this tenant"})


async def test_an_unlabelled_document_counts_as_restricted(enterprise: Enterprise) -> None:
    ada = await enterprise.sign_in("user")
    async with enterprise.built.world["db"].sessions() as session:
        session.add(Document(id=50, tenant_id=1, owner_id=await enterprise.user_id(ada), title="imported"))
        await session.commit()
    response = await enterprise.call("GET", "/documents/50", ada)
    assert response.status_code == 403
    assert response.json() == {"detail": "denied by the clearance rule: classification RESTRICTED is above clearance CONFIDENTIAL"}
    assert 50 not in [d["id"] for d in (await enterprise.call("GET", "/documents", ada)).json()]


@pytest.mark.parametrize(("csrf", "origin", "detail"), [
    (False, ORIGIN, "missing CSRF token"),
    (True, "https://evil.example", "cross-origin request refused"),
])
async def test_writes_need_the_csrf_token_and_the_origin(enterprise: Enterprise, csrf: bool, origin: str, detail: str) -> None:
    ada = await enterprise.sign_in("user")
    response = await enterprise.call("POST", "/documents", ada, csrf=csrf, origin=origin, json={"title": "x"})
    assert (response.status_code, response.json()) == (403, {"detail": detail})


async def test_a_wrong_csrf_token_is_a_403(enterprise: Enterprise) -> None:
    ada, cy = await enterprise.sign_in("user"), await enterprise.sign_in("spare")
    ada.csrf = cy.csrf  # a token of another session
    response = await enterprise.call("POST", "/documents", ada, json={"title": "x"})
    assert (response.status_code, response.json()) == (403, {"detail": "invalid CSRF token"})


async def test_owner_and_tenant_cannot_be_sent_in_the_body(enterprise: Enterprise) -> None:
    ada = await enterprise.sign_in("user")
    for field, value in [("owner_id", 99), ("tenant_id", 2)]:
        response = await enterprise.call("POST", "/documents", ada, json={"title": "x", field: value})
        assert response.status_code == 422, field


async def test_logout_ends_the_session(enterprise: Enterprise) -> None:
    ada = await enterprise.sign_in("user")
    assert (await enterprise.call("POST", "/logout", ada)).status_code == 200
    response = await enterprise.call("GET", "/documents", ada)
    assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, NOT_LOGGED_IN)


async def _sso_callback(enterprise: Enterprise, tenant: str = "acme", username: str = "ada",
                        cookies: dict[str, str] | None = None) -> httpx2.Response:
    """The real OIDC login, step by step, returning the app's answer to the callback."""
    from authcourse.client import browser
    from authcourse.idp import sign_in as idp_sign_in

    sites = {ORIGIN: enterprise.built.app, **enterprise.built.world["sites"]}
    async with browser(sites) as user:
        for name, value in (cookies or {}).items():
            user.cookies.set(name, value, domain="clouddocs.test")
        start = await user.get(f"{ORIGIN}/login/{tenant}")
        answer = await idp_sign_in(user, start.headers["location"], username=username,
                                   password="amber falcon quietly sings at dawn")
        return await user.get(answer.headers["location"])


async def test_the_session_cookie_is_host_only_secure_httponly_lax(enterprise: Enterprise) -> None:
    welcome = await _sso_callback(enterprise)
    assert welcome.status_code == 200
    session = [c for c in welcome.headers.get_list("set-cookie") if c.startswith("__Host-session=")]
    assert len(session) == 1
    flags = {part.strip().lower() for part in session[0].split(";")[1:]}
    assert {"httponly", "secure", "path=/", "samesite=lax"} <= flags
    assert not any(flag.startswith("domain=") for flag in flags)


async def test_a_session_id_planted_before_login_is_not_kept(enterprise: Enterprise) -> None:
    planted = await enterprise.sign_in("user")
    welcome = await _sso_callback(enterprise, cookies=dict(planted.cookies))
    fresh = [c for c in welcome.headers.get_list("set-cookie") if c.startswith("__Host-session=")][0]
    assert planted.cookies["__Host-session"] not in fresh  # a new id at login
    old = await enterprise.call("GET", "/documents", planted)
    assert (old.status_code, old.headers["WWW-Authenticate"]) == (401, NOT_LOGGED_IN)  # and the old one ended


async def test_an_idle_session_ends_after_30_minutes(enterprise: Enterprise) -> None:
    ada = await enterprise.sign_in("user")
    enterprise.built.clock.advance(minutes=29)
    assert (await enterprise.call("GET", "/documents", ada)).status_code == 200  # activity resets idleness
    enterprise.built.clock.advance(minutes=31)
    response = await enterprise.call("GET", "/documents", ada)
    assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, NOT_LOGGED_IN)


async def test_a_busy_session_still_ends_after_12_hours(enterprise: Enterprise) -> None:
    ada = await enterprise.sign_in("user")
    minutes = 0
    while minutes < 14 * 60:  # a request every 29 minutes: never idle
        enterprise.built.clock.advance(minutes=29)
        minutes += 29
        response = await enterprise.call("GET", "/documents", ada)
        if response.status_code != 200:
            break
    assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, NOT_LOGGED_IN)
    assert 12 * 60 < minutes <= 12 * 60 + 29  # refused at the first request past 12 hours, not before


async def test_members_are_listed_for_admins_of_the_tenant_only(enterprise: Enterprise) -> None:
    ada, root, gwen = [await enterprise.sign_in(r) for r in ("user", "admin", "outsider_admin")]
    refused = await enterprise.call("GET", "/members", ada)
    assert (refused.status_code, refused.json()) == (403, {"detail": "Missing permission: members:manage"})
    acme = await enterprise.call("GET", "/members", root)
    assert acme.status_code == 200
    assert {(m["email"], m["role"]) for m in acme.json()} == {("ada@acme.test", "member"), ("root@acme.test", "admin")}
    globex = await enterprise.call("GET", "/members", gwen)
    assert {m["email"] for m in globex.json()} == {"gwen@globex.test"}  # never another tenant's people
    anonymous = await enterprise.call("GET", "/members", None)
    assert (anonymous.status_code, anonymous.headers["WWW-Authenticate"]) == (401, NOT_LOGGED_IN)
