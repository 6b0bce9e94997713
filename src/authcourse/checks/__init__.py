"""Exercise checks: ``check("03.2")``, ``check_all("03")`` and ``hint("03.2")``.

Each chapter's exercises live once, in ``authcourse/checks/chNN.py``, and serve three
callers: the learner's notebook, the instructor's batch grader and the test suite.
"""

from __future__ import annotations

import inspect
import os
from collections import defaultdict

from authcourse.checks.core import (
    CheckFailed,
    Exercise,
    ExerciseResult,
    Namespace,
    Status,
    chapter_exercises,
    exercise,
    expect,
    expect_equal,
    get_exercise,
    run_exercise,
)
from authcourse.checks.report import Report

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

    Never raises (a lab must run top to bottom) unless ``AUTHCOURSE_STRICT=1``.
    """
    namespace = namespace if namespace is not None else _caller_globals()
    try:
        found = get_exercise(str(exercise_id))
    except KeyError as error:
        report = Report([], problem=str(error.args[0]))
    else:
        report = Report([run_exercise(found, namespace)])
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
        report = Report([run_exercise(ex, namespace) for ex in exercises], show_total=True)
    _raise_if_strict(report)
    return report


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
