"""Exercise checks: ``check("03.2")``, ``check_all("03")`` and ``hint("03.2")``.

Each chapter's exercises live once, in ``authcourse/checks/chNN.py``, and serve three
callers: the learner's notebook, the instructor's batch grader and the test suite.
"""

from __future__ import annotations

import inspect
import os
from collections import defaultdict
from collections.abc import Sequence

from authcourse.checks.registry import (
    CheckFailed,
    Exercise,
    Namespace,
    chapter_exercises,
    exercise,
    expect,
    expect_equal,
    get_exercise,
)
from authcourse.checks.report import Report
from authcourse.checks.runner import (
    CAN_ISOLATE,
    CaseResult,
    ExerciseResult,
    Status,
    run_exercise,
    run_exercise_isolated,
)

__all__ = [
    "CheckFailed",
    "Exercise",
    "ExerciseResult",
    "Report",
    "Status",
    "check",
    "check_all",
    "exercise",
    "expect",
    "expect_equal",
    "hint",
    "run_exercise",
]

STRICT_ENV_VAR = "AUTHCOURSE_STRICT"

_hints_shown: defaultdict[str, int] = defaultdict(int)


def check(exercise_id: str, namespace: Namespace | None = None) -> Report:
    """Check one exercise against the calling notebook's variables and show the result.

    Never raises (a lab must run top to bottom) unless ``AUTHCOURSE_STRICT=1``. On Linux
    the cases run in a forked child process, so one that never finishes is stopped; see
    :func:`run_for_learner`.
    """
    namespace = namespace if namespace is not None else _caller_globals()
    try:
        found = get_exercise(str(exercise_id))
    except KeyError as error:
        report = Report([], problem=str(error.args[0]))
    else:
        report = Report(run_for_learner([found], namespace))
    _raise_if_strict(report)
    return report


def check_all(chapter: str, namespace: Namespace | None = None) -> Report:
    """Check every exercise of a chapter (``"03"``) and show the total."""
    namespace = namespace if namespace is not None else _caller_globals()
    try:
        exercises = chapter_exercises(str(chapter))
    except KeyError as error:
        report = Report([], show_total=True, problem=str(error.args[0]))
    else:
        report = Report(run_for_learner(exercises, namespace), show_total=True)
    _raise_if_strict(report)
    return report


def run_for_learner(exercises: Sequence[Exercise], namespace: Namespace) -> list[ExerciseResult]:
    """The exercises' results, run the safest way this platform allows.

    On Linux each exercise runs in forked children: a runaway case is killed and costs only
    itself. Elsewhere the cases run in threads of the kernel, which cannot be stopped: after
    a runaway the remaining exercises are not run (they would only time out falsely) and the
    learner is told to restart the kernel.
    """
    if CAN_ISOLATE:
        return [run_exercise_isolated(ex, namespace) for ex in exercises]
    results: list[ExerciseResult] = []
    for ex in exercises:
        if results and results[-1].timed_out:
            message = (
                f"not checked: a case of {results[-1].exercise.id} did not finish and may still"
                " be running; restart the kernel (Kernel → Restart Kernel) and check again"
            )
            cases = tuple(CaseResult(c.description, Status.CRASHED, message) for c in ex.cases)
            results.append(ExerciseResult(ex, cases))
            continue
        results.append(run_exercise(ex, namespace))
    return results


class Hint(str):
    """A hint's text; shown without quotes when it is a cell's last expression."""

    def __repr__(self) -> str:
        return str(self)


def hint(exercise_id: str) -> Hint:
    """Reveal the next hint for an exercise, one more each call."""
    try:
        hints = get_exercise(exercise_id).hints
    except KeyError as error:
        return Hint(str(error.args[0]))
    if not hints:
        return Hint(f"Exercise {exercise_id} has no hints.")
    shown = min(_hints_shown[exercise_id] + 1, len(hints))
    _hints_shown[exercise_id] = shown
    suffix = "" if shown < len(hints) else " (that was the last hint)"
    return Hint(f"Hint {shown}/{len(hints)} for {exercise_id}{suffix}: {hints[shown - 1]}")


def _caller_globals() -> Namespace:
    # The notebook's variables are the globals of whoever called check()/check_all().
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None and frame.f_back.f_back is not None
    return frame.f_back.f_back.f_globals


def _raise_if_strict(report: Report) -> None:
    # The test suite executes solutions/ with AUTHCOURSE_STRICT=1 to prove full marks.
    if os.environ.get(STRICT_ENV_VAR) == "1" and (report.problem or not report.all_passed):
        raise AssertionError(f"not every case passed:\n{report.text()}")
