"""What the chapter check tests (``tests/chNN/test_checks.py``) share.

A chapter's check tests prove four things about its exercises (AUTHORING.md, "Exercises and
checks"): every case reports the generated lab's stub as not started, the solution notebook's
code passes every case within the time budget, each known-wrong implementation in
``tests/chNN/wrong.py`` fails the case that targets its mistake with a plain "expected …"
message, and ``wrong.py`` holds no implementation that no test uses.

The learner's namespace always comes from a real notebook, run in-process the way a learner
runs it top to bottom: :func:`solution_namespace` for the correct code, :func:`lab_namespace`
for the stubs (so the stub tests see exactly what a learner starts from).

Import it as ``from lab_support import …``: ``tests/`` has no ``__init__.py``, so pytest's
default import mode (``prepend``; ``append`` too) puts ``tests/`` on ``sys.path`` when it loads
``tests/conftest.py`` and again as the root of each ``tests/chNN`` package, whichever test
file or folder it is asked to run, from whichever directory. ``--import-mode=importlib``
does not; it would need ``pythonpath = ["tests"]`` in pytest's configuration.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from authcourse import notebooks
from authcourse.checks.core import (
    Case,
    CaseResult,
    Exercise,
    Status,
    chapter_exercises,
    get_exercise,
    run_exercise,
)

ROOT = Path(__file__).resolve().parents[1]

#: AUTHORING.md: "Each exercise answers in under a second."

#: How a ``CheckFailed`` reads once the runner has reported it: "<tried>: expected <…>, but got <…>".
PLAIN_FAILURE = ": expected "


# --- the learner's namespace ---------------------------------------------------------------


def notebook_namespace(path: Path) -> dict[str, Any]:
    """The globals a learner has after running the notebook at ``path`` top to bottom.

    Every code cell runs in order in one namespace, except the cells the grader skips too
    (those that only call ``check``/``check_all``/``hint``) and demo cells with a top-level
    ``await``/``async with``/``async for`` (they need a running event loop; an exercise cell
    must not have one). The notebook runs once per test process; each call returns a fresh
    shallow copy, so a test may override names without affecting the next test.
    """
    return dict(_run_notebook(path.resolve()))


def solution_namespace(slug: str) -> dict[str, Any]:
    """The namespace of ``solutions/<slug>.ipynb`` (e.g. ``"03_jwt"``): the correct code."""
    return notebook_namespace(ROOT / "solutions" / f"{slug}.ipynb")


def lab_namespace(slug: str) -> dict[str, Any]:
    """The namespace of the generated ``labs/<slug>.ipynb``: the stubs a learner starts from."""
    return notebook_namespace(ROOT / "labs" / f"{slug}.ipynb")


@functools.cache
def _run_notebook(path: Path) -> Mapping[str, Any]:
    # The one definition of "run it as a learner does", shared with `make bench`.
    return notebooks.learner_namespace(path)


# --- running exercises and cases -----------------------------------------------------------


def exercise_ids(chapter: str) -> list[str]:
    """The ids of a chapter's registered exercises, in order (``["03.1", "03.2", …]``)."""
    return [exercise.id for exercise in chapter_exercises(chapter)]


def find_case(exercise: Exercise, case_prefix: str) -> Case:
    """The one case of ``exercise`` whose description is, or else starts with, ``case_prefix``."""
    exact = [case for case in exercise.cases if case.description == case_prefix]
    matches = exact or [c for c in exercise.cases if c.description.startswith(case_prefix)]
    if len(matches) != 1:
        described = "\n".join(f"  {case.description}" for case in exercise.cases)
        raise LookupError(
            f"{len(matches)} cases of {exercise.id} start with {case_prefix!r}; its cases:\n"
            f"{described}"
        )
    return matches[0]


def case_result(exercise_id: str, namespace: Mapping[str, Any], case_prefix: str) -> CaseResult:
    """Run only the case of ``exercise_id`` that :func:`find_case` picks, against ``namespace``."""
    exercise = get_exercise(exercise_id)
    # A known-wrong entry may reuse the reference code on purpose (to change one detail); it
    # tests the case, not the borrowed-answer rule (tests/grading/test_borrowed_answers.py).
    only = dataclasses.replace(exercise, cases=[find_case(exercise, case_prefix)], answered_by=())
    (result,) = run_exercise(only, namespace).cases
    return result


def assert_rejected(exercise_id: str, namespace: Mapping[str, Any], case_prefix: str) -> CaseResult:
    """Assert that the case fails (❌, not 💥 or ⏳) and says in plain words what it expected.

    ``namespace`` is usually the solution's with the known-wrong entries swapped in, so the
    case can only fail because of the mistake under test.
    """
    result = case_result(exercise_id, namespace, case_prefix)
    assert result.status is Status.FAILED, (
        f"{exercise_id} {result.description!r}: {result.status} {result.message}"
    )
    assert PLAIN_FAILURE in result.message, (
        f"{exercise_id} {result.description!r}: a failure says what was tried and what was"
        f" expected, not {result.message!r}"
    )
    return result


def assert_not_started(exercise_id: str, namespace: Mapping[str, Any]) -> None:
    """Assert that the namespace defines every name the exercise needs and every case is ⏳.

    Run against :func:`lab_namespace`: the stubs exist (so "not defined yet" cannot pass
    for them) and each case reaches the stub's ``raise NotImplementedError()``.
    """
    exercise = get_exercise(exercise_id)
    missing = [name for name in exercise.needs if name not in namespace]
    assert not missing, f"{exercise_id}: the notebook does not define {missing}"
    statuses = {case.description: case.status for case in run_exercise(exercise, namespace).cases}
    assert set(statuses.values()) == {Status.NOT_STARTED}, statuses


def assert_passes(exercise_id: str, namespace: Mapping[str, Any]) -> None:
    """Assert that every case passes (how fast is `make bench`'s job, not a test's)."""
    result = run_exercise(get_exercise(exercise_id), namespace)
    failures = [
        (c.description, c.status, c.message) for c in result.cases if c.status is not Status.PASSED
    ]
    assert not failures, f"{exercise_id}: {failures}"


# --- the known-wrong implementations -------------------------------------------------------


def defined_in(module: ModuleType) -> set[str]:
    """The public functions and classes ``module`` itself defines (not those it imports)."""
    return {
        name
        for name, value in vars(module).items()
        if callable(value)
        and getattr(value, "__module__", "") == module.__name__
        and not name.startswith("_")
    }


def names_of(entries: Iterable[Mapping[str, Any]]) -> set[str]:
    """The ``__name__`` of every value in these namespace overrides."""
    return {value.__name__ for overrides in entries for value in overrides.values()}


def wrong_id(exercise_id: str, overrides: Mapping[str, Any]) -> str:
    """A readable test id: ``"01.5-fix_that_prefers_x_user"``."""
    return f"{exercise_id}-" + "+".join(value.__name__ for value in overrides.values())
