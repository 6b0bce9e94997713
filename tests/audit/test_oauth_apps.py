"""The full audit (every group) against the course's OAuth pieces: chapter 5's BFF, chapter
6's SSO app and the course provider, ``authcourse.idp``. Nothing may fail or crash; every
probe that does not apply says why (printed with ``pytest -s``); and the probes written for
each kind of app do run on it."""

from __future__ import annotations

import json

import pytest

from authcourse.__main__ import main
from authcourse.audit import Status, audit
from authcourse.audit.targets.oauth import build_bff, build_provider, build_sso

BUILDERS = {"bff": build_bff, "sso": build_sso, "provider": build_provider}
#: Probes that must PASS (not merely be n/a) on each app: the ones about what it is.
MUST_RUN = {
    "bff": {"oauth_client.state", "oauth_client.nonce", "oauth_client.pkce",
            "oauth_client.id_token_aud", "oauth_client.id_token_iss",
            "oauth_client.id_token_exp", "oauth_client.id_token_signature",
            "oauth_client.issuer_mixup", "oauth_client.secret_not_in_browser",
            "transport.hsts", "transport.no_store_authenticated",
            "sessions.logout_invalidates", "authorization.challenge",
            "authorization.route_inventory"},
    "provider": {"provider.redirect_uri_exact", "provider.pkce_required",
                 "provider.pkce_s256_only", "provider.pkce_verifier_checked",
                 "provider.code_single_use", "provider.code_redirect_uri_checked",
                 "provider.code_replay_revokes",
                 "provider.code_short_lived", "provider.refresh_rotation",
                 "provider.refresh_reuse_revokes", "provider.introspection_protected",
                 "provider.access_token_lifetime", "transport.hsts", "transport.nosniff",
                 "transport.body_limit", "authorization.route_inventory"},
}
MUST_RUN["sso"] = MUST_RUN["bff"] | {"oauth_client.email_verified"}


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(BUILDERS))
async def test_full_audit_finds_nothing_and_explains_every_n_a(name: str) -> None:
    built = BUILDERS[name]()
    report = await audit(built.app, built.target)
    print(report.text())  # the n/a reasons, for the reader of ``pytest -s``
    bad = [r for r in report.results if r.status in (Status.FAIL, Status.ERROR)]
    assert not bad, report.text()
    not_applicable = report.by_status(Status.NOT_APPLICABLE)
    assert all(result.summary.strip() for result in report.results
               if result.id in not_applicable)
    passed = set(report.by_status(Status.PASS))
    assert MUST_RUN[name] <= passed, sorted(MUST_RUN[name] - passed)


@pytest.mark.parametrize(("name", "group", "count"), [("provider", "provider", 12),
                                                      ("sso", "oauth_client", 10)])
def test_the_command_line_runs_one_group(
    capsys: pytest.CaptureFixture[str], name: str, group: str, count: int
) -> None:
    spec = f"authcourse.audit.targets.oauth:{name}"
    code = main(["audit", f"{spec}.app", "--target", f"{spec}.target", "--only", group, "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["counts"]["pass"] == count
    assert {r["id"].split(".")[0] for r in data["results"]} == {group}
