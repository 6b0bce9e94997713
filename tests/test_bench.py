"""The bench's parts are well-formed; no assertion on a real timing, ever.

Measurements depend on the machine: ``make bench`` measures, these tests check the shapes
(counts, ordering, arithmetic, verdicts as medians of runs, table and JSON, exit codes),
the peer's "not measured" failure, and that the loopback server starts and stops, with
fake timings or a handful of real requests whose durations are never looked at.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat
import pytest
from fastapi import FastAPI

from authcourse import __main__ as cli
from authcourse import notebooks
from authcourse.bench import budgets, loopback, peer, run, timing
from authcourse.bench.apps import AuthBench
from authcourse.bench.budgets import Budget
from authcourse.bench.compare import Comparison, measure_routes
from authcourse.bench.report import Report, Row, Verdict
from authcourse.bench.tables import render_text
from authcourse.bench.timing import HttpCall, Timing, UnexpectedResponse
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


def fake_runs(medians: dict[str, Sequence[float]]) -> list[dict[str, Timing]]:
    """Runs in which each label's samples all equal the given median of that run."""
    count = len(next(iter(medians.values())))
    return [
        {label: fake(label, values[run]) for label, values in medians.items()}
        for run in range(count)
    ]


# --- timing ---------------------------------------------------------------------------


def test_timing_statistics_on_known_samples() -> None:
    timing_ = Timing("x", tuple(float(n) for n in range(1, 101)))
    assert timing_.rounds == 100
    assert timing_.median_ns == 50.5
    assert timing_.p99_ns == 99.0  # nearest rank: an observed sample, not interpolated
    assert timing_.percentile(100) == 100.0
    assert timing_.per_second == pytest.approx(1e9 / 50.5)
    assert timing_.merged(Timing("x", (1000.0,))).rounds == 101


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
    assert timing.format_duration(ns) == text


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_paused_restores_the_collectors_state(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        with timing.gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(RuntimeError), timing.gc_paused():
            raise RuntimeError("even on the way out through an exception")
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_per_call_counts_rounds_and_samples_with_the_collector_paused() -> None:
    collector: list[bool] = []
    result = timing.per_call(
        lambda: collector.append(gc.isenabled()), rounds=7, warmup=3, inner=4, label="append"
    )
    assert result.label == "append" and result.rounds == 7
    # Warm-up calls run as usual; the 7 x 4 timed calls run with the collector paused.
    assert collector == [True] * 3 + [False] * 28
    assert gc.isenabled()
    with pytest.raises(ValueError):
        timing.per_call(lambda: None, rounds=0)


@pytest.mark.anyio
async def test_per_await_counts_rounds() -> None:
    calls: list[int] = []

    async def work() -> None:
        calls.append(1)

    result = await timing.per_await(work, rounds=5, warmup=2)
    assert result.rounds == 5 and len(calls) == 7
    assert result.label.endswith("work")


def test_blocks_cut_the_rounds_and_rotate_who_goes_first() -> None:
    assert timing.block_sizes(11, 3) == [4, 4, 3]
    assert sum(timing.block_sizes(1000, 7)) == 1000
    with pytest.raises(ValueError):
        timing.block_sizes(2, 3)
    labels = ["a", "b", "c"]
    assert [timing.block_order(labels, block) for block in range(4)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]


@pytest.mark.anyio
async def test_interleaved_runs_alternate_blocks_between_runners() -> None:
    log: list[tuple[str, int]] = []

    def runner(label: str, value: float) -> timing.BlockRunner:
        async def run_block(count: int) -> list[float]:
            log.append((label, count))
            return [value] * count

        return run_block

    runs = await timing.interleaved_runs(
        {"ours": runner("ours", 2.0), "peer": runner("peer", 3.0)},
        rounds=5,
        blocks=2,
        runs=3,
        warmup=4,
    )
    assert log[:2] == [("ours", 4), ("peer", 4)]  # warm-up, once per runner
    # Each run: block 0 (3 requests) ours then peer, block 1 (2 requests) peer then ours.
    assert log[2:6] == [("ours", 3), ("peer", 3), ("peer", 2), ("ours", 2)]
    assert len(log) == 2 + 3 * 4
    assert len(runs) == 3
    assert all(run["ours"].rounds == run["peer"].rounds == 5 for run in runs)
    assert runs[0]["peer"].median_ns == 3.0

    async def short(count: int) -> list[float]:
        return [1.0] * (count - 1)

    with pytest.raises(RuntimeError, match="returned 2 samples, expected 3"):
        await timing.interleaved({"short": short}, rounds=3, blocks=1)


@pytest.mark.anyio
async def test_time_requests_checks_every_status() -> None:
    async with asgi_client(tiny_app()) as client:
        samples = await timing.time_requests(client, HttpCall("GET", "/open"), 4)
        assert len(samples) == 4 and all(sample > 0 for sample in samples)
        # A response other than the expected one would time the wrong code path.
        with pytest.raises(UnexpectedResponse, match="418"):
            await timing.time_requests(client, HttpCall("GET", "/teapot"), 1)
        teapots = await timing.time_requests(
            client, HttpCall("GET", "/teapot"), 2, expect_status=None
        )
        assert len(teapots) == 2


def test_http_call_survives_json() -> None:
    call = HttpCall("GET", "/jwt", {"headers": {"Authorization": "Bearer x"}})
    assert HttpCall.from_dict(json.loads(json.dumps(call.as_dict()))) == call


def test_timing_module_loads_alone_by_path() -> None:
    # The peer's process loads timing.py by path, in an environment without the course:
    # it must need nothing but the standard library.
    code = textwrap.dedent(
        f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("standalone_timing", {timing.__file__!r})
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        print(module.Timing("x", (1.0, 3.0)).median_ns)
        print(sorted(name for name in sys.modules if name.split(".")[0] in
                     ("authcourse", "clouddocs", "httpx2", "fastapi", "starlette")))
        """
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.split("\n")[:2] == ["2.0", "[]"]


# --- compare: the measurement API -----------------------------------------------------


def test_comparison_ratio_is_the_median_of_per_run_ratios() -> None:
    runs = fake_runs({"open": [100.0, 100.0, 200.0], "jwt": [500.0, 400.0, 400.0]})
    comparison = Comparison.from_runs(runs, baseline="open")
    jwt = comparison["jwt"]
    assert jwt.run_ratios == (0.2, 0.25, 0.5)
    assert jwt.ratio == 0.25  # the median of the runs, not of the pooled samples
    assert jwt.run_added_ns == (400.0, 300.0, 200.0) and jwt.added_ns == 300.0
    assert jwt.median_ns == 400.0 and jwt.p99_ns == 500.0  # pooled over the runs
    assert jwt.timing.rounds == 15 and jwt.runs == 3
    assert comparison["open"].ratio == 1.0
    assert comparison.throughput_ratios("open", "jwt") == (5.0, 4.0, 2.0)
    text = comparison.text()
    assert "baseline" in text and "25%" in text and "+300 ns" in text and "20% 25% 50%" in text
    data = comparison.as_dict()
    assert data["baseline"] == "open"
    assert [route["label"] for route in data["routes"]] == ["open", "jwt"]
    assert data["routes"][1]["run_ratios"] == [0.2, 0.25, 0.5]


def test_comparison_refuses_inconsistent_runs() -> None:
    with pytest.raises(ValueError):
        Comparison.from_runs([], baseline="a")
    with pytest.raises(ValueError):
        Comparison.from_runs(fake_runs({"a": [1.0]}), baseline="b")
    mixed = [{"a": fake("a", 1)}, {"b": fake("b", 1)}]
    with pytest.raises(ValueError):
        Comparison.from_runs(mixed, baseline="a")


def test_comparison_html_is_escaped() -> None:
    comparison = Comparison.from_runs(fake_runs({"<b>": [1.0], "x": [2.0]}), baseline="<b>")
    html = comparison._repr_html_()
    assert "&lt;b&gt;" in html and "<b>" not in html


def test_render_text_aligns_columns() -> None:
    lines = render_text(["a", "bb"], [["xxx", "y"]]).splitlines()
    assert lines == ["a    bb", "---  --", "xxx  y"]


@pytest.mark.anyio
async def test_measure_routes_times_each_route_in_every_run() -> None:
    comparison = await measure_routes(
        tiny_app(),
        {"open": "/open", "again": HttpCall("GET", "/open", {"params": {"q": "1"}})},
        rounds=6,
        blocks=2,
        runs=3,
        warmup=1,
        title="tiny",
    )
    assert comparison.baseline == "open" and comparison.labels == ["open", "again"]
    assert all(route.timing.rounds == 18 and route.runs == 3 for route in comparison.routes)
    assert comparison.title == "tiny"
    with pytest.raises(UnexpectedResponse):
        await measure_routes(tiny_app(), {"teapot": "/teapot"}, rounds=1, blocks=1, runs=1)


# --- budgets, rows, report ------------------------------------------------------------


def test_budget_bounds_and_text() -> None:
    at_least = Budget(0.16, "ratio", at_least=True)
    assert at_least.holds(0.16) and not at_least.holds(0.159)
    assert str(at_least) == "≥ 16%"
    assert str(budgets.PEER) == "≥ 1×" and budgets.PEER.holds(1.0)
    at_most = Budget(1.0, "s")
    assert at_most.holds(1.0) and not at_most.holds(1.01)
    assert str(at_most) == "≤ 1 s"
    assert str(budgets.REBAC_P99) == "≤ 25.0 µs"


def test_row_verdicts_and_which_fail_the_run() -> None:
    budget = Budget(1.0, "s")
    rows = {
        Verdict.WITHIN: Row("g", "fast", budget, 0.5, "0.5 s"),
        Verdict.OVER: Row("g", "slow", budget, 2.0, "2 s"),
        Verdict.REFERENCE: Row("g", "info", None, 0.1, "0.1 s"),
        Verdict.ERROR: Row("g", "broken", budget, None, "?"),
        Verdict.NOT_MEASURED: run.peer_not_measured("pip failed"),
        Verdict.SKIPPED: Row("g", "skip", budget, None, "n/a", status=Verdict.SKIPPED),
    }
    for verdict, row in rows.items():
        assert row.verdict is verdict
        failing = verdict in (Verdict.OVER, Verdict.ERROR, Verdict.NOT_MEASURED)
        assert Report([row]).exit_code == int(failing), verdict


def in_process(
    session_ratios: Sequence[float],
    jwt_ns: float = 1_000_000,
    cached_session_ns: float = 240_000,
) -> Comparison:
    """A fake in-process comparison: baseline 200 µs; the session's ratio per run given."""
    base = [200_000.0] * len(session_ratios)
    return Comparison.from_runs(
        fake_runs(
            {
                AuthBench.BASELINE: base,
                AuthBench.EMPTY_DEPENDENCY: [210_000.0] * len(base),
                AuthBench.SESSION: [200_000.0 / ratio for ratio in session_ratios],
                AuthBench.API_KEY: [800_000.0] * len(base),  # 25% >= 18%
                AuthBench.JWT_SIGNATURE: [300_000.0] * len(base),  # 67% >= 50%
                AuthBench.JWT: [jwt_ns] * len(base),
                AuthBench.SESSION_CACHED: [cached_session_ns] * len(base),  # 83% >= 80%
                AuthBench.API_KEY_CACHED: [290_000.0] * len(base),  # 69% >= 65%
                AuthBench.JWT_CACHED: [380_000.0] * len(base),  # 53% >= 50%
            }
        ),
        baseline=AuthBench.BASELINE,
    )


def verdicts(rows: list[Row]) -> dict[str, Verdict]:
    return {row.name: row.verdict for row in rows}


def test_in_process_verdicts_are_medians_of_the_runs() -> None:
    session = f"{AuthBench.SESSION} vs {AuthBench.BASELINE}"
    jwt = f"{AuthBench.JWT} vs {AuthBench.BASELINE}"
    # One bad run (15%) does not flip a session that keeps 22% in the median run...
    rows = run.throughput_rows(in_process([0.15, 0.25, 0.22]))
    assert verdicts(rows)[session] is Verdict.WITHIN
    assert verdicts(rows)[jwt] is Verdict.WITHIN  # 200 µs / 1 ms = 20% >= 16%
    assert {row.budget for row in rows if row.group == "in-process"} == {
        budgets.SESSION,
        budgets.API_KEY,
        budgets.JWT_SIGNATURE_ONLY,
        budgets.JWT_WITH_REVOCATION,
    }
    # ...and one good run does not save one that keeps 18% in the median run.
    rows = run.throughput_rows(in_process([0.25, 0.15, 0.18], jwt_ns=1_400_000))
    assert verdicts(rows)[session] is Verdict.OVER
    assert verdicts(rows)[jwt] is Verdict.OVER  # 14% < 16%
    assert verdicts(rows)[f"{AuthBench.EMPTY_DEPENDENCY} vs {AuthBench.BASELINE}, in-process"] is (
        Verdict.REFERENCE
    )
    # Just under the limit reads as under it, never rounded up to it.
    (near,) = [r for r in run.throughput_rows(in_process([0.19996] * 3)) if r.name == session]
    assert near.verdict is Verdict.OVER and near.measured.startswith("19.9% ")
    # A verdict needs three runs.
    rows = run.throughput_rows(in_process([0.5, 0.5]))
    assert verdicts(rows)[session] is Verdict.ERROR


def test_cache_rows_hold_each_cached_check_to_its_budget() -> None:
    rows = run.cache_rows(in_process([0.5] * 3))
    assert [row.budget for row in rows] == [
        budgets.SESSION_CACHED,
        budgets.API_KEY_CACHED,
        budgets.JWT_CACHED,
    ]
    assert [row.name for row in rows] == [
        f"{label} vs {AuthBench.BASELINE}"
        for label in (AuthBench.SESSION_CACHED, AuthBench.API_KEY_CACHED, AuthBench.JWT_CACHED)
    ]
    assert all(row.group == "cache hit path" and row.verdict is Verdict.WITHIN for row in rows)
    assert Report(rows).exit_code == 0
    # A cached session check at 75% of the baseline misses its 80% budget and fails the run.
    slow = run.cache_rows(in_process([0.5] * 3, cached_session_ns=200_000 / 0.75))
    assert verdicts(slow)[f"{AuthBench.SESSION_CACHED} vs {AuthBench.BASELINE}"] is Verdict.OVER
    assert Report(slow).exit_code == 1
    # A verdict needs three runs, as for the uncached checks.
    assert {row.verdict for row in run.cache_rows(in_process([0.5, 0.5]))} == {Verdict.ERROR}


def peer_comparison(ours_ns: Sequence[float], peer_ns: Sequence[float]) -> Comparison:
    return Comparison.from_runs(
        fake_runs(
            {
                run.OURS_OPEN: [200_000.0] * len(ours_ns),
                run.OURS: ours_ns,
                run.PEER_OPEN: [210_000.0] * len(ours_ns),
                run.PEER_ME: peer_ns,
            }
        ),
        baseline=run.OURS_OPEN,
    )


def test_peer_verdict_is_ours_over_theirs_median_of_runs() -> None:
    versions = {"fastapi-users": "15.0.5", "sqlalchemy": "2.0.58"}
    (row,) = run.peer_rows(peer_comparison([500e3, 1000e3, 400e3], [600e3, 600e3, 600e3]), versions)
    assert row.budget == budgets.PEER
    assert row.value == pytest.approx(1.2)  # runs 1.2×, 0.6×, 1.5×: median 1.2× >= 1×
    assert row.verdict is Verdict.WITHIN
    assert "fastapi-users 15.0.5" in row.note and "1.20×" in row.measured
    (row,) = run.peer_rows(peer_comparison([700e3, 700e3, 300e3], [600e3, 600e3, 600e3]), versions)
    assert row.verdict is Verdict.OVER  # median run 0.86×
    (row,) = run.peer_rows(peer_comparison([300e3], [600e3]), versions)
    assert row.verdict is Verdict.ERROR  # one run is not a verdict


def test_peer_not_measured_fails_the_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def cannot_build(root: Path, progress: Any = None) -> Path:
        raise peer.PeerUnavailable("pip could not install the peer (exit 1): no network")

    monkeypatch.setattr(peer, "ensure_peer_env", cannot_build)
    rows, comparison = run.run_peer(run.QUICK, tmp_path, lambda _message: None)
    assert comparison is None
    (row,) = rows
    assert row.measured == "not measured" and row.verdict is Verdict.NOT_MEASURED
    assert "no network" in row.note
    report = Report([*run.cache_rows(in_process([0.5] * 3)), row])
    assert report.exit_code == 1
    assert "not measured" in report.text() and "some budgets are missed" in report.summary()


def test_ensure_peer_env_reports_pips_failure_and_reuses_a_built_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    created: list[Path] = []

    def fake_create(self: Any, env_dir: Path) -> None:
        created.append(Path(env_dir))
        python = peer.peer_python(Path(env_dir))
        python.parent.mkdir(parents=True, exist_ok=True)
        python.touch()

    monkeypatch.setattr(peer.venv.EnvBuilder, "create", fake_create)

    def pip(returncode: int) -> Any:
        def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
            assert command[1:4] == ["-m", "pip", "install"] and "-c" in command
            return subprocess.CompletedProcess(command, returncode, "", "ERROR: no network\n")

        return fake_run

    monkeypatch.setattr(peer.subprocess, "run", pip(1))
    with pytest.raises(peer.PeerUnavailable, match="no network"):
        peer.ensure_peer_env(tmp_path)
    monkeypatch.setattr(peer.subprocess, "run", pip(0))
    python = peer.ensure_peer_env(tmp_path)
    assert python == peer.peer_python(tmp_path / peer.PEER_VENV)
    assert len(created) == 2
    assert peer.ensure_peer_env(tmp_path) == python  # stamp unchanged: nothing rebuilt
    assert len(created) == 2


FAKE_PEER = """
import json, sys
print(json.dumps({"ready": True, "labels": ["unprotected", "GET /me"], "versions": {}}), flush=True)
for line in sys.stdin:
    command = json.loads(line)
    if command["op"] == "quit":
        break
    if command["label"] == "GET /me":
        print(json.dumps({"samples": [7.0] * command["count"]}), flush=True)
    else:
        print(json.dumps({"error": "KeyError: " + command["label"]}), flush=True)
"""


@pytest.mark.anyio
async def test_peer_process_protocol_and_failures(tmp_path: Path) -> None:
    script = tmp_path / "fake_peer.py"
    script.write_text(FAKE_PEER)
    python = Path(sys.executable)
    async with peer.peer_process(python, script=script, timeout=30) as process:
        assert process.labels == ["unprotected", "GET /me"]
        assert await process.runner("GET /me")(3) == [7.0, 7.0, 7.0]
        with pytest.raises(peer.PeerUnavailable, match="KeyError"):
            await process.runner("unprotected")(1)
        with pytest.raises(KeyError):
            process.runner("nope")
    assert process.process.returncode is not None  # stopped on the way out
    crashing = tmp_path / "crashing_peer.py"
    crashing.write_text("import sys; sys.exit('cannot import fastapi_users')")
    with pytest.raises(peer.PeerUnavailable, match="cannot import fastapi_users"):
        async with peer.peer_process(python, script=crashing, startup_timeout=30):
            pass


def report_for_json() -> Report:
    comparison = in_process([0.15, 0.18, 0.19])
    return Report(
        [
            *run.throughput_rows(comparison),
            *run.cache_rows(comparison),
            run.peer_not_measured("no network"),
            *run.rebac_rows(None),
            Row("check()", 'check("01.1")', budgets.CHECK, 0.2, "0.20 s", "x" * 500),
        ],
        mode="quick",
        machine={"cpus": 2, "python": "3.11", "platform": "test"},
        comparisons=[comparison],
        seconds=12.5,
    )


def test_report_text_marks_failures_and_cuts_long_notes() -> None:
    report = report_for_json()
    assert report.exit_code == 1
    text = report.text()
    for word in ("OVER", "within", "reference", "not measured", "skipped"):
        assert word in text, word
    assert "x" * 120 not in text  # long notes are cut in the table...
    assert "x" * 500 in report.to_json()  # ...and kept whole in the JSON
    assert "(12 s)" in report.summary()
    assert "<table>" in report._repr_html_()


def test_report_warns_when_the_machine_was_busy() -> None:
    busy = {"cpus": 2, "python": "3.11", "platform": "t", "load_before": [1.0], "load_after": [6.5]}
    assert "load up to 6.5 on 2 CPUs" in Report([], machine=busy).text()
    calm = {**busy, "load_after": [1.5]}
    assert "warning" not in Report([], machine=calm).text()
    assert "warning" not in Report([], machine={}).text()


def test_report_json_shape() -> None:
    data = json.loads(report_for_json().to_json())
    assert set(data) == {"mode", "machine", "seconds", "exit_code", "comparisons", "rows"}
    assert data["exit_code"] == 1 and data["seconds"] == 12.5
    row_keys = {"group", "name", "budget", "limit", "unit", "value", "measured", "verdict", "note"}
    assert all(set(row) == row_keys for row in data["rows"])
    over = {row["name"]: row for row in data["rows"] if row["verdict"] == "OVER"}
    assert set(over) == {f"{AuthBench.SESSION} vs {AuthBench.BASELINE}"}  # median 18% < 20%
    assert over[f"{AuthBench.SESSION} vs {AuthBench.BASELINE}"]["limit"] == 0.20
    (peer_row,) = [row for row in data["rows"] if row["group"] == "peer"]
    assert peer_row["verdict"] == "not measured" and peer_row["value"] is None
    (table,) = data["comparisons"]
    assert [route["label"] for route in table["routes"]] == list(AuthBench.ORDER)
    assert all(route["median_ns"] <= route["p99_ns"] for route in table["routes"])


def rebac_results(path: Path, *, tuples: int, index_p99_us: float, naive_p99_us: float) -> Path:
    verdict = {
        "at_tuples": tuples,
        "closure_index_p99_us": index_p99_us,
        "naive_p99_us": naive_p99_us,
    }
    path.write_text(json.dumps({"verdict": verdict}))
    return path


def test_rebac_budgets_are_judged_from_the_rebac_bench_results(tmp_path: Path) -> None:
    results = rebac_results(
        tmp_path / "r.json", tuples=1_000_000, index_p99_us=4.0, naive_p99_us=120.0
    )
    p99, speedup = run.rebac_rows(results)
    assert (p99.verdict, p99.value) == (Verdict.WITHIN, 4.0e-6)
    assert (speedup.verdict, speedup.value) == (Verdict.WITHIN, 30.0)
    slow = rebac_results(
        tmp_path / "s.json", tuples=1_000_000, index_p99_us=30.0, naive_p99_us=150.0
    )
    assert [row.verdict for row in run.rebac_rows(slow)] == [Verdict.OVER, Verdict.OVER]


def test_rebac_budgets_need_a_million_tuples_and_readable_results(tmp_path: Path) -> None:
    small = rebac_results(tmp_path / "r.json", tuples=1000, index_p99_us=1.0, naive_p99_us=50.0)
    rows = run.rebac_rows(small)
    assert [row.verdict for row in rows] == [Verdict.SKIPPED] * 2
    assert "stated at 1M tuples" in rows[0].note
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    assert [row.verdict for row in run.rebac_rows(broken)] == [Verdict.ERROR] * 2
    assert [row.verdict for row in run.rebac_rows(tmp_path / "missing.json")] == [Verdict.ERROR] * 2


def test_postgres_rows_show_the_sqlite_number_of_the_same_run_without_a_verdict() -> None:
    postgres = in_process([0.10, 0.12, 0.11])
    sqlite = in_process([0.25, 0.26, 0.24])
    rows = run.postgres_rows(postgres, sqlite)
    assert [row.name for row in rows] == [
        f"{label} vs {AuthBench.BASELINE}, PostgreSQL" for label in run.DATABASE_CHECKS
    ]
    assert all(row.verdict is Verdict.REFERENCE for row in rows)
    session = rows[0]
    assert (
        session.measured.startswith("11.0%") and "SQLite in-memory, same run: 25.0%" in session.note
    )
    assert "SQLite not measured" in run.postgres_rows(postgres, None)[0].note


def test_run_fails_when_postgres_was_asked_for_and_not_measured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def unreachable(plan: run.Plan, url: str) -> Comparison:
        raise OSError("connection refused")

    monkeypatch.setattr(run, "measure_postgres", unreachable)
    rows, comparison = run.run_postgres(
        run.QUICK, "postgresql+asyncpg://x@127.0.0.1:1/x", None, print
    )
    assert comparison is None and [row.verdict for row in rows] == [Verdict.ERROR]
    assert "connection refused" in rows[0].measured + rows[0].note


# --- the whole run and the command line -----------------------------------------------


def test_run_reports_failed_and_unmeasurable_budgets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def broken(plan: run.Plan) -> Comparison:
        raise UnexpectedResponse("GET /jwt answered 401, expected 200")

    async def loopback_fine(plan: run.Plan) -> Comparison:
        return in_process([0.5, 0.5, 0.5])

    monkeypatch.setattr(run, "measure_in_process", broken)
    monkeypatch.setattr(run, "measure_loopback", loopback_fine)
    monkeypatch.setattr(run, "run_peer", lambda *args: ([run.peer_not_measured("no pip")], None))
    from authcourse.bench import course, reference

    monkeypatch.setattr(course, "measure_checks", lambda *args: [])
    monkeypatch.setattr(course, "measure_grading", lambda *args: [])
    monkeypatch.setattr(reference, "measure_reference", lambda *args: [])
    messages: list[str] = []
    report = run.run(quick=True, root=tmp_path, progress=messages.append)
    found = verdicts(report.rows)
    assert found[f"{AuthBench.JWT} vs {AuthBench.BASELINE}"] is Verdict.ERROR
    assert found[run.PEER_ROW] is Verdict.NOT_MEASURED
    assert found["any one notebook under nbval"] is Verdict.SKIPPED
    # The cache rows come from the same in-process runs: they failed with them.
    assert [row.verdict for row in report.rows if row.group == "cache hit path"] == [
        Verdict.ERROR
    ] * 3
    # Without --rebac-json the ReBAC budgets say they were not run (and do not fail the run).
    assert [row.verdict for row in report.rows if row.group == "ReBAC"] == [Verdict.SKIPPED] * 2
    assert report.mode == "quick" and report.exit_code == 1 and messages
    assert len(report.comparisons) == 1  # the loopback table, shown without a verdict
    assert "401" in report.to_json()


@pytest.mark.parametrize(("session_ratio", "exit_code"), [(0.1, 1), (0.3, 0)])
def test_cli_exit_code_follows_the_verdicts(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    session_ratio: float,
    exit_code: int,
) -> None:
    seen: dict[str, Any] = {}

    def fake_run(**options: Any) -> Report:
        seen.update(options)
        comparison = in_process([session_ratio] * 3)
        return Report(run.throughput_rows(comparison), mode="quick", comparisons=[comparison])

    monkeypatch.setattr(run, "run", fake_run)
    assert cli.main(["bench", "--quick", "--json"]) == exit_code
    assert seen["quick"] is True and seen["notebooks"] is False
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == exit_code and data["mode"] == "quick"
    assert cli.main(["bench", "--notebooks"]) == exit_code
    assert seen["notebooks"] is True
    assert ("OVER" in capsys.readouterr().out) == bool(exit_code)


# --- over uvicorn on loopback ---------------------------------------------------------


# A real uvicorn process each (a couple of seconds): `make test` runs them, test-fast not.
@pytest.mark.slow
@pytest.mark.anyio
async def test_loopback_server_serves_every_route_then_stops() -> None:
    import httpx2

    async with loopback.loopback_server(startup_timeout=60) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        assert list(server.calls) == list(AuthBench.ORDER)
        async with httpx2.AsyncClient(base_url=server.base_url, trust_env=False) as client:
            for call in server.calls.values():  # each route answers 200 with its credential
                assert len(await timing.time_requests(client, call, 2)) == 2
            refused = await client.get("/jwt")
            assert refused.status_code == 401 and "WWW-Authenticate" in refused.headers
    # Stopped: the process is gone and nothing listens on the port any more.
    with pytest.raises(ProcessLookupError):
        os.kill(server.pid, 0)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=2):
        pass


@pytest.mark.slow
@pytest.mark.anyio
async def test_loopback_server_stops_by_itself_when_its_time_is_up() -> None:
    # No parent closing stdin: the --max-seconds limit alone ends it.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "authcourse.bench.loopback",
        "--max-seconds",
        "0.5",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    ready = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
    assert set(ready) == {"port", "calls"}
    assert await asyncio.wait_for(process.wait(), 30) == 0


# --- the learner's namespace, one definition for tests and bench ----------------------


def test_learner_namespace_runs_cells_as_a_learner_does(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("SETUP = True"),
        nbformat.v4.new_code_cell("def f(x: int) -> None:\n    ### BEGIN SOLUTION\n    pass\n"),
        nbformat.v4.new_code_cell("DEMO = 'a plain demo cell runs too'"),
        nbformat.v4.new_code_cell("import asyncio\nawait asyncio.sleep(0)\nAWAITED = True"),
        nbformat.v4.new_code_cell('check("99.1")'),  # the grader skips it, and so does this
    ]
    path = tmp_path / "solutions" / "99_solution.ipynb"
    path.parent.mkdir()
    nbformat.write(notebook, path)
    namespace = notebooks.learner_namespace(path)
    assert namespace["SETUP"] is True and namespace["DEMO"]
    assert "AWAITED" not in namespace  # top-level await needs a loop: skipped
    assert namespace["__name__"] == "solutions_99_solution"
    # This package's `from __future__ import annotations` must not leak into the code:
    # FastAPI would see strings it cannot resolve and answer 422 for everything.
    assert namespace["f"].__annotations__ == {"x": int, "return": None}
    notebook.cells.append(
        nbformat.v4.new_code_cell("### BEGIN SOLUTION\nawait f(1)\n### END SOLUTION")
    )
    nbformat.write(notebook, path)
    with pytest.raises(ValueError, match="exercise cell with a top-level await"):
        notebooks.learner_namespace(path)


def test_lab_support_uses_the_same_definition(tmp_path: Path) -> None:
    import lab_support

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("A = 1"),
        nbformat.v4.new_code_cell("import asyncio\nawait asyncio.sleep(0)\nB = 2"),
        nbformat.v4.new_code_cell('hint("99.1")'),
    ]
    path = tmp_path / "labs" / "99_lab.ipynb"
    path.parent.mkdir()
    nbformat.write(notebook, path)
    tests_view = lab_support.notebook_namespace(path)
    bench_view = notebooks.learner_namespace(path)
    assert (
        {k: v for k, v in tests_view.items() if k != "__builtins__"}
        == {k: v for k, v in bench_view.items() if k != "__builtins__"}
        == {"__name__": "labs_99_lab", "A": 1}
    )


# Fuzz finding: `Bearer x` on the signature-only route was a 500 (InvalidToken escaped).
def test_every_protected_bench_route_answers_garbage_with_a_401() -> None:
    from authcourse.bench.apps import auth_methods_app

    async def probe() -> dict[str, tuple[int, str | None]]:
        answers = {}
        async with auth_methods_app() as bench, asgi_client(bench.app) as client:
            for path in (
                "/jwt-signature-only",
                "/jwt",
                "/session",
                "/api-key",
                "/jwt-cached",
                "/session-cached",
                "/api-key-cached",
            ):
                response = await client.get(path, headers={"Authorization": "Bearer x"})
                answers[path] = (response.status_code, response.headers.get("WWW-Authenticate"))
        return answers

    for path, (status, challenge) in asyncio.run(probe()).items():
        assert status == 401 and challenge, (path, status, challenge)


def test_the_cached_bench_routes_take_the_hit_path() -> None:
    """After one request each, the cached routes answer without a SQL statement (what the
    cache rows measure); the uncached ones still send theirs."""
    from hot_path import count_statements

    from authcourse.bench.apps import auth_methods_app

    async def statements_per_route() -> dict[str, int]:
        counts = {}
        async with auth_methods_app() as bench, asgi_client(bench.app) as client:
            assert bench.database is not None
            engine = bench.database.engine
            for label in AuthBench.ORDER:
                call = bench.calls[label]
                first = await client.request(call.method, call.url, **call.kwargs)
                assert first.status_code == 200, (label, first.status_code)
                with count_statements(engine) as sql:
                    again = await client.request(call.method, call.url, **call.kwargs)
                assert again.status_code == 200
                counts[label] = len(sql.statements)
        return counts

    counts = asyncio.run(statements_per_route())
    assert counts[AuthBench.SESSION_CACHED] == 0
    assert counts[AuthBench.API_KEY_CACHED] == 0
    assert counts[AuthBench.JWT_CACHED] == 0
    assert counts[AuthBench.SESSION] == counts[AuthBench.API_KEY] == counts[AuthBench.JWT] == 1
