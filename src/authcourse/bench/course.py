"""How fast the course itself answers: ``check(...)``, grading, notebooks under nbval.

Each measurement becomes a :class:`~authcourse.bench.report.Row` with its DESIGN.md §12
budget. The solutions' code runs as a learner runs it (``notebooks.learner_namespace``,
the same definition the chapter tests use).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from authcourse.bench import budgets
from authcourse.bench.report import Row, Verdict, error_row

Progress = Callable[[str], None]

#: A notebook still running after this long is stuck, not slow: its row says so.
NOTEBOOK_TIMEOUT_SECONDS = 300


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Keep what the notebooks' demo cells print out of the report (and out of --json)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


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
            with quiet():
                namespace = notebooks.learner_namespace(path)
            exercises = chapter_exercises(chapter)
        except Exception as error:  # one broken notebook must not hide the other rows
            rows.append(error_row("check()", f"check() in {path.name}", error))
            continue
        for exercise in exercises:
            seconds: list[float] = []
            failing: set[str] = set()
            for _ in range(repeats):
                with quiet():
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
                    budgets.CHECK,
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
                budgets.GRADE,
                seconds,
                f"{seconds:.1f} s",
                "; ".join(problems),
                Verdict.ERROR if problems else None,
            )
        )
    return rows


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
            rows.append(error_row("nbval", f"notebook under nbval: {relative}", error))
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
                budgets.NOTEBOOK,
                seconds,
                f"{seconds:.1f} s (whole pytest process)",
                note,
                Verdict.ERROR if done.returncode != 0 else None,
            )
        )
    return rows
