"""Exercise checks: ``check("03.2")``, ``check_all("03")`` and ``hint("03.2")``.

Each chapter's exercises live once, in ``authcourse/checks/chNN.py``, and serve three
callers: the learner's notebook, the instructor's batch grader and the test suite.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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

#: "Name" or "Name <id>": who the learner is, for the instructor's gradebook (no prompt then).
LEARNER_ENV_VAR = "AUTHCOURSE_LEARNER"
#: The MIME type of the output that carries the learner's identity inside a saved notebook.
LEARNER_MIME = "application/vnd.authcourse.learner+json"
_identity_shown = False

_hints_shown: defaultdict[str, int] = defaultdict(int)


def check(exercise_id: str, namespace: Namespace | None = None) -> Report:
    """Check one exercise against the calling notebook's variables and show the result.

    Never raises (a lab must run top to bottom) unless ``AUTHCOURSE_STRICT=1``. On Linux
    the cases run in a forked child process, so one that never finishes is stopped; see
    :func:`run_for_learner`.
    """
    namespace = namespace if namespace is not None else _caller_globals()
    _identify()
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
    _identify()
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


def _identify() -> None:
    """At the first check of a session in Jupyter, record who the learner is, in the notebook.

    Asked once (then remembered in ``~/.authcourse-learner.json``, or taken from
    ``AUTHCOURSE_LEARNER``) and shown as an output that is saved with the notebook, where
    the grader reads it before any folder or file name. A kernel cannot change the
    notebook's own metadata (the front end owns it), hence an output. Only where the
    front end accepts input: nbval, nbclient and the grader never prompt.
    """
    global _identity_shown
    if _identity_shown:
        return
    _identity_shown = True
    kernel = _interactive_kernel()
    if kernel is None:
        return
    try:
        identity = _known_identity() or _ask_identity()
    except Exception:  # no input possible after all: grading falls back to file names
        return
    if not identity.get("name"):
        return
    from IPython.display import display

    shown = identity["name"] + (f" (id {identity['id']})" if identity.get("id") else "")
    display(  # type: ignore[no-untyped-call]
        {LEARNER_MIME: identity, "text/plain": f"Checked as {shown}: saved with this notebook."},
        raw=True,
    )


def _interactive_kernel() -> Any:
    shell = getattr(sys.modules.get("builtins"), "get_ipython", None)
    kernel = getattr(shell(), "kernel", None) if callable(shell) else None
    return kernel if kernel is not None and getattr(kernel, "_allow_stdin", False) else None


def _identity_file() -> Path:
    return Path.home() / ".authcourse-learner.json"


def _known_identity() -> dict[str, str] | None:
    given = os.environ.get(LEARNER_ENV_VAR, "").strip()
    if given:
        name, _, rest = given.partition("<")
        return {"name": name.strip(), "id": rest.rstrip(">").strip()}
    try:
        data = json.loads(_identity_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("name"), str):
        return {"name": data["name"], "id": str(data.get("id", ""))}
    return None


def _ask_identity() -> dict[str, str]:
    name = input("Your name, as your instructor knows it (Enter to skip): ").strip()[:100]
    if not name:
        return {}
    id = input("Your student id, if your course has one (Enter to skip): ").strip()[:100]
    identity = {"name": name, "id": id}
    try:
        _identity_file().write_text(json.dumps(identity), encoding="utf-8")
    except OSError:
        pass  # asked again in the next session: no harm
    return identity


def _caller_globals() -> Namespace:
    # The notebook's variables are the globals of whoever called check()/check_all().
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None and frame.f_back.f_back is not None
    return frame.f_back.f_back.f_globals


def _raise_if_strict(report: Report) -> None:
    # The test suite executes solutions/ with AUTHCOURSE_STRICT=1 to prove full marks.
    if os.environ.get(STRICT_ENV_VAR) == "1" and (report.problem or not report.all_passed):
        raise AssertionError(f"not every case passed:\n{report.text()}")
