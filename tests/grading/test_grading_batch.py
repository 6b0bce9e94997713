"""A folder of ten submissions mixing every bad input grades completely, one row each."""

from __future__ import annotations

import pytest
from conftest import FAST, MIXED, build_mixed

from authcourse import grading

pytestmark = pytest.mark.slow

#: DESIGN.md §12: grading one submission takes at most 15 s on a 2-core machine.


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, grading.Grade]:
    folder = build_mixed(tmp_path_factory.mktemp("room"))
    with pytest.MonkeyPatch.context() as patch:
        from conftest import FIXTURE_CHECKS

        from authcourse.checks.chapters import EXTRA_MODULES_ENV_VAR

        patch.setenv(EXTRA_MODULES_ENV_VAR, str(FIXTURE_CHECKS))
        rows = grading.grade_paths(
            [folder, folder / "nobody"], jobs=2, settings=grading.Settings(**FAST)
        )
    return {row.learner: row for row in rows}


def test_every_submission_and_path_has_exactly_one_row(graded: dict[str, grading.Grade]) -> None:
    assert sorted(graded) == sorted([*MIXED, "nobody"])
    assert graded["nobody"].notes == ["no such file or folder"]


@pytest.mark.parametrize("learner", sorted(MIXED))
def test_scores_and_reasons(graded: dict[str, grading.Grade], learner: str) -> None:
    row = graded[learner]
    what, expected = MIXED[learner]
    assert row.score == expected, (what, row.notes)
    assert row.max_score == 5 and row.chapter == "99"
    notes = "; ".join(row.notes)
    expected_note = {
        "alice": "",
        "bob": "",
        "carol": "not a readable notebook",
        "dave": "wrong notebook: this is a chapter 98 notebook (its metadata)",
        "erin": "cell 3 raised SyntaxError",
        "frank": "cell 5 did not finish within 1 s",
        "grace": "the kernel died while running cell 4",
        "heidi": "printed more than 1 MB",
        "ivan": "99.3 needs `same_secret`",
        "judy": "tampering suspected",
    }[learner]
    assert expected_note in notes
    if not expected_note:
        assert notes == ""


def test_the_untouched_lab_scores_zero_with_every_case_not_started(
    graded: dict[str, grading.Grade],
) -> None:
    bob = graded["bob"]
    assert {case.status for ex in bob.exercises for case in ex.cases} == {"not started"}
    assert all(ex.status == "not started" for ex in bob.exercises)


def test_a_syntax_error_does_not_hide_the_other_exercises(
    graded: dict[str, grading.Grade],
) -> None:
    statuses = {ex.id: ex.status for ex in graded["erin"].exercises}
    assert statuses == {"99.1": "not started", "99.2": "passed", "99.3": "passed"}
    assert "(line 1)" in "; ".join(graded["erin"].notes)  # not the kernel's file name


def test_rows_are_sorted_by_learner(graded: dict[str, grading.Grade]) -> None:
    assert list(graded) == sorted(graded)
