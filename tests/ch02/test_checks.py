"""The chapter 2 checks are honest: stubs are not started, known-wrong code fails the case
that targets its mistake, and the solution's code passes every case."""

from typing import Any

import pytest

from authcourse.checks import Status, run_exercise
from authcourse.checks.core import chapter_exercises, get_exercise
from ch02 import correct
from ch02.wrong import KNOWN_WRONG

EXERCISES = [exercise.id for exercise in chapter_exercises("02")]


#: The learner's starting point: the generated lab, whose solution regions raise NotImplementedError.
LAB_STUBS = correct.notebook_namespace(correct.LAB)


def test_chapter_has_seven_exercises() -> None:
    assert EXERCISES == [f"02.{n}" for n in range(1, 8)]


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_stubs_are_not_started(exercise_id: str) -> None:
    result = run_exercise(get_exercise(exercise_id), LAB_STUBS)
    assert {case.status for case in result.cases} == {Status.NOT_STARTED}, result.cases


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_solution_passes(exercise_id: str) -> None:
    result = run_exercise(get_exercise(exercise_id), correct.NAMESPACE)
    failures = [case for case in result.cases if case.status is not Status.PASSED]
    assert not failures, failures


@pytest.mark.parametrize(
    ("exercise_id", "mistake", "overrides", "expected_failure"),
    KNOWN_WRONG,
    ids=[f"{entry[0]}: {entry[1]}" for entry in KNOWN_WRONG],
)
def test_known_wrong_is_rejected(
    exercise_id: str, mistake: str, overrides: dict[str, Any], expected_failure: str
) -> None:
    result = run_exercise(get_exercise(exercise_id), {**correct.NAMESPACE, **overrides})
    by_description = {case.description: case for case in result.cases}
    assert expected_failure in by_description, f"no case named {expected_failure!r}"
    case = by_description[expected_failure]
    assert case.status is Status.FAILED, f"{mistake}: {case.status} {case.message}"
    assert "expected" in case.message  # plain words: what was tried, expected vs actual


def test_every_exercise_has_a_known_wrong_implementation() -> None:
    assert {entry[0] for entry in KNOWN_WRONG} == set(EXERCISES)
