"""``python -m authcourse bench``: measure the budgets of DESIGN.md §12 on this machine.

One run measures, in this order:

1. in-process, one app, one client: the same endpoint unprotected, behind an empty
   dependency, a session, an API key, a JWT checked for signature and claims only, and a
   JWT with revocation; interleaved blocks, :data:`MIN_RUNS` runs or more, and each
   verdict is the median of the per-run ratios, so one noisy run cannot flip it;
2. ours against the peer, fastapi-users (:mod:`authcourse.bench.peer`): our JWT with
   revocation and fastapi-users' ``GET /me`` (JWT strategy + SQLAlchemy user lookup),
   each in its own process, their blocks alternating; budget ours ≥ peer;
3. the same routes over uvicorn on 127.0.0.1 (:mod:`authcourse.bench.loopback`), a
   bounded number of requests, reported without a verdict;
4. with ``--postgres URL``, the three checks that read the database (session, API key,
   JWT with revocation) again, on a scratch PostgreSQL database over a socket (asyncpg),
   reported beside the SQLite numbers of step 1, without a verdict (the budgets are for
   SQLite in-process);
5. ``check(...)`` per exercise and grading per submission (:mod:`authcourse.bench.course`),
   and with ``--notebooks`` each notebook under nbval;
6. with ``--rebac-json PATH``, the ReBAC budgets read from the results
   ``python -m authcourse.bench.rebac --json PATH`` wrote just before (``make bench`` runs both);
7. reference numbers (:mod:`authcourse.bench.reference`).

The opt-in credential cache's budgets are measured on the same app, in the same runs:
each cached route is the uncached check with its own ``CredentialCache`` (hit path).
Budgets not measured in this run (the ReBAC ones without ``--rebac-json``) say so in
their row instead of disappearing. The exit code is 1 when a budget is missed, a measurement
failed, or the peer was not measured. The tests feed fake timings to the pure parts
(:func:`throughput_rows`, :func:`peer_rows`); they never assert a real timing.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authcourse.bench import budgets
from authcourse.bench.apps import AuthBench
from authcourse.bench.budgets import Budget
from authcourse.bench.compare import Comparison, measure_calls, signed_duration
from authcourse.bench.report import Report, Row, Verdict, busy_warning, error_row
from authcourse.bench.timing import format_duration, interleaved_runs, request_runner

Progress = Callable[[str], None]

#: Verdicts are medians over at least this many interleaved runs.
MIN_RUNS = 3


@dataclass(frozen=True)
class Plan:
    """How much to measure: :data:`FULL` for ``make bench``, :data:`QUICK` for a rough look."""

    mode: str
    requests: int  # per route and run, in-process (and ours vs the peer)
    blocks: int
    runs: int
    warmup: int
    loopback_requests: int  # per route, over uvicorn: one run
    loopback_blocks: int
    check_repeats: int
    reference_rounds: int
    hash_rounds: int


# Short blocks (50 and 25 requests): a burst of load from another process on a shared
# machine then spreads over every route instead of landing on one.
FULL = Plan(
    "full",
    requests=1000,
    blocks=20,
    runs=3,
    warmup=200,
    loopback_requests=500,
    loopback_blocks=20,
    check_repeats=3,
    reference_rounds=2000,
    hash_rounds=10,
)
QUICK = Plan(
    "quick",
    requests=200,
    blocks=8,
    runs=3,
    warmup=50,
    loopback_requests=200,
    loopback_blocks=8,
    check_repeats=1,
    reference_rounds=300,
    hash_rounds=3,
)

#: The in-process budgets, route by route (the empty dependency is a reference).
THROUGHPUT_BUDGETS: tuple[tuple[str, Budget], ...] = (
    (AuthBench.SESSION, budgets.SESSION),
    (AuthBench.API_KEY, budgets.API_KEY),
    (AuthBench.JWT_SIGNATURE, budgets.JWT_SIGNATURE_ONLY),
    (AuthBench.JWT, budgets.JWT_WITH_REVOCATION),
)
CACHE_BUDGETS: tuple[tuple[str, Budget], ...] = (
    (AuthBench.SESSION_CACHED, budgets.SESSION_CACHED),
    (AuthBench.API_KEY_CACHED, budgets.API_KEY_CACHED),
    (AuthBench.JWT_CACHED, budgets.JWT_CACHED),
)

OURS = "ours: JWT with revocation"
OURS_OPEN = "ours: unprotected"
PEER_ME = "fastapi-users: GET /me"
PEER_OPEN = "fastapi-users: unprotected"
PEER_ROW = "ours (JWT with revocation) / fastapi-users (JWT strategy + user lookup)"


# --- 1. in-process ------------------------------------------------------------------


async def measure_in_process(plan: Plan) -> Comparison:
    """Every route of the bench app, one client, interleaved, ``plan.runs`` runs."""
    return await measure_bench_app(
        plan,
        AuthBench.ORDER,
        f"In-process (ASGI transport), one client: {plan.requests} requests per route"
        f" and run, {plan.blocks} interleaved blocks, {plan.runs} runs",
    )


async def measure_bench_app(
    plan: Plan, labels: tuple[str, ...], title: str, database_url: str | None = None
) -> Comparison:
    """``labels``' routes of the bench app (on ``database_url``, by default in-memory
    SQLite), one client, in interleaved blocks."""
    from authcourse.bench.apps import auth_methods_app
    from authcourse.client import asgi_client

    async with auth_methods_app(database_url) as bench, asgi_client(bench.app) as client:
        return await measure_calls(
            client,
            {label: bench.calls[label] for label in labels},
            baseline=AuthBench.BASELINE,
            rounds=plan.requests,
            blocks=plan.blocks,
            runs=plan.runs,
            warmup=plan.warmup,
            title=title,
        )


def throughput_rows(comparison: Comparison) -> list[Row]:
    """The in-process budget rows (and the empty dependency as a reference)."""
    empty = comparison[AuthBench.EMPTY_DEPENDENCY]
    rows = [
        Row(
            "reference",
            f"{AuthBench.EMPTY_DEPENDENCY} vs {AuthBench.BASELINE}, in-process",
            None,
            empty.median_ns / 1e9,
            f"{empty.ratio:.0%} ({signed_duration(empty.added_ns)})",
            "what FastAPI's dependency injection costs by itself",
        )
    ]
    rows += [budget_row("in-process", comparison, label, b) for label, b in THROUGHPUT_BUDGETS]
    return rows


def budget_row(group: str, comparison: Comparison, label: str, budget: Budget) -> Row:
    """One route's ratio to the baseline, against its budget (a verdict needs MIN_RUNS)."""
    baseline, route = comparison[AuthBench.BASELINE], comparison[label]
    # The ratio hides the absolute cost: say what the budget leaves a check here.
    allowed = baseline.median_ns * (1 / budget.limit - 1)
    enough = route.runs >= MIN_RUNS
    return Row(
        group,
        f"{label} vs {AuthBench.BASELINE}",
        budget,
        route.ratio,
        f"{floor_percent(route.ratio)} ({signed_duration(route.added_ns)}; runs "
        + " ".join(f"{ratio:.0%}" for ratio in route.run_ratios)
        + ")",
        f"median of {route.runs} runs; the budget allows"
        f" +{format_duration(allowed)} per request here"
        if enough
        else f"only {route.runs} run(s): a verdict needs {MIN_RUNS}",
        None if enough else Verdict.ERROR,
    )


def floor_percent(ratio: float) -> str:
    """``0.4996`` as ``49.9%``: rounded down, so a ratio under an "at least" budget never
    reads as reaching it."""
    return f"{math.floor(ratio * 1000) / 10:.1f}%"


def cache_rows(comparison: Comparison) -> list[Row]:
    """The opt-in credential cache's budgets: each check on its cache's hit path, measured
    in the same runs as the uncached checks (:func:`measure_in_process`)."""
    return [budget_row("cache hit path", comparison, label, b) for label, b in CACHE_BUDGETS]


# --- 2. the peer --------------------------------------------------------------------


async def measure_peer(plan: Plan, python: Path) -> tuple[Comparison, dict[str, str | None]]:
    """Ours and fastapi-users, each in-process in its own process, blocks alternating."""
    from authcourse.bench.apps import auth_methods_app
    from authcourse.bench.peer import peer_process
    from authcourse.client import asgi_client

    async with (
        auth_methods_app() as bench,
        asgi_client(bench.app) as client,
        peer_process(python) as peer,
    ):
        runners = {
            OURS_OPEN: request_runner(client, bench.calls[AuthBench.BASELINE]),
            OURS: request_runner(client, bench.calls[AuthBench.JWT]),
            PEER_OPEN: peer.runner("unprotected"),
            PEER_ME: peer.runner("GET /me"),
        }
        runs = await interleaved_runs(
            runners, rounds=plan.requests, blocks=plan.blocks, runs=plan.runs, warmup=plan.warmup
        )
        versions = peer.versions
    title = (
        f"Ours vs fastapi-users, in-process, each in its own process, blocks alternating:"
        f" {plan.requests} requests per route and run, {plan.runs} runs"
        f" (vs baseline = our unprotected route)"
    )
    return Comparison.from_runs(runs, baseline=OURS_OPEN, title=title), versions


def peer_rows(comparison: Comparison, versions: dict[str, str | None]) -> list[Row]:
    """The ours ≥ peer budget row, from a comparison made by :func:`measure_peer`."""
    ratios = comparison.throughput_ratios(OURS, PEER_ME)
    ratio = float(statistics.median(ratios))
    ours, theirs = comparison[OURS], comparison[PEER_ME]
    enough = len(ratios) >= MIN_RUNS
    shown = ", ".join(
        f"{name} {versions[name]}" for name in ("fastapi-users", "sqlalchemy") if versions.get(name)
    )
    note = (
        f"median of {len(ratios)} runs; {shown}; its JWT strategy has no revocation check"
        if enough
        else f"only {len(ratios)} run(s): a verdict needs {MIN_RUNS}"
    )
    return [
        Row(
            "peer",
            PEER_ROW,
            budgets.PEER,
            ratio,
            f"{ratio:.2f}× (ours {format_duration(ours.median_ns)}, theirs"
            f" {format_duration(theirs.median_ns)}; runs "
            + " ".join(f"{value:.2f}×" for value in ratios)
            + ")",
            note,
            None if enough else Verdict.ERROR,
        )
    ]


def peer_not_measured(reason: str) -> Row:
    """The peer's row when it could not be measured: the run fails."""
    return Row("peer", PEER_ROW, budgets.PEER, None, "not measured", reason, Verdict.NOT_MEASURED)


def run_peer(plan: Plan, root: Path, say: Progress) -> tuple[list[Row], Comparison | None]:
    from authcourse.bench.peer import PeerUnavailable, ensure_peer_env

    say("peer: fastapi-users vs ours, alternating blocks between two processes")
    try:
        python = ensure_peer_env(root, say)
        comparison, versions = asyncio.run(measure_peer(plan, python))
    except PeerUnavailable as error:
        return [peer_not_measured(str(error))], None
    except Exception as error:  # e.g. our route answering 401: the row says so
        return [peer_not_measured(f"{type(error).__name__}: {error}")], None
    return peer_rows(comparison, versions), comparison


# --- 3. over uvicorn on loopback ----------------------------------------------------


async def measure_loopback(plan: Plan) -> Comparison:
    """The same routes over uvicorn on 127.0.0.1: bounded, one run, no verdict."""
    import httpx2

    from authcourse.bench.loopback import loopback_server

    async with (
        loopback_server() as server,
        httpx2.AsyncClient(base_url=server.base_url, trust_env=False) as client,
    ):
        return await measure_calls(
            client,
            {label: server.calls[label] for label in AuthBench.ORDER},
            baseline=AuthBench.BASELINE,
            rounds=plan.loopback_requests,
            blocks=plan.loopback_blocks,
            runs=1,
            warmup=min(plan.warmup, 50),
            title=(
                f"Over uvicorn on 127.0.0.1 (its own process, one keep-alive client):"
                f" {plan.loopback_requests} requests per route, one run, no verdict"
            ),
        )


# --- 4. PostgreSQL ------------------------------------------------------------------

#: The checks that read the database on every request, measured again on PostgreSQL.
DATABASE_CHECKS = (AuthBench.SESSION, AuthBench.API_KEY, AuthBench.JWT)


async def measure_postgres(plan: Plan, server_url: str) -> Comparison:
    """The database checks on a scratch PostgreSQL database, in-process, same plan as step 1."""
    from authcourse.bench.postgres import scratch_database

    async with scratch_database(server_url) as database_url:
        return await measure_bench_app(
            plan,
            (AuthBench.BASELINE, *DATABASE_CHECKS),
            f"In-process, database on PostgreSQL (asyncpg over a socket): {plan.requests}"
            f" requests per route and run, {plan.blocks} interleaved blocks, {plan.runs} runs",
            database_url,
        )


def postgres_rows(postgres: Comparison, sqlite: Comparison | None) -> list[Row]:
    """One row per database check on PostgreSQL, with the SQLite number of the same run."""
    rows = []
    for label in DATABASE_CHECKS:
        route = postgres[label]
        beside = (
            f"SQLite in-memory, same run: {floor_percent(sqlite[label].ratio)}"
            f" ({signed_duration(sqlite[label].added_ns)})"
            if sqlite is not None
            else "SQLite not measured in this run"
        )
        rows.append(
            Row(
                "PostgreSQL",
                f"{label} vs {AuthBench.BASELINE}, PostgreSQL",
                None,
                route.added_ns / 1e9,
                f"{floor_percent(route.ratio)} ({signed_duration(route.added_ns)}; runs "
                + " ".join(f"{ratio:.0%}" for ratio in route.run_ratios)
                + ")",
                f"{beside}; no verdict: the budgets are for SQLite in-process",
            )
        )
    return rows


def run_postgres(
    plan: Plan, server_url: str, sqlite: Comparison | None, say: Progress
) -> tuple[list[Row], Comparison | None]:
    say("PostgreSQL: the database checks on a scratch database")
    try:
        comparison = asyncio.run(measure_postgres(plan, server_url))
    except Exception as error:  # asked for and not measured: the run fails, saying why
        return [error_row("PostgreSQL", "the database checks on PostgreSQL", error)], None
    return postgres_rows(comparison, sqlite), comparison


# --- 6. ReBAC ------------------------------------------------------------------------

REBAC_P99_ROW = "ReBAC check at 1M tuples, p99 with the closure index"
REBAC_SPEEDUP_ROW = "ReBAC: naive traversal p99 / closure index p99, same run"
#: The size the ReBAC budgets are stated at.
REBAC_BUDGET_TUPLES = 1_000_000


def rebac_rows(results: Path | None) -> list[Row]:
    """The ReBAC budgets, from the JSON ``python -m authcourse.bench.rebac`` wrote."""
    if results is None:
        why = "not run: `make bench` measures it (python -m authcourse.bench.rebac, --rebac-json)"
        return [
            Row("ReBAC", REBAC_P99_ROW, budgets.REBAC_P99, None, why, status=Verdict.SKIPPED),
            Row(
                "ReBAC",
                REBAC_SPEEDUP_ROW,
                budgets.REBAC_VS_NAIVE,
                None,
                why,
                status=Verdict.SKIPPED,
            ),
        ]
    try:
        verdict = json.loads(results.read_text())["verdict"]
        tuples = int(verdict["at_tuples"])
        index_p99_us = float(verdict["closure_index_p99_us"])
        naive_p99_us = float(verdict["naive_p99_us"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [
            error_row("ReBAC", REBAC_P99_ROW, error, budgets.REBAC_P99),
            error_row("ReBAC", REBAC_SPEEDUP_ROW, error, budgets.REBAC_VS_NAIVE),
        ]
    source = f"from {results}, {tuples:,} tuples"
    # A smaller run (REBAC_ARGS="--sizes ...") shows its numbers but cannot judge a budget
    # stated at a million tuples.
    status = None if tuples >= REBAC_BUDGET_TUPLES else Verdict.SKIPPED
    note = source if status is None else f"{source}: the budget is stated at 1M tuples"
    return [
        Row(
            "ReBAC",
            REBAC_P99_ROW,
            budgets.REBAC_P99,
            index_p99_us / 1e6,
            f"{index_p99_us:.1f} µs",
            note,
            status,
        ),
        Row(
            "ReBAC",
            REBAC_SPEEDUP_ROW,
            budgets.REBAC_VS_NAIVE,
            naive_p99_us / index_p99_us,
            f"{naive_p99_us / index_p99_us:.1f}× (naive {naive_p99_us:.1f} µs)",
            note,
            status,
        ),
    ]


# --- the rest, and the whole run ----------------------------------------------------


def suite_rows(notebooks: bool) -> list[Row]:
    rows = [
        Row(
            "suite",
            "make test in total (install excluded)",
            budgets.SUITE,
            None,
            "not run by bench: time `make test` itself",
            status=Verdict.SKIPPED,
        ),
        Row(
            "suite",
            "make test-fast (no kernels)",
            budgets.SUITE_FAST,
            None,
            "not run by bench: time it itself",
            status=Verdict.SKIPPED,
        ),
    ]
    if not notebooks:
        rows.append(
            Row(
                "nbval",
                "any one notebook under nbval",
                budgets.NOTEBOOK,
                None,
                "not run (slow): pass --notebooks",
                status=Verdict.SKIPPED,
            )
        )
    return rows


def run(
    *,
    quick: bool = False,
    notebooks: bool = False,
    postgres: str | None = None,
    rebac_json: Path | None = None,
    root: Path | None = None,
    progress: Progress | None = None,
) -> Report:
    """Measure every budget that can be measured on this machine; see the module docstring."""
    from authcourse.bench import course, reference
    from authcourse.notebooks import repo_root

    started = time.perf_counter()
    plan = QUICK if quick else FULL
    root = root or repo_root()
    say: Progress = progress or (lambda _message: None)
    machine = machine_info()
    solutions = sorted((root / "solutions").glob("[0-9][0-9]_*.ipynb"))
    comparisons: list[Comparison] = []
    rows: list[Row] = []
    in_process: Comparison | None = None

    say(f"in-process: {plan.requests} requests per route, {plan.blocks} blocks, {plan.runs} runs")
    try:
        in_process = asyncio.run(measure_in_process(plan))
    except Exception as error:  # e.g. a route answering 401: report it, measure the rest
        in_process = None
        rows += [
            error_row("in-process", f"{label} vs {AuthBench.BASELINE}", error, budget)
            for label, budget in THROUGHPUT_BUDGETS
        ]
        rows += [
            error_row("cache hit path", f"{label} vs {AuthBench.BASELINE}", error, budget)
            for label, budget in CACHE_BUDGETS
        ]
    else:
        comparisons.append(in_process)
        rows += throughput_rows(in_process)
        rows += cache_rows(in_process)

    peer, peer_comparison = run_peer(plan, root, say)
    rows += peer
    if peer_comparison is not None:
        comparisons.append(peer_comparison)

    say(f"loopback: uvicorn on 127.0.0.1, {plan.loopback_requests} requests per route")
    try:
        comparisons.append(asyncio.run(measure_loopback(plan)))
    except Exception as error:
        rows.append(error_row("loopback", "the routes over uvicorn on 127.0.0.1", error))

    if postgres is not None:
        postgres_measured, postgres_comparison = run_postgres(plan, postgres, in_process, say)
        rows += postgres_measured
        if postgres_comparison is not None:
            comparisons.append(postgres_comparison)

    rows += course.measure_checks(solutions, plan.check_repeats, say)
    rows += course.measure_grading(solutions, say)
    if notebooks:
        chapters = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        rows += course.measure_notebooks(root, [*chapters, *solutions], say)
    rows += suite_rows(notebooks)
    rows += rebac_rows(rebac_json)
    rows += reference.measure_reference(plan.reference_rounds, plan.hash_rounds, say)
    machine["load_after"] = _load()
    if warning := busy_warning(machine):
        machine["warning"] = warning  # in --json too
    return Report(
        rows,
        mode=plan.mode,
        machine=machine,
        comparisons=comparisons,
        seconds=time.perf_counter() - started,
    )


def machine_info() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count(),
        "load_before": _load(),
    }


def _load() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:  # not available on this platform
        return None
