"""One contract for every chapter's checks (AUTHORING.md, "Exercises and checks").

For each chapter with a ``tests/chNN/known_wrong.py``, the checks must:

- register exactly the exercises the chapter lists;
- report every case of the generated lab's stubs as not started (⏳);
- pass every case with the solution notebook's code;
- fail, in plain words, the named case for each known-wrong implementation;
- give 0 points to code that returns nothing, or always raises, for every name an exercise
  needs (refusal cases count only once the positive cases pass);
- have at least one positive case per exercise, and every other case targeted by at least
  one known-wrong implementation (a case that rejects nothing is decoration);
- keep ``wrong.py`` free of implementations no entry uses.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lab_support import (
    assert_not_started,
    assert_passes,
    assert_rejected,
    defined_in,
    exercise_ids,
    find_case,
    lab_namespace,
    names_of,
    solution_namespace,
    wrong_id,
)

from authcourse.checks.core import get_exercise, run_exercise

TESTS = Path(__file__).resolve().parent
CHAPTERS: dict[str, ModuleType] = {
    path.parent.name.removeprefix("ch"): importlib.import_module(f"{path.parent.name}.known_wrong")
    for path in sorted(TESTS.glob("ch[0-9][0-9]/known_wrong.py"))
}
EXERCISES = [(chapter, ex) for chapter, module in CHAPTERS.items() for ex in module.EXERCISES]
KNOWN_WRONG = [
    (chapter, exercise_id, entries, case)
    for chapter, module in CHAPTERS.items()
    for exercise_id, entries, case in module.KNOWN_WRONG
]


def _slug(chapter: str) -> str:
    return str(CHAPTERS[chapter].SLUG)


def test_there_are_chapters_to_check() -> None:
    assert CHAPTERS, "no tests/chNN/known_wrong.py found"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_chapter_registers_its_exercises(chapter: str) -> None:
    assert exercise_ids(chapter) == CHAPTERS[chapter].EXERCISES


@pytest.mark.parametrize(("chapter", "exercise_id"), EXERCISES, ids=[e for _, e in EXERCISES])
def test_the_stub_is_not_started_in_every_case(chapter: str, exercise_id: str) -> None:
    assert_not_started(exercise_id, lab_namespace(_slug(chapter)))


@pytest.mark.parametrize(("chapter", "exercise_id"), EXERCISES, ids=[e for _, e in EXERCISES])
def test_the_solution_passes_every_case(chapter: str, exercise_id: str) -> None:
    assert_passes(exercise_id, solution_namespace(_slug(chapter)))


@pytest.mark.parametrize(
    ("chapter", "exercise_id", "entries", "case"),
    KNOWN_WRONG,
    ids=[wrong_id(exercise_id, entries) for _, exercise_id, entries, _ in KNOWN_WRONG],
)
def test_a_known_wrong_implementation_fails_its_case(
    chapter: str, exercise_id: str, entries: dict[str, Any], case: str
) -> None:
    # On top of the solution, so the case can only fail because of the one mistake.
    assert_rejected(exercise_id, {**solution_namespace(_slug(chapter)), **entries}, case)


def _returns_nothing(*args: Any, **kwargs: Any) -> None:
    return None


def _returns_empty(*args: Any, **kwargs: Any) -> list[Any]:
    return []


def _always_raises(*args: Any, **kwargs: Any) -> None:
    raise ValueError("refused")


@pytest.mark.parametrize("double", [_returns_nothing, _returns_empty, _always_raises])
@pytest.mark.parametrize(("chapter", "exercise_id"), EXERCISES, ids=[e for _, e in EXERCISES])
def test_code_that_does_nothing_scores_zero(chapter: str, exercise_id: str, double: Any) -> None:
    exercise = get_exercise(exercise_id)
    namespace = {**solution_namespace(_slug(chapter))}
    namespace.update(dict.fromkeys(exercise.needs, double))
    result = run_exercise(exercise, namespace)
    assert result.score == 0, [(c.description, c.status, c.message) for c in result.cases]


@pytest.mark.parametrize(("chapter", "exercise_id"), EXERCISES, ids=[e for _, e in EXERCISES])
def test_every_case_is_positive_or_rejects_a_known_wrong_implementation(
    chapter: str, exercise_id: str
) -> None:
    exercise = get_exercise(exercise_id)
    assert any(case.positive for case in exercise.cases), (
        f"{exercise_id} has no positive case: mark its happy-path cases positive=True"
    )
    targeted = {
        find_case(exercise, case).description
        for _, wrong_exercise, _, case in KNOWN_WRONG
        if wrong_exercise == exercise_id
    }
    decoration = [
        c.description for c in exercise.cases if not c.positive and c.description not in targeted
    ]
    assert not decoration, f"{exercise_id}: no known-wrong implementation fails {decoration}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_known_wrong_implementation_is_used(chapter: str) -> None:
    module = CHAPTERS[chapter]
    wrong = importlib.import_module(f"ch{chapter}.wrong")
    assert defined_in(wrong) == names_of(entries for _, entries, _ in module.KNOWN_WRONG)
