"""``progress()``: the learner's own work/ copies, graded, as a table and a chart."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

import authcourse
from authcourse.checks import STRICT_ENV_VAR, core
from authcourse.grading.model import ExerciseScore, Grade
from authcourse.progress import CACHE_NAME, progress

ROOT = Path(__file__).resolve().parents[1]


class FakeGrader:
    """Passes every exercise of chapter 01 except 01.1, and records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, paths: Sequence[Path]) -> list[Grade]:
        self.calls.append([path.name for path in paths])
        rows = []
        for path in paths:
            chapter = path.name[:2]
            exercises = [
                ExerciseScore(ex.id, ex.points, 0.0 if ex.id.endswith(".1") else ex.points,
                              "failed" if ex.id.endswith(".1") else "passed")
                for ex in core.chapter_exercises(chapter)
            ]  # fmt: skip
            rows.append(
                Grade(str(path), "me", chapter, exercises, notes=["cell 3 raised NameError"])
            )
        return rows


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(ROOT / "labs" / "01_mental_model.ipynb", folder / "01_mental_model.ipynb")
    return folder


def test_progress_is_importable_from_authcourse() -> None:
    assert authcourse.progress is progress


def test_every_course_exercise_is_listed_with_its_status(work: Path) -> None:
    shown = progress(work, grader=FakeGrader())
    ids = [ex.id for ex in shown.exercises]
    assert ids == [ex.id for ex in core.all_exercises()]
    by_id = {ex.id: ex for ex in shown.exercises}
    chapter_01 = [ex for ex in shown.exercises if ex.chapter == "01"]
    assert by_id["01.1"].status == "failed" and not by_id["01.1"].passed
    assert all(ex.passed for ex in chapter_01 if ex.id != "01.1")
    assert {ex.status for ex in shown.exercises if ex.chapter != "01"} == {"no copy in work/"}
    assert shown.passed == len(chapter_01) - 1
    assert shown.notes == {"01": ["cell 3 raised NameError"]}


def test_the_table_and_the_chart(work: Path) -> None:
    shown = progress(work, grader=FakeGrader())
    text = shown.text()
    assert text.splitlines()[0] == f"{shown.passed} of {len(shown.exercises)} exercises pass"
    assert "01.1" in text and "no copy in work/" in text
    page = shown._repr_html_()
    assert page.count("<tr>") == len(shown.exercises) + 1  # header + one row per exercise
    assert page.count("<svg") == 1 and "http" not in shown.chart_svg()
    assert "cell 3 raised NameError" in page


def test_only_changed_copies_are_graded_again(work: Path) -> None:
    grader = FakeGrader()
    progress(work, grader=grader)
    progress(work, grader=grader)
    assert grader.calls == [["01_mental_model.ipynb"]]  # the second call used the cache
    assert (work / CACHE_NAME).exists()
    shutil.copy(ROOT / "labs" / "02_passwords_sessions.ipynb", work / "02_passwords_sessions.ipynb")
    progress(work, grader=grader)
    assert grader.calls[-1] == ["02_passwords_sessions.ipynb"]
    notebook = work / "01_mental_model.ipynb"
    notebook.write_text(notebook.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    progress(work, grader=grader)
    assert grader.calls[-1] == ["01_mental_model.ipynb"]


def test_a_damaged_cache_means_grading_again(work: Path) -> None:
    grader = FakeGrader()
    progress(work, grader=grader)
    (work / CACHE_NAME).write_text("{ not json", encoding="utf-8")
    shown = progress(work, grader=grader)
    assert len(grader.calls) == 2 and shown.passed > 0


@pytest.mark.slow
def test_the_real_grader_reads_the_learners_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(STRICT_ENV_VAR, raising=False)  # a lab's checks fail, as a learner's do
    # A finished chapter 1 (the solution) and an untouched chapter 2 lab.
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(ROOT / "solutions" / "01_mental_model.ipynb", work / "01_mental_model.ipynb")
    shutil.copy(ROOT / "labs" / "02_passwords_sessions.ipynb", work / "02_passwords_sessions.ipynb")
    shown = progress(work)
    statuses = {ex.id: ex.status for ex in shown.exercises}
    assert all(statuses[ex.id] == "passed" for ex in core.chapter_exercises("01")), statuses
    assert not any(statuses[ex.id] == "passed" for ex in core.chapter_exercises("02")), statuses
