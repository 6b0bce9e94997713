"""The timing helpers and the budget report are well-formed; no assertion on a real timing.

Measurements depend on the machine: ``make bench`` measures, these tests only check the
shapes (counts, ordering, arithmetic, verdicts, table and JSON, exit codes) with fake or
trivial timings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from fastapi import FastAPI

from authcourse import __main__ as cli
from authcourse.bench import (
    Comparison,
    HttpCall,
    Timing,
    UnexpectedResponse,
    budgets,
    format_duration,
    per_await,
    per_call,
    per_request,
    render_text,
    side_by_side,
)
from authcourse.bench.apps import AuthBench
from authcourse.bench.budgets import Budget, Report, Row, Verdict
from authcourse.client import asgi_client


def tiny_app() -> FastAPI:
    app = FastAPI()

    @app.get("/open")
    async def open_endpoint() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/teapot", status_code=418)
    async def teapot() -> dict[str, bool]:
        return {"ok": False}

    return app


def fake(label: str, median_ns: float, rounds: int = 5) -> Timing:
    return Timing(label, (median_ns,) * rounds)


# --- Timing ---------------------------------------------------------------------------


def test_timing_statistics_on_known_samples() -> None:
    timing = Timing("x", tuple(float(n) for n in range(1, 101)))
    assert timing.rounds == 100
    assert timing.median_ns == 50.5
    assert timing.p95_ns == 95.0  # nearest rank: an observed sample
    assert timing.percentile(100) == 100.0
    assert timing.per_second == pytest.approx(1e9 / 50.5)
    assert timing.merged(Timing("x", (1000.0,))).rounds == 101


def test_timing_needs_samples_and_a_sane_percentile() -> None:
    with pytest.raises(ValueError):
        Timing("empty", ())
    with pytest.raises(ValueError):
        fake("x", 1).percentile(0)


@pytest.mark.parametrize(
    ("ns", "text"),
    [(850, "850 ns"), (72_400, "72.4 µs"), (3_100_000, "3.10 ms"), (1_250_000_000, "1.25 s")],
)
def test_format_duration_picks_a_readable_unit(ns: float, text: str) -> None:
    assert format_duration(ns) == text


# --- per_call, per_await, per_request, side_by_side -----------------------------------


def test_per_call_counts_rounds_and_skips_warmup() -> None:
    calls: list[int] = []
    timing = per_call(lambda: calls.append(1), rounds=7, warmup=3, inner=4, label="append")
    assert timing.label == "append"
    assert timing.rounds == 7
    assert len(calls) == 3 + 7 * 4
    assert 0 <= timing.median_ns <= timing.p95_ns


def test_per_call_refuses_nonsense_counts() -> None:
    with pytest.raises(ValueError):
        per_call(lambda: None, rounds=0)


@pytest.mark.anyio
async def test_per_await_counts_rounds() -> None:
    calls: list[int] = []

    async def work() -> None:
        calls.append(1)

    timing = await per_await(work, rounds=5, warmup=2)
    assert timing.rounds == 5 and len(calls) == 7
    assert timing.label.endswith("work")
    assert timing.median_ns <= timing.p95_ns


@pytest.mark.anyio
async def test_per_request_times_an_in_process_app() -> None:
    async with asgi_client(tiny_app()) as client:
        timing = await per_request(client, "GET", "/open", rounds=10, warmup=2)
        assert timing.label == "GET /open"
        assert timing.rounds == 10
        assert 0 < timing.median_ns <= timing.p95_ns
        # A response other than the expected one would time the wrong code path.
        with pytest.raises(UnexpectedResponse, match="418"):
            await per_request(client, "GET", "/teapot", rounds=1, warmup=0)
        teapot = await per_request(client, "GET", "/teapot", rounds=2, expect_status=418)
        assert teapot.rounds == 2


@pytest.mark.anyio
async def test_side_by_side_gives_each_call_all_its_rounds() -> None:
    calls = {"open": HttpCall("GET", "/open"), "again": HttpCall("GET", "/open", {"params": {}})}
    async with asgi_client(tiny_app()) as client:
        timings = await side_by_side(client, calls, rounds=11, warmup=1, blocks=3)
        assert [timing.label for timing in timings] == ["open", "again"]
        assert [timing.rounds for timing in timings] == [11, 11]
        with pytest.raises(ValueError):
            await side_by_side(client, calls, rounds=2, blocks=3)


# --- Comparison -----------------------------------------------------------------------


def test_comparison_ratio_is_throughput_relative_to_baseline() -> None:
    comparison = Comparison([fake("none", 100_000), fake("jwt", 125_000)], baseline="none")
    assert comparison.ratio("none") == 1.0
    assert comparison.ratio("jwt") == pytest.approx(0.8)
    assert comparison.extra_ns("jwt") == pytest.approx(25_000)
    text = comparison.text()
    assert "baseline" in text and "80% (+25.0 µs)" in text
    html = Comparison([fake("<b>", 1), fake("x", 2)], baseline="<b>")._repr_html_()
    assert "&lt;b&gt;" in html and "<b>" not in html


def test_comparison_needs_its_baseline_and_unique_labels() -> None:
    with pytest.raises(ValueError):
        Comparison([fake("a", 1)], baseline="b")
    with pytest.raises(ValueError):
        Comparison([fake("a", 1), fake("a", 2)], baseline="a")


def test_render_text_aligns_columns() -> None:
    lines = render_text(["a", "bb"], [["xxx", "y"]]).splitlines()
    assert lines == ["a    bb", "---  --", "xxx  y"]


# --- Budgets, rows, report ------------------------------------------------------------


def test_budget_bounds_and_text() -> None:
    at_least = Budget(0.75, "ratio", at_least=True)
    assert at_least.holds(0.75) and not at_least.holds(0.74)
    assert str(at_least) == "≥ 75%"
    at_most = Budget(1.0, "s")
    assert at_most.holds(1.0) and not at_most.holds(1.01)
    assert str(at_most) == "≤ 1 s"
    assert str(Budget(25e-6, "s")) == "≤ 25.0 µs"


def test_row_verdicts() -> None:
    budget = Budget(1.0, "s")
    assert Row("g", "fast", budget, 0.5, "0.5 s").verdict is Verdict.WITHIN
    assert Row("g", "slow", budget, 2.0, "2 s").verdict is Verdict.OVER
    assert Row("g", "info", None, 0.1, "0.1 s").verdict is Verdict.REFERENCE
    assert Row("g", "broken", budget, None, "?").verdict is Verdict.ERROR
    later = Row("g", "later", budget, None, "n/a", status=Verdict.NOT_MEASURABLE)
    assert later.verdict is Verdict.NOT_MEASURABLE


def fake_comparison(jwt_ns: float) -> Comparison:
    return Comparison(
        [
            fake(AuthBench.BASELINE, 100_000),
            fake(AuthBench.EMPTY_DEPENDENCY, 105_000),
            fake(AuthBench.JWT, jwt_ns),
            fake(AuthBench.JWT_SIGNATURE, 110_000),
            fake(AuthBench.SESSION, 110_000),
            fake(AuthBench.API_KEY, 112_000),
        ],
        baseline=AuthBench.BASELINE,
    )


def test_throughput_rows_give_each_auth_method_its_budget() -> None:
    rows = {row.name: row for row in budgets.throughput_rows(fake_comparison(200_000))}
    jwt_row = rows[f"{AuthBench.JWT} vs no auth"]
    assert jwt_row.budget == budgets.JWT_BUDGET
    assert jwt_row.value == pytest.approx(0.5)
    assert jwt_row.verdict is Verdict.OVER  # half the throughput, budget 75%
    assert rows[f"{AuthBench.SESSION} vs no auth"].verdict is Verdict.WITHIN  # 91% >= 85%
    assert rows[f"{AuthBench.API_KEY} vs no auth"].verdict is Verdict.WITHIN  # 89% >= 85%
    assert rows[f"{AuthBench.JWT_SIGNATURE} vs no auth"].verdict is Verdict.REFERENCE
    fine = budgets.throughput_rows(fake_comparison(120_000))  # 83% >= 75%
    assert Report(fine).exit_code == 0


def test_report_text_marks_an_over_budget_row_and_exits_1() -> None:
    report = Report(
        [
            *budgets.throughput_rows(fake_comparison(200_000)),
            *budgets.not_measurable_rows(),
            Row("check()", 'check("01.1")', budgets.CHECK_BUDGET, 0.2, "0.20 s", "x" * 500),
        ],
        mode="quick",
        machine={"cpus": 2, "python": "3.11", "platform": "test"},
        throughput=fake_comparison(200_000),
    )
    assert report.exit_code == 1
    text = report.text()
    assert "OVER" in text and "within" in text and "reference" in text
    assert "not measurable yet: chapter 7 (ReBAC) not built" in text
    assert "x" * 100 not in text  # long notes are cut in the table...
    assert "x" * 500 in report.to_json()  # ...and kept whole in the JSON
    assert "some budgets are exceeded" in report.summary()
    assert "<table>" in report._repr_html_()


def test_report_json_shape() -> None:
    report = Report(
        budgets.throughput_rows(fake_comparison(200_000)),
        mode="full",
        machine={"cpus": 2},
        throughput=fake_comparison(200_000),
    )
    data = json.loads(report.to_json())
    assert set(data) == {"mode", "machine", "exit_code", "rows", "throughput"}
    assert data["exit_code"] == 1
    row_keys = {"group", "name", "budget", "limit", "unit", "value", "measured", "verdict", "note"}
    assert all(set(row) == row_keys for row in data["rows"])
    over = [row for row in data["rows"] if row["verdict"] == "OVER"]
    assert [row["name"] for row in over] == [f"{AuthBench.JWT} vs no auth"]
    assert over[0]["limit"] == 0.75 and over[0]["unit"] == "ratio"
    assert {entry["label"] for entry in data["throughput"]} >= {AuthBench.BASELINE}
    assert all(entry["median_ns"] <= entry["p95_ns"] for entry in data["throughput"])


# --- the command line -----------------------------------------------------------------


@pytest.mark.parametrize(("jwt_ns", "exit_code"), [(200_000, 1), (120_000, 0)])
def test_cli_exit_code_follows_the_verdicts(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    jwt_ns: float,
    exit_code: int,
) -> None:
    seen: dict[str, Any] = {}

    def fake_run(**options: Any) -> Report:
        seen.update(options)
        comparison = fake_comparison(jwt_ns)
        return Report(budgets.throughput_rows(comparison), mode="quick", throughput=comparison)

    monkeypatch.setattr(budgets, "run", fake_run)
    assert cli.main(["bench", "--quick", "--json"]) == exit_code
    assert seen["quick"] is True and seen["notebooks"] is False
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == exit_code and data["mode"] == "quick"
    assert cli.main(["bench", "--notebooks"]) == exit_code
    assert seen["notebooks"] is True
    assert ("OVER" in capsys.readouterr().out) == bool(exit_code)


# --- solution namespaces --------------------------------------------------------------


def test_solution_code_runs_without_this_packages_future_imports(tmp_path: Path) -> None:
    # budgets.py has `from __future__ import annotations`; compiled notebook code must not
    # inherit it, or FastAPI sees strings it cannot resolve and answers 422 for everything.
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("SETUP = True"),
        nbformat.v4.new_code_cell("def f(x: int) -> None:\n    ### BEGIN SOLUTION\n    pass\n"),
        nbformat.v4.new_code_cell("raise RuntimeError('a demo cell is not run')"),
    ]
    path = tmp_path / "99_solution.ipynb"
    nbformat.write(notebook, path)
    namespace = budgets.solution_namespace(path)
    assert namespace["SETUP"] is True
    assert namespace["f"].__annotations__ == {"x": int, "return": None}


def test_run_reports_a_failed_measurement_and_every_budget_it_cannot_measure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def broken_throughput(plan: budgets.Plan) -> Comparison:
        raise UnexpectedResponse("GET /jwt answered 401, expected 200")

    monkeypatch.setattr(budgets, "measure_throughput", broken_throughput)
    monkeypatch.setattr(budgets, "measure_checks", lambda *args: [])
    monkeypatch.setattr(budgets, "measure_grading", lambda *args: [])
    monkeypatch.setattr(budgets, "measure_reference", lambda *args: [])
    messages: list[str] = []
    report = budgets.run(quick=True, root=tmp_path, progress=messages.append)
    verdicts = {row.name: row.verdict for row in report.rows}
    assert verdicts["JWT vs no auth"] is Verdict.ERROR
    assert verdicts["any one notebook under nbval"] is Verdict.SKIPPED
    rebac = [row for row in report.rows if row.group == "ReBAC"]
    assert rebac and all(row.verdict is Verdict.NOT_MEASURABLE for row in rebac)
    assert report.mode == "quick" and report.exit_code == 1 and messages
    assert "401" in report.to_json()
