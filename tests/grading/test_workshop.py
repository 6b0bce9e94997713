"""Running a graded workshop (issue 25): the student release, LMS downloads, duplicates, the
gradebook, feedback pages, result files that are never overwritten silently, and one
end-to-end run: release → learners' copies → flat LMS download → grade → gradebook + feedback.
"""

from __future__ import annotations

import copy
import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from authcourse import checks, notebooks
from authcourse.checks import registry
from authcourse.grading import Grade, workshop
from authcourse.grading.model import ExerciseScore
from authcourse.grading.release import ReleaseError, release, without_hidden_cases

ROOT = Path(__file__).resolve().parents[2]


def test_lms_flat_download_names_are_parsed() -> None:
    found = workshop.lms_name("ada_lovelace_12345_67890_03_jwt.ipynb")
    assert found == workshop.LmsName("ada_lovelace", "12345", "03", "03_jwt.ipynb")
    late = workshop.lms_name("bob_LATE_222_333_04_api_keys-1.ipynb")
    assert late is not None and (late.learner, late.learner_id, late.chapter) == (
        "bob",
        "222",
        "04",
    )
    assert workshop.lms_name("03_jwt.ipynb") is None
    assert workshop.copied_chapter("03_jwt-Copy1.ipynb") == "03"


def row(learner: str, chapter: str, score: float, path: str) -> Grade:
    graded = Grade(path, learner, chapter)
    graded.exercises = [ExerciseScore(f"{chapter}.1", 3, score, "failed")]
    return graded


def test_one_notebook_per_learner_and_chapter_counts_by_a_stated_rule(tmp_path: Path) -> None:
    older, newer = tmp_path / "a" / "03_jwt.ipynb", tmp_path / "a" / "03_jwt-Copy1.ipynb"
    for path in (older, newer):
        path.parent.mkdir(exist_ok=True)
        path.write_text("{}")
    rows = [row("ada", "03", 1, str(older)), row("ada", "03", 2, str(newer))]
    workshop.choose_counted(rows)
    assert [r.counted for r in rows] == [False, True]
    assert "rule: the best score, the newest file on a tie" in rows[0].notes[0]


def test_gradebook_and_feedback(tmp_path: Path) -> None:
    rows = [row("Zoë", "03", 2, "z/03_jwt.ipynb"), row("Zoë", "04", 1.5, "z/04_api_keys.ipynb")]
    rows[0].learner_id = "00123"
    rows[0].exercises[0].cases = []
    rows.append(row("<script>", "03", 0, "x/03_jwt.ipynb"))
    book = tmp_path / "grades.gradebook.csv"
    workshop.write_gradebook(rows, book, version="v+1", when="2026-11-30T09:00:00Z")
    assert book.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Zoë stays Zoë
    table = list(csv.DictReader(book.open(encoding="utf-8-sig")))
    assert list(table[0]) == ["id", "learner", "ch03", "ch03 max", "ch04", "ch04 max", "total",
                              "max", "graded_at", "checks_version"]  # fmt: skip
    zoe = next(line for line in table if line["learner"] == "Zoë")
    assert (zoe["id"], zoe["ch03"], zoe["ch04"], zoe["total"], zoe["max"]) == (
        "00123", "2", "1.5", "3.5", "6"
    )  # fmt: skip
    pages = workshop.write_feedback(rows, tmp_path / "fb", version="v+1", when="now")
    assert len(pages) == 2
    text = "".join(page.read_text(encoding="utf-8") for page in pages)
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "http" not in text  # offline: nothing fetched


def test_results_are_moved_aside_not_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "grades.csv"
    target.write_text("first")
    kept = workshop.keep_earlier(target)
    assert kept is not None and kept.read_text() == "first" and not target.exists()
    assert kept.name.startswith("grades.") and kept.suffix == ".csv"


def test_hidden_cases_are_registered_and_stripped() -> None:
    exercise = registry.Exercise("98.1", "t", 1, ("f",))

    @exercise.case("visible", positive=True)
    def _(ns: Any) -> None: ...

    @exercise.case("secret", hidden=True)
    def _(ns: Any) -> None: ...

    assert [case.hidden for case in exercise.cases] == [False, True]
    source = (
        "@ex.case('visible')\ndef _(ns):\n    pass\n\n\n"
        "@ex.case('secret', hidden=True)\nasync def _(ns):\n    pass\n"
    )
    assert without_hidden_cases(source, "x.py") == "@ex.case('visible')\ndef _(ns):\n    pass\n\n\n"


def test_the_learner_is_asked_once_and_recorded_in_the_notebook(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    class Kernel:
        _allow_stdin = True

    class Shell:
        kernel = Kernel()

    import builtins

    monkeypatch.setattr(builtins, "get_ipython", lambda: Shell(), raising=False)
    monkeypatch.setattr(checks, "_identity_file", lambda: tmp_path / "learner.json")
    monkeypatch.setattr(checks, "_identity_shown", False)
    monkeypatch.delenv(checks.LEARNER_ENV_VAR, raising=False)
    answers = iter(["Ada Lovelace", "12345"])
    monkeypatch.setattr(builtins, "input", lambda prompt: next(answers))
    shown: list[Any] = []
    monkeypatch.setattr("IPython.display.display", lambda data, raw: shown.append(data))
    checks.check("01.1", {})
    checks.check("01.1", {})  # asked once
    assert [item[checks.LEARNER_MIME] for item in shown] == [
        {"name": "Ada Lovelace", "id": "12345"}
    ]


def _learner_copy(lab: Path, solution: Path, replace: dict[str, str] | None = None) -> Any:
    """The released lab with its stubs filled in from the instructor's solution."""
    notebook = notebooks.read(lab)
    solved = notebooks.read(solution)
    for mine, reference in zip(notebook.cells, solved.cells, strict=True):
        if mine.cell_type == "code":
            mine.source = reference.source
            for needle, source in (replace or {}).items():
                if needle in mine.source:
                    mine.source = source
    return notebook


@pytest.mark.slow
def test_release_collect_grade_gradebook_feedback(tmp_path: Path) -> None:
    student = tmp_path / "class-repo"
    release(ROOT, student)
    assert (
        not (student / "solutions").exists()
        and (student / "labs" / "01_mental_model.ipynb").exists()
    )
    with pytest.raises(ReleaseError):
        release(ROOT, student)  # not empty: never written over
    # The LMS's flat download of the room.
    download = tmp_path / "Lab 3"
    download.mkdir()
    lab01, lab03 = student / "labs" / "01_mental_model.ipynb", student / "labs" / "03_jwt.ipynb"
    sol01, sol03 = ROOT / "solutions" / "01_mental_model.ipynb", ROOT / "solutions" / "03_jwt.ipynb"
    alice = _learner_copy(lab03, sol03)
    alice.metadata["authcourse"] = {**alice.metadata.get("authcourse", {}),
                                    "learner": {"name": "alice", "id": "111"}}  # fmt: skip
    borrowed = "from clouddocs.refresh_tokens import rotate_refresh  # the reference's answer"
    bob = _learner_copy(lab03, sol03, {"def rotate_refresh": borrowed})
    files = {
        "alice_111_901_01_mental_model.ipynb": _learner_copy(lab01, sol01),
        "alice_111_902_03_jwt.ipynb": alice,
        "bob_222_903_03_jwt.ipynb": bob,
        "bob_222_904_03_jwt-1.ipynb": copy.deepcopy(notebooks.read(lab03)),
    }
    for name, notebook in files.items():
        (download / name).write_text(notebooks.dumps(notebook), encoding="utf-8")
    book, feedback = tmp_path / "grades.gradebook.csv", tmp_path / "grades.feedback"
    book.write_text("an earlier run")
    # A shortened workshop: 03.6 (JWKS) was not taught, so it is not graded.
    ids = [e.id for e in registry.all_exercises() if e.chapter in ("01", "03") and e.id != "03.6"]
    subset = ",".join(ids)
    done = subprocess.run(
        [sys.executable, "-m", "authcourse", "grade", str(download), "--gradebook", str(book),
         "--feedback", str(feedback), "--jobs", "2", "--exercises", subset],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "kept the earlier" in done.stderr
    assert [p.read_text() for p in tmp_path.glob("grades.gradebook.*.csv")] == ["an earlier run"]
    table = {line["learner"]: line for line in csv.DictReader(book.open(encoding="utf-8-sig"))}
    assert set(table) == {"alice", "bob"}
    alice, bob = table["alice"], table["bob"]
    assert (alice["id"], alice["ch01"], alice["ch03"], alice["ch03 max"]) == (
        "111",
        "11",
        "15",
        "15",
    )
    assert (alice["total"], alice["max"]) == ("26", "26")
    assert (bob["ch03"], bob["ch01"]) == ("12", "0")  # 03.3 borrowed: 0 of its 3 points
    page = (feedback / "bob.html").read_text(encoding="utf-8")
    assert "is clouddocs.refresh_tokens.rotate_refresh" in page and "scored 0" in page
    assert "not counted: 2 notebooks for chapter 03" in page
    assert "03.6" not in page


def test_make_grade_takes_a_folder_with_spaces() -> None:
    done = subprocess.run(
        ["make", "-n", "grade", "SUBMISSIONS=Lab 3"], cwd=ROOT, capture_output=True, text=True,
        check=True, env={k: v for k, v in __import__("os").environ.items()
                         if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}},
    )  # fmt: skip
    assert 'grade "Lab 3" --csv grades.csv' in done.stdout
