"""Every chapter's solution grades full marks; every generated lab grades zero, all ⏳.

Parametrized over the notebooks present. A notebook whose row has no exercises fails: a
chapter with a lab must have checks, and a test that goes green on nothing proves nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from authcourse import grading
from authcourse.grading.model import Submission

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
LABS = sorted((ROOT / "labs").glob("[0-9][0-9]_*.ipynb"))
# Generous per-cell time: these are the course's own notebooks, not learners'.
SETTINGS = grading.Settings(cell_timeout=60, total_timeout=300)


def _grade(path: Path) -> grading.Grade:
    return grading.grade_submission(Submission(path, path.stem), settings=SETTINGS)


@pytest.mark.slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=[path.name for path in SOLUTIONS])
def test_a_solution_scores_full_marks(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTHCOURSE_STRICT", raising=False)
    row = _grade(path)
    assert row.exercises, f"chapter {row.chapter!r} has no exercises to grade: {row.notes}"
    assert row.score == row.max_score, grading.to_json([row], with_cases=True)
    assert row.notes == [], row.notes  # the course's own solution is never suspect


@pytest.mark.slow
@pytest.mark.parametrize("path", LABS, ids=[path.name for path in LABS])
def test_a_lab_scores_zero_with_every_case_not_started(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTHCOURSE_STRICT", raising=False)
    row = _grade(path)
    assert row.exercises, f"chapter {row.chapter!r} has no exercises to grade: {row.notes}"
    assert row.score == 0, grading.to_json([row], with_cases=True)
    statuses = {case.status for exercise in row.exercises for case in exercise.cases}
    assert statuses == {"not started"}, grading.to_json([row], with_cases=True)
