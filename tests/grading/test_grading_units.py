"""The grader's parts that need no kernel: discovery, chapters, scanning, output, check()."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest
from conftest import lab, solution, write

from authcourse import check, check_all, grading, hint
from authcourse.grading import scan
from authcourse.grading.model import CaseScore, ExerciseScore, Grade


def test_discover_names_learners_by_sub_folder_else_file(tmp_path: Path) -> None:
    write(solution(), tmp_path / "room" / "alice" / "99_fixture.ipynb")
    write(solution(), tmp_path / "room" / "bob" / "deep" / "99_fixture.ipynb")
    write(solution(), tmp_path / "room" / "carol.ipynb")
    write(solution(), tmp_path / "room" / ".ipynb_checkpoints" / "99_fixture.ipynb")
    write(solution(), tmp_path / "single" / "dave" / "99_fixture.ipynb")
    (tmp_path / "empty").mkdir()
    submissions, rows = grading.discover(
        [
            tmp_path / "room",
            tmp_path / "single" / "dave" / "99_fixture.ipynb",
            tmp_path / "room" / "alice" / "99_fixture.ipynb",  # twice: graded once
            tmp_path / "empty",
            tmp_path / "missing",
        ]
    )
    assert sorted(sub.learner for sub in submissions) == ["alice", "bob", "carol", "dave"]
    assert [(row.learner, row.notes) for row in rows] == [
        ("empty", ["no notebooks found"]),
        ("missing", ["no such file or folder"]),
    ]


@pytest.mark.parametrize(
    ("file", "metadata", "wanted", "chapter", "wrong"),
    [
        ("99_fixture.ipynb", "99", None, "99", ""),
        ("99_fixture.ipynb", None, None, "99", ""),
        ("alice.ipynb", "99", None, "99", ""),
        ("alice.ipynb", None, "99", "99", ""),
        ("99_fixture.ipynb", "98", None, "99", "chapter 98 notebook (its metadata)"),
        ("98_other.ipynb", "99", "98", "98", "chapter 99 notebook (its metadata)"),
        ("98_other.ipynb", None, "99", "99", "chapter 98 notebook (its file name)"),
    ],
)
def test_the_chapter_comes_from_option_file_name_metadata(
    file: str, metadata: str | None, wanted: str | None, chapter: str, wrong: str
) -> None:
    meta = {"authcourse": {"chapter": metadata}} if metadata else {}
    got, reason = grading._chapter(Path(file), meta, ['check("99.1")'], wanted)
    assert got == chapter
    assert (wrong in reason) if wrong else reason == ""


def test_check_cells_tell_the_chapter_of_a_notebook_without_metadata() -> None:
    got, reason = grading._chapter(Path("99_x.ipynb"), {}, ['check("98.1")', "x = 1"], None)
    assert got == "99" and "chapter 98 notebook (its check cells)" in reason
    got, reason = grading._chapter(Path("x.ipynb"), {}, ["x = 1"], None)
    assert got == "" and reason == ""


def test_front_end_cells_are_recognised() -> None:
    assert scan.is_front_end_cell('check("03.1")')
    assert scan.is_front_end_cell('hint("03.1")\ncheck_all("03")')
    assert not scan.is_front_end_cell('check("03.1")\nx = 1')
    assert not scan.is_front_end_cell("from authcourse import check")
    assert not scan.is_front_end_cell("def f(:")
    assert not scan.is_front_end_cell("# only a comment")


def test_tampering_is_suspected_from_the_source() -> None:
    assert scan.tampering(["from authcourse import check, check_all, hint", "x = 1"]) == []
    found = scan.tampering(
        [
            "check = lambda *a: None",
            "import authcourse.checks.core as c\nc.run_exercise = None",
            "import sys\nsys.modules['authcourse'] = None",
            "import builtins\nbuiltins.print = None",
        ]
    )
    assert "redefines `check`" in found
    assert "uses authcourse.checks internals" in found
    assert "touches sys.modules" in found and "touches builtins" in found


def test_each_cell_is_scanned_for_what_it_reaches() -> None:
    assert scan.findings("import asyncio\nasyncio.run = None") == [
        "assigns `asyncio.run` (an attribute of an imported module)"
    ]
    assert "calls setattr on `asyncio`" in scan.findings("import asyncio\nsetattr(asyncio, 'x', 1)")
    assert "hooks into IPython" in scan.findings("get_ipython().user_expressions = f")
    assert "mentions the course's solutions" in scan.findings("open('../solutions/01.ipynb')")
    assert "imports modules by name" in scan.findings("__import__('asyncio').run = None")
    assert "inspects the interpreter" in scan.findings("import ctypes")
    # Ordinary lab code is not suspect: objects the learner made are theirs to change.
    assert scan.findings("from fastapi import FastAPI\napp = FastAPI()\napp.state.x = 1") == []
    assert scan.findings("import hmac\nok = hmac.compare_digest(a, b)") == []


def test_symlinks_are_submissions_without_points(tmp_path: Path) -> None:
    write(solution(), tmp_path / "room" / "s01" / "99_fixture.ipynb")
    (tmp_path / "room" / "a00").mkdir()
    (tmp_path / "room" / "a00" / "99_fixture.ipynb").symlink_to(
        tmp_path / "room" / "s01" / "99_fixture.ipynb"
    )
    submissions, rows = grading.discover([tmp_path / "room"])
    assert rows == []
    linked = {sub.learner: bool(sub.symlink) for sub in submissions}
    assert linked == {"a00": True, "s01": False}
    (a00,) = [sub for sub in submissions if sub.learner == "a00"]
    row = grading.grade_submission(a00)
    assert row.score == 0 and row.max_score == 5
    assert "is a symbolic link" in row.notes[0]


def rows() -> list[Grade]:
    alice = Grade("a/99_fixture.ipynb", "alice", "99")
    alice.exercises = [
        ExerciseScore("99.1", 2, 2.0, "passed", [CaseScore("c", "passed")]),
        ExerciseScore("99.10", 1, 0.5, "failed"),
    ]
    carol = Grade("c/99_fixture.ipynb", "carol", "99", notes=["not a readable notebook"])
    carol.exercises = [ExerciseScore("99.1", 2), ExerciseScore("99.10", 1)]
    return [alice, carol]


def test_table_json_and_csv(tmp_path: Path) -> None:
    table = grading.render_table(rows()).splitlines()
    assert table[0].split() == ["learner", "chapter", "99.1", "99.10", "total", "notes"]
    assert table[1].split() == ["alice", "99", "2/2", "0.5/1", "2.5/3"]
    assert table[2].split()[:5] == ["carol", "99", "0/2", "0/1", "0/3"]
    assert table[2].endswith("not a readable notebook")
    data = json.loads(grading.to_json(rows()))
    assert set(data[0]) == {
        "path", "learner", "chapter", "score", "max_score", "exercises", "notes"
    }  # fmt: skip
    assert data[0]["exercises"][0] == {
        "id": "99.1", "score": 2.0, "max_score": 2, "status": "passed"
    }  # fmt: skip
    assert data[1]["exercises"][0]["status"] == "not graded"
    target = tmp_path / "grades.csv"
    grading.write_csv(rows(), target)
    lines = list(csv.reader(target.open(encoding="utf-8-sig")))  # with a BOM (spreadsheets)
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")
    assert lines[0] == ["path", "id", "learner", "chapter", "ex99.1", "ex99.10", "score",
                        "max_score", "counted", "graded_at", "checks_version",
                        "notes"]  # fmt: skip
    assert lines[1][1:] == ["", "alice", "ch99", "2", "0.5", "2.5", "3", "yes", "", "", ""]


def test_check_on_the_fixture_chapter_passes_the_solution() -> None:
    namespace: dict[str, object] = {}
    for cell in solution().cells:
        if cell.cell_type == "code" and "check" not in cell.source:
            exec(cell.source, namespace)
    for id in ("99.1", "99.2", "99.3"):
        assert check(id, namespace).all_passed
    assert check_all("99", namespace).score == 5


def test_the_fixture_lab_runs_and_every_case_is_not_started() -> None:
    namespace: dict[str, object] = {}
    for cell in lab().cells:
        if cell.cell_type == "code":
            exec(cell.source, namespace)  # the lab's own check() cells never raise
    report = check_all("99", namespace)
    assert report.score == 0
    assert {case.status.icon for result in report.results for case in result.cases} == {"⏳"}
    assert hint("99.1").startswith("Hint 1/2 for 99.1")


def test_the_fixture_notebooks_are_valid() -> None:
    nbformat.validate(solution())
    nbformat.validate(lab())
