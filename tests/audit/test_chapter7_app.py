"""Chapter 7's document API (tenants, roles, sharing) under the FULL audit: every group.

Every probe passes or is not applicable; nothing fails or crashes. The probes that are not
applicable, and why (the app is an API behind chapter 3's access tokens, not a login app):

- passwords, brute force, sessions (cookies, CSRF, timeouts), refresh, logging: the app has
  no login, registration, session, refresh or logout route and no audit log; people are
  signed in by the target with the chapter's token service.
  ``transport.no_store_login`` likewise (no login answer to cache).
- ``jwt.alg_confusion``: tokens are HS256, so there is no public key to confuse.
  ``jwt.refresh_not_access``: no refresh tokens.
- API keys: the app has none.
- ``authorization.bfla_admin`` and ``authorization.mass_assignment``: the app has no admin
  route a GET can call. Role escalation is covered by ``access_models.role_escalation``
  (``PUT /members/{id}/role`` and ``PATCH /me``, read back through ``GET /me``).

Two mutants of the chapter's own code prove the pass is not vacuous: the probes fail the
app when its list query loses the tenant filter, and when anyone may share.
"""

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import clouddocs.tenancy as tenancy
from authcourse.audit import GROUPS, Status, audit
from authcourse.audit.targets.clouddocs import build_ch07
from clouddocs.db import Document
from clouddocs.rbac import Member

pytestmark = pytest.mark.anyio

NOT_APPLICABLE_GROUPS = {"passwords", "bruteforce", "sessions", "refresh", "apikeys", "logging",
                         "oauth_client", "provider"}  # chapter 7 is neither an OAuth client nor a provider
NOT_APPLICABLE_PROBES = {
    "transport.no_store_login",
    "jwt.alg_confusion",
    "jwt.refresh_not_access",
    "authorization.bfla_admin",
    "authorization.mass_assignment",
}


async def test_full_audit_of_chapter_7_passes_every_applicable_probe() -> None:
    built = build_ch07()
    report = await audit(built.app, built.target)
    assert {r.group for r in report.results} == set(GROUPS)
    assert not report.failures, report.text()
    assert not report.by_status(Status.ERROR), report.text()
    not_applicable = {r.id for r in report.results if r.status is Status.NOT_APPLICABLE}
    expected = {r.id for r in report.results if r.group in NOT_APPLICABLE_GROUPS} | NOT_APPLICABLE_PROBES
    assert not_applicable == expected, report.text()
    access = [r for r in report.results if r.group == "access_models"]
    assert len(access) == 5 and all(r.status is Status.PASS for r in access), report.text()


@pytest.fixture
def tenantless_list(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The classic regression: a refactor drops the tenant filter from the list query only
    # (reading by id keeps the real query, so the list and the reads disagree).
    real = tenancy.visible_documents

    async def read_one(session: AsyncSession, member: Member, document_id: int) -> Document | None:
        found: Document | None = await session.scalar(real(member).where(Document.id == document_id))
        return found

    monkeypatch.setattr(tenancy, "visible_document", read_one)
    monkeypatch.setattr(tenancy, "visible_documents", lambda member: select(Document))
    yield


async def test_a_list_query_without_the_tenant_filter_fails_isolation_and_lists(tenantless_list: None) -> None:
    built = build_ch07()
    report = await audit(built.app, built.target, only="access_models")
    assert report["access_models.tenant_isolation"].status is Status.FAIL
    assert report["access_models.list_bola"].status is Status.FAIL
    assert "sees it with no parameters" in report["access_models.list_bola"].summary


async def test_a_share_route_without_the_editor_check_fails_sharing(monkeypatch: pytest.MonkeyPatch) -> None:
    async def anyone(*_: object) -> bool:
        return True

    monkeypatch.setattr(tenancy, "is_editor", anyone)
    built = build_ch07()
    report = await audit(built.app, built.target, only="access_models.sharing_revocation")
    result = report["access_models.sharing_revocation"]
    assert result.status is Status.FAIL and "not the owner" in result.summary
