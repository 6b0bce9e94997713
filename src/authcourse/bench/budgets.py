"""``python -m authcourse bench``: the performance budgets of DESIGN.md §12, measured here.

Performance is measured, not assumed: this module times what the budgets talk about on
the machine it runs on and gives each budget a verdict, *within* or *OVER*. Budgets that
cannot be measured yet (their chapter is not built) say so instead of disappearing.
Numbers from ``facts.md`` worth having side by side are measured too, marked *reference*.

The tests never assert on timings; they feed fake timings to the pure parts below
(:func:`throughput_rows`, :class:`Report`).
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from authcourse.bench import (
    Comparison,
    Timing,
    _signed,
    format_duration,
    per_await,
    per_call,
    render_html,
    render_text,
    side_by_side,
)

Unit = Literal["ratio", "s"]
Progress = Callable[[str], None]


class Verdict(enum.StrEnum):
    WITHIN = "within"
    OVER = "OVER"
    REFERENCE = "reference"
    NOT_MEASURABLE = "not measurable yet"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass(frozen=True)
class Budget:
    """A limit from DESIGN.md §12: ``value >= limit`` (``at_least``) or ``value <= limit``."""

    limit: float
    unit: Unit
    at_least: bool = False

    def holds(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value <= self.limit

    def __str__(self) -> str:
        if self.unit == "ratio":
            amount = f"{self.limit:.0%}"
        elif self.limit >= 1:
            amount = f"{self.limit:g} s"
        else:
            amount = format_duration(self.limit * 1e9)
        return f"{'≥' if self.at_least else '≤'} {amount}"


@dataclass(frozen=True)
class Row:
    """One line of the report: a budget with its measurement, or a reference number."""

    group: str
    name: str
    budget: Budget | None
    #: In the budget's unit (a ratio, or seconds); seconds for reference rows.
    value: float | None
    measured: str
    note: str = ""
    #: Set when there is no verdict to compute (not measurable yet, skipped, error).
    status: Verdict | None = None

    @property
    def verdict(self) -> Verdict:
        if self.status is not None:
            return self.status
        if self.value is None:
            return Verdict.ERROR
        if self.budget is None:
            return Verdict.REFERENCE
        return Verdict.WITHIN if self.budget.holds(self.value) else Verdict.OVER

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "name": self.name,
            "budget": str(self.budget) if self.budget else None,
            "limit": self.budget.limit if self.budget else None,
            "unit": self.budget.unit if self.budget else ("s" if self.value is not None else None),
            "value": self.value,
            "measured": self.measured,
            "verdict": self.verdict.value,
            "note": self.note,
        }


@dataclass
class Report:
    """Every row of one run, plus where it ran; ``exit_code`` is 1 if a budget is exceeded."""

    rows: list[Row]
    mode: str = "full"
    machine: dict[str, Any] = field(default_factory=dict)
    throughput: Comparison | None = None

    HEADERS = ("group", "measurement", "budget", "measured", "verdict", "note")

    @property
    def exit_code(self) -> int:
        """1 when any budget is OVER or could not be measured because something failed."""
        failed = {Verdict.OVER, Verdict.ERROR}
        return 1 if any(row.verdict in failed for row in self.rows) else 0

    def table_rows(self, note_limit: int | None = None) -> list[list[str]]:
        """The rows as text cells; notes cut to ``note_limit`` characters if given."""
        return [
            [
                row.group,
                row.name,
                str(row.budget) if row.budget else "",
                row.measured,
                row.verdict.value,
                _shorten(row.note, note_limit),
            ]
            for row in self.rows
        ]

    def summary(self) -> str:
        counts = {verdict: 0 for verdict in Verdict}
        for row in self.rows:
            counts[row.verdict] += 1
        shown = ", ".join(f"{count} {verdict.value}" for verdict, count in counts.items() if count)
        outcome = "some budgets are exceeded" if self.exit_code else "every measured budget holds"
        return f"{outcome}: {shown}"

    def text(self) -> str:
        parts = [f"authcourse bench ({self.mode}) on {_describe_machine(self.machine)}"]
        if self.throughput is not None:
            parts += ["", self.throughput.text()]
        # Long notes (a failing case's message) are cut here; --json carries them whole.
        table = render_text(self.HEADERS, self.table_rows(note_limit=100))
        parts += ["", table, "", self.summary()]
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return render_html(self.HEADERS, self.table_rows(), caption=self.summary())

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "mode": self.mode,
            "machine": self.machine,
            "exit_code": self.exit_code,
            "rows": [row.as_dict() for row in self.rows],
        }
        if self.throughput is not None:
            data["throughput"] = [
                {
                    "label": timing.label,
                    "median_ns": timing.median_ns,
                    "p95_ns": timing.p95_ns,
                    "per_second": timing.per_second,
                    "rounds": timing.rounds,
                    "ratio": self.throughput.ratio(timing.label),
                }
                for timing in self.throughput.timings
            ]
        return data

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class Plan:
    """How much to measure: ``FULL`` for ``make bench``, ``QUICK`` for a rough look."""

    mode: str
    requests: int  # per route, for the throughput comparison
    warmup: int
    blocks: int
    check_repeats: int
    reference_rounds: int
    hash_rounds: int


FULL = Plan(
    "full",
    requests=2000,
    warmup=200,
    blocks=20,
    check_repeats=3,
    reference_rounds=2000,
    hash_rounds=10,
)
QUICK = Plan(
    "quick", requests=300, warmup=50, blocks=6, check_repeats=1, reference_rounds=300, hash_rounds=3
)

# DESIGN.md §12.
JWT_BUDGET = Budget(0.75, "ratio", at_least=True)
SESSION_BUDGET = Budget(0.85, "ratio", at_least=True)
API_KEY_BUDGET = Budget(0.85, "ratio", at_least=True)
CHECK_BUDGET = Budget(1.0, "s")
GRADE_BUDGET = Budget(15.0, "s")
NOTEBOOK_BUDGET = Budget(10.0, "s")

#: A notebook still running after this long is stuck, not slow: its row says so.
NOTEBOOK_TIMEOUT_SECONDS = 300


# ---------------------------------------------------------------------------------------
# Throughput of one endpoint behind each authentication method


async def measure_throughput(plan: Plan) -> Comparison:
    """The same endpoint with each auth method and without, one app, one client, interleaved."""
    from authcourse.bench.apps import AuthBench, auth_methods_app
    from authcourse.client import asgi_client

    async with auth_methods_app() as bench, asgi_client(bench.app) as client:
        timings = await side_by_side(
            client, bench.calls, rounds=plan.requests, warmup=plan.warmup, blocks=plan.blocks
        )
    return Comparison(
        timings,
        baseline=AuthBench.BASELINE,
        title=f"In-process throughput, {plan.requests} requests per route (median, one client)",
    )


def throughput_rows(comparison: Comparison) -> list[Row]:
    """Budget rows from a comparison made by :func:`measure_throughput` (or a fake one)."""
    from authcourse.bench.apps import AuthBench

    baseline = comparison[AuthBench.BASELINE]
    rows = [
        Row(
            "reference",
            "in-process request, async ASGI transport (no auth)",
            None,
            baseline.median_ns / 1e9,
            f"{format_duration(baseline.median_ns)} median, {baseline.per_second:,.0f}/s",
            "facts.md: ~0.6 ms (TestClient ~2.7 ms)",
        )
    ]
    budgets = [
        (AuthBench.EMPTY_DEPENDENCY, None, "FastAPI's dependency injection alone"),
        (AuthBench.JWT, JWT_BUDGET, ""),
        (AuthBench.JWT_SIGNATURE, None, "TokenService.verify only, no revocation lookup"),
        (AuthBench.SESSION, SESSION_BUDGET, ""),
        (AuthBench.API_KEY, API_KEY_BUDGET, ""),
    ]
    for label, budget, note in budgets:
        timing = comparison[label]
        ratio = comparison.ratio(label)
        if budget is not None:
            # The ratio hides the absolute cost: say how much time per request the budget
            # leaves the check on this machine (it shrinks as the baseline gets faster).
            allowed = baseline.median_ns * (1 / budget.limit - 1)
            note = f"the budget allows +{format_duration(allowed)} per request here"
        rows.append(
            Row(
                "throughput" if budget else "reference",
                f"{label} vs no auth",
                budget,
                ratio,
                f"{ratio:.0%} ({format_duration(timing.median_ns)} vs"
                f" {format_duration(baseline.median_ns)}, {_signed(comparison.extra_ns(label))})",
                note,
            )
        )
    return rows


# ---------------------------------------------------------------------------------------
# check(...) per exercise, and the grader per submission


def solution_namespace(path: Path) -> dict[str, Any]:
    """Execute a solution notebook's setup cell and its solution cells, as the tests do."""
    from authcourse import notebooks

    namespace: dict[str, Any] = {"__name__": f"bench_{path.stem}"}
    code_cells = [cell for cell in notebooks.read(path).cells if cell.cell_type == "code"]
    chosen = [code_cells[0], *(c for c in code_cells[1:] if "### BEGIN SOLUTION" in c.source)]
    for cell in chosen:
        # dont_inherit: this module's `from __future__ import annotations` must not leak
        # into the notebook's code (FastAPI could no longer resolve its local annotations).
        code = compile(cell.source, f"<solution {path.name}>", "exec", dont_inherit=True)
        exec(code, namespace)
    return namespace


def measure_checks(solutions: Sequence[Path], repeats: int, progress: Progress) -> list[Row]:
    """Time ``run_exercise`` (what ``check("NN.k")`` runs) on each solution's code.

    The grader reports time per submission only, so per-exercise times are taken here,
    in-process. The verdict uses the slowest of ``repeats`` runs: every answer counts.
    """
    from authcourse import notebooks
    from authcourse.checks.core import Status, chapter_exercises, run_exercise

    rows: list[Row] = []
    for path in solutions:
        chapter = notebooks.chapter_of(path) or "?"
        progress(f"check() latency: {path.name}")
        try:
            namespace = solution_namespace(path)
            exercises = chapter_exercises(chapter)
        except Exception as error:  # one broken notebook must not hide the other rows
            rows.append(_error_row("check()", f"check() in {path.name}", error))
            continue
        for exercise in exercises:
            seconds: list[float] = []
            failing: set[str] = set()
            for _ in range(repeats):
                started = time.perf_counter_ns()
                result = run_exercise(exercise, namespace)
                seconds.append((time.perf_counter_ns() - started) / 1e9)
                failing |= {c.description for c in result.cases if c.status is not Status.PASSED}
            worst = max(seconds)
            measured = f"{worst:.2f} s"
            if repeats > 1:
                measured += f" (median {statistics.median(seconds):.2f} s of {repeats})"
            rows.append(
                Row(
                    "check()",
                    f'check("{exercise.id}"), {len(exercise.cases)} cases',
                    CHECK_BUDGET,
                    worst,
                    measured,
                    f"solution failed: {', '.join(sorted(failing))}" if failing else "",
                    Verdict.ERROR if failing else None,
                )
            )
    return rows


def measure_grading(solutions: Sequence[Path], progress: Progress) -> list[Row]:
    """Grade each solution notebook alone (fresh kernel, all cells, then the checks)."""
    from authcourse.grading import Submission, grade_submission

    rows: list[Row] = []
    for path in solutions:
        progress(f"grading: {path.name}")
        started = time.perf_counter_ns()
        grade = grade_submission(Submission(path, "solution"))
        seconds = (time.perf_counter_ns() - started) / 1e9
        full = sum(exercise.max_score for exercise in grade.exercises)
        problems = (
            [] if grade.exercises and grade.score == full else [f"scored {grade.score}/{full}"]
        )
        problems += grade.notes
        rows.append(
            Row(
                "grading",
                f"grade one submission: {path.name}",
                GRADE_BUDGET,
                seconds,
                f"{seconds:.1f} s",
                "; ".join(problems),
                Verdict.ERROR if problems else None,
            )
        )
    return rows


# ---------------------------------------------------------------------------------------
# Notebooks under nbval (slow: only with --notebooks)


def nbval_command(path: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "--nbval",
        "--nbval-current-env",
        "--nbval-sanitize-with",
        "tests/nbval_sanitize.cfg",
        "-p",
        "no:xdist",
        str(path),
    ]


def measure_notebooks(root: Path, paths: Sequence[Path], progress: Progress) -> list[Row]:
    """Run each notebook under nbval in its own pytest process, as ``make test`` does."""
    # Solutions must score full marks there, as in `make test`.
    env = {**os.environ, "AUTHCOURSE_STRICT": "1"}
    rows: list[Row] = []
    for path in paths:
        relative = path.relative_to(root).as_posix()
        progress(f"nbval: {relative}")
        started = time.perf_counter_ns()
        try:
            done = subprocess.run(
                nbval_command(path.relative_to(root)),
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=NOTEBOOK_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired as error:
            rows.append(_error_row("nbval", f"notebook under nbval: {relative}", error))
            continue
        seconds = (time.perf_counter_ns() - started) / 1e9
        reported = re.findall(r" in ([\d.]+)s", done.stdout)
        note = f"pytest's own count: {reported[-1]} s" if reported else ""
        if done.returncode != 0:
            last = (done.stdout.strip().splitlines() or ["no output"])[-1]
            note = f"nbval failed (exit {done.returncode}): {last}"
        rows.append(
            Row(
                "nbval",
                f"notebook under nbval: {relative}",
                NOTEBOOK_BUDGET,
                seconds,
                f"{seconds:.1f} s (whole pytest process)",
                note,
                Verdict.ERROR if done.returncode != 0 else None,
            )
        )
    return rows


# ---------------------------------------------------------------------------------------
# Reference numbers (facts.md), no verdict


def measure_reference(plan: Plan, progress: Progress) -> list[Row]:
    """Costs of the building blocks, next to the figures facts.md quotes."""
    import hashlib
    import hmac
    import sqlite3

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from authcourse.bench.apps import BENCH_KEY, BENCH_SECRET
    from clouddocs.apikeys import generate_api_key, key_digest
    from clouddocs.passwords import OWASP_ARGON2, PasswordHasher
    from clouddocs.tokens import HS256Secret, KeyRing, SigningKey, TokenService, TokenSettings

    rounds = plan.reference_rounds
    rows: list[Row] = []

    def add(timing: Timing, facts: str) -> None:
        rows.append(
            Row(
                "reference",
                timing.label,
                None,
                timing.median_ns / 1e9,
                f"{format_duration(timing.median_ns)} median, p95 {format_duration(timing.p95_ns)}",
                f"facts.md: {facts}",
            )
        )

    progress("reference: Argon2id at OWASP parameters")
    hasher = PasswordHasher(OWASP_ARGON2)
    add(
        per_call(
            lambda: hasher.hash("correct horse battery staple"),
            rounds=plan.hash_rounds,
            warmup=1,
            label="Argon2id hash, OWASP m=19 MiB t=2 p=1",
        ),
        "~35–40 ms",
    )

    progress("reference: JWT, API key and SQLite lookups")
    claims = {"sub": "1", "aud": "clouddocs-api", "iss": "https://clouddocs.test"}
    hs256_token = jwt.encode({**claims, "exp": int(time.time()) + 600}, BENCH_SECRET, "HS256")
    add(
        per_call(
            lambda: jwt.decode(
                hs256_token, BENCH_SECRET, algorithms=["HS256"], audience="clouddocs-api"
            ),
            rounds=rounds,
            label="PyJWT HS256 decode",
        ),
        "~70 µs",
    )
    service = TokenService(
        KeyRing(SigningKey("bench", "HS256", HS256Secret.from_base64url(BENCH_KEY))),
        TokenSettings(issuer="https://clouddocs.test", audience="clouddocs-api"),
    )
    access = service.issue("1")
    add(
        per_call(
            lambda: service.verify(access),
            rounds=rounds,
            label="clouddocs TokenService.verify (HS256)",
        ),
        "not quoted (PyJWT decode ~70 µs + header and claim checks)",
    )
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_key = private_key.public_key()
    rs256_token = jwt.encode({**claims, "exp": int(time.time()) + 600}, private_key, "RS256")
    add(
        per_call(
            lambda: jwt.decode(
                rs256_token, public_key, algorithms=["RS256"], audience="clouddocs-api"
            ),
            rounds=rounds,
            label="PyJWT RS256 verify (2048-bit, parsed key)",
        ),
        "~110 µs",
    )
    api_key = generate_api_key()
    stored = key_digest(api_key)
    add(
        per_call(
            lambda: hmac.compare_digest(hashlib.sha256(api_key.encode()).hexdigest(), stored),
            rounds=rounds,
            inner=100,
            label="SHA-256 of an API key + constant-time compare",
        ),
        "< 1 µs",
    )
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    connection.executemany(
        "INSERT INTO users VALUES (?, ?)", ((n, f"user{n}@example.com") for n in range(1, 10_001))
    )
    add(
        per_call(
            lambda: connection.execute(
                "SELECT id, email FROM users WHERE id = ?", (4242,)
            ).fetchone(),
            rounds=rounds,
            label="SQLite primary-key lookup (sqlite3, 10k rows)",
        ),
        "4–9 µs",
    )
    connection.close()
    rows.append(asyncio.run(_orm_lookup(rounds)))
    return rows


async def _orm_lookup(rounds: int) -> Row:
    """The same lookup the way CloudDocs' dependencies make it: a new AsyncSession, aiosqlite."""
    from clouddocs.db import Database, Tenant, User

    db = Database()
    try:
        await db.create_all()
        async with db.sessions() as session:
            session.add(Tenant(id=1, name="Bench Co"))
            session.add(User(id=1, tenant_id=1, email="bench@example.com", display_name="Bench"))
            await session.commit()

        async def lookup() -> None:
            async with db.sessions() as session:
                await session.get(User, 1)

        timing = await per_await(
            lookup, rounds=rounds, label="same lookup via SQLAlchemy AsyncSession + aiosqlite"
        )
    finally:
        await db.dispose()
    return Row(
        "reference",
        timing.label,
        None,
        timing.median_ns / 1e9,
        f"{format_duration(timing.median_ns)} median, p95 {format_duration(timing.p95_ns)}",
        "what the session, API-key and JWT-revocation checks pay per query (in-memory database)",
    )


# ---------------------------------------------------------------------------------------
# Budgets not measurable yet, and the whole run


def not_measurable_rows() -> list[Row]:
    reason = "not measurable yet: chapter 7 (ReBAC) not built"
    return [
        Row(
            "ReBAC",
            "ReBAC check at 1M tuples, p99 with the closure index",
            Budget(25e-6, "s"),
            None,
            reason,
            status=Verdict.NOT_MEASURABLE,
        ),
        Row(
            "ReBAC",
            "ReBAC closure index vs naive traversal, p99 in the same run",
            None,
            None,
            reason,
            "budget: ≥ 10× better p99",
            status=Verdict.NOT_MEASURABLE,
        ),
    ]


def run(
    *,
    quick: bool = False,
    notebooks: bool = False,
    root: Path | None = None,
    progress: Progress | None = None,
) -> Report:
    """Measure every budget that can be measured on this machine; see the module docstring."""
    from authcourse.notebooks import repo_root

    plan = QUICK if quick else FULL
    root = root or repo_root()
    say: Progress = progress or (lambda _message: None)
    machine = machine_info()
    solutions = sorted((root / "solutions").glob("[0-9][0-9]_*.ipynb"))

    say(f"throughput: {plan.requests} requests per route, interleaved in {plan.blocks} blocks")
    comparison: Comparison | None = None
    try:
        comparison = asyncio.run(measure_throughput(plan))
    except Exception as error:  # e.g. a route answering 401: report it, measure the rest
        rows = [
            _error_row("throughput", f"{method} vs no auth", error)
            for method in ("JWT", "session", "API key")
        ]
    else:
        rows = [row for row in throughput_rows(comparison) if row.group == "throughput"]
    rows += measure_checks(solutions, plan.check_repeats, say)
    rows += measure_grading(solutions, say)
    if notebooks:
        chapters = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        rows += measure_notebooks(root, [*chapters, *solutions], say)
    else:
        rows.append(
            Row(
                "nbval",
                "any one notebook under nbval",
                NOTEBOOK_BUDGET,
                None,
                "not run (slow): pass --notebooks",
                status=Verdict.SKIPPED,
            )
        )
    rows += not_measurable_rows()
    rows.append(
        Row(
            "suite",
            "make test in total",
            Budget(180.0, "s"),
            None,
            "not run by bench: time `make test` itself",
            status=Verdict.SKIPPED,
        )
    )
    if comparison is not None:
        rows += [row for row in throughput_rows(comparison) if row.group == "reference"]
    rows += measure_reference(plan, say)
    machine["load_after"] = _load()
    return Report(rows, mode=plan.mode, machine=machine, throughput=comparison)


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


def _describe_machine(machine: dict[str, Any]) -> str:
    if not machine:
        return "an unknown machine"
    text = f"{machine.get('cpus')} CPUs, Python {machine.get('python')}, {machine.get('platform')}"
    for key in ("load_before", "load_after"):
        if machine.get(key):
            text += f"; {key.replace('_', ' ')} {' '.join(map(str, machine[key]))}"
    return text


def _shorten(text: str, limit: int | None) -> str:
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def _error_row(group: str, name: str, error: BaseException) -> Row:
    return Row(
        group,
        name,
        None,
        None,
        "could not measure",
        f"{type(error).__name__}: {error}",
        Verdict.ERROR,
    )
