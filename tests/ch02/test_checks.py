"""The chapter 2 checks are honest: the generated lab's stubs are not started, known-wrong
code fails the case that targets its mistake, and the solution's code passes every case."""

from typing import Any

import pytest
from lab_support import (
    assert_not_started,
    assert_passes,
    assert_rejected,
    defined_in,
    exercise_ids,
    lab_namespace,
    names_of,
    solution_namespace,
)

from . import wrong
from .wrong import KNOWN_WRONG

SLUG = "02_passwords_sessions"
EXERCISES = [f"02.{n}" for n in range(1, 8)]


def test_chapter_has_seven_exercises() -> None:
    assert exercise_ids("02") == EXERCISES


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_stubs_are_not_started(exercise_id: str) -> None:
    assert_not_started(exercise_id, lab_namespace(SLUG))


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_solution_passes(exercise_id: str) -> None:
    assert_passes(exercise_id, solution_namespace(SLUG))


@pytest.mark.parametrize(
    ("exercise_id", "mistake", "overrides", "expected_failure"),
    KNOWN_WRONG,
    ids=[f"{entry[0]}: {entry[1]}" for entry in KNOWN_WRONG],
)
def test_known_wrong_is_rejected(
    exercise_id: str, mistake: str, overrides: dict[str, Any], expected_failure: str
) -> None:
    assert_rejected(exercise_id, {**solution_namespace(SLUG), **overrides}, expected_failure)


def test_every_exercise_has_a_known_wrong_implementation() -> None:
    assert {entry[0] for entry in KNOWN_WRONG} == set(EXERCISES)


def test_every_known_wrong_implementation_is_tested() -> None:
    assert defined_in(wrong) == names_of(entry[2] for entry in KNOWN_WRONG)
