"""The report's three forms and the command line (exit codes, --only, --json)."""

import json
import sys
import types

import pytest

from authcourse.__main__ import main
from authcourse.audit import Status, audit

from .labapp import Lab


@pytest.mark.anyio
async def test_report_renders_text_html_and_json_with_masked_evidence() -> None:
    lab = Lab(frozenset({"cors_reflect", "weak_secret"}))
    report = await audit(lab.app, lab.target("jwt"), only=["transport", "jwt.weak_secret"])
    assert report["transport.cors_no_reflection"].status is Status.FAIL
    assert report.exit_code == 1
    text = report.text()
    assert "fail  transport.cors_no_reflection" in text and "--- jwt.weak_secret" in text
    html = report._repr_html_()
    assert "<table>" in html and "<details>" in html
    data = json.loads(report.to_json())
    assert data["exit_code"] == 1 and data["counts"]["fail"] == 2
    assert {r["id"] for r in data["results"]} == {r.id for r in report.results}
    # Evidence carries requests and responses, never the credentials in them.
    assert "alice correct horse battery" not in report.to_json()
    assert "Bearer •••" in "\n".join(report["transport.no_store_authenticated"].evidence)


@pytest.mark.anyio
async def test_a_clean_report_exits_zero() -> None:
    lab = Lab(frozenset())
    report = await audit(lab.app, lab.target("session"), only="sessions")
    assert report.exit_code == 0 and report.counts["pass"] == 9


def test_unknown_group_is_an_error() -> None:
    with pytest.raises(ValueError, match="groups:"):
        from authcourse.audit.runner import select

        select("nonsense")


def test_cli_json_and_exit_codes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = "authcourse.audit.targets.clouddocs:ch04"
    code = main(["audit", f"{spec}.app", "--target", f"{spec}.target", "--only", "apikeys", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["counts"]["fail"] == 0 and data["counts"]["pass"] >= 5
    # A module the CLI can name, holding an app without security headers.
    lab = Lab(frozenset({"no_hsts"}))
    flawed = types.ModuleType("flawed_for_cli")
    flawed.app, flawed.target = lab.app, lab.target("jwt")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "flawed_for_cli", flawed)
    code = main(["audit", "flawed_for_cli:app", "--target", "flawed_for_cli:target", "--only", "transport"])
    assert code == 1 and "fail  transport.hsts" in capsys.readouterr().out
    assert main(["audit", f"{spec}.app", "--target", f"{spec}.app"]) == 2
