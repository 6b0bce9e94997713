"""The full audit (every registered probe group) against each of chapter 8's pattern apps.

Every probe must pass or be not applicable; the n/a ones are listed with their reasons in
the stored reports (docs/audit/<pattern>.md), which ``make audit`` writes.
"""

from pathlib import Path

import pytest

from authcourse.audit import Status, audit
from authcourse.audit.runner import all_probes
from authcourse.audit.targets import patterns

pytestmark = pytest.mark.anyio

#: Probes each pattern must *pass* (not merely be n/a): what its target describes.
MUST_PASS = {
    "startup_saas": ["refresh.rotation", "refresh.reuse_revokes_family", "jwt.alg_none", "bruteforce.lockout",
                     "authorization.bfla_admin", "authorization.route_inventory"],
    "api_platform": ["apikeys.scope_enforced", "apikeys.revocation_instant", "apikeys.per_key_limit",
                     "jwt.alg_none", "jwt.aud_checked", "jwt.iss_checked", "transport.credentials_not_in_query",
                     "logging.no_secrets"],
    "enterprise": ["authorization.bola", "authorization.not_found_consistency", "sessions.logout_invalidates",
                   "authorization.route_inventory", "access_models.tenant_isolation", "access_models.list_bola",
                   "oauth_client.state", "oauth_client.nonce", "oauth_client.pkce", "oauth_client.id_token_aud",
                   "oauth_client.issuer_mixup", "oauth_client.email_verified"],
    "microservices": ["jwt.alg_none", "jwt.aud_checked", "jwt.expired_refused", "transport.hsts"],
}


@pytest.mark.parametrize("name", list(patterns.BUILDERS))
async def test_every_probe_passes_or_is_not_applicable(name: str) -> None:
    built = patterns.BUILDERS[name]()
    report = await audit(built.app, built.target)
    assert len(report.results) == len(all_probes())  # the full audit, every group
    broken = {r.id: r.summary for r in report.results if r.status in (Status.FAIL, Status.ERROR)}
    assert broken == {}
    not_applicable = [r for r in report.results if r.status is Status.NOT_APPLICABLE]
    assert all(r.summary for r in not_applicable), "every n/a names its reason"
    stored = Path(__file__).parents[2] / patterns.REPORT_DIR / f"{name}.md"
    assert stored.read_text(encoding="utf-8") == patterns.markdown_report(name, report), (
        f"{stored} is not current: run `make audit`")
    assert {probe: report[probe].status.value for probe in MUST_PASS[name]} == dict.fromkeys(MUST_PASS[name], "pass")


def test_targets_are_built_from_direct_imports() -> None:
    # No name lookup across clouddocs modules (the chapter 2-4 targets' find()): a renamed
    # function breaks this module at import time, loudly.
    source = patterns.__file__
    with open(source, encoding="utf-8") as handle:
        text = handle.read()
    assert "find(" not in text and "importlib" not in text and "pkgutil" not in text
