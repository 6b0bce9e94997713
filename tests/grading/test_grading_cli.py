"""``python -m authcourse grade`` and the pytest route, end to end in subprocesses."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from conftest import FIXTURE_CHECKS, lab, solution, write

from authcourse.checks.chapters import EXTRA_MODULES_ENV_VAR

pytestmark = pytest.mark.slow


@pytest.fixture
def room(tmp_path: Path) -> Path:
    write(solution(), tmp_path / "room" / "alice" / "99_fixture.ipynb")
    write(lab(), tmp_path / "room" / "bob" / "99_fixture.ipynb")
    write(lab(), tmp_path / "room" / "dan" / "week1" / "99_fixture.ipynb")
    write(solution(), tmp_path / "room" / "dan" / "week2" / "99_fixture.ipynb")
    (tmp_path / "room" / "carol").mkdir()
    (tmp_path / "room" / "carol" / "99_fixture.ipynb").write_bytes(b"\x00\xff not json")
    return tmp_path / "room"


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**__import__("os").environ, EXTRA_MODULES_ENV_VAR: str(FIXTURE_CHECKS)}
    return subprocess.run(
        [sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def test_json_csv_and_exit_code(room: Path, tmp_path: Path) -> None:
    grades = tmp_path / "grades.csv"
    done = run("-m", "authcourse", "grade", room, room / "nobody", "--json", "--csv", grades,
               "--jobs", "2", "--timeout", "5", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["learner"], r["score"], r["max_score"]) for r in rows] == [
        ("alice", 5, 5), ("bob", 0, 5), ("carol", 0, 5), ("dan", 0, 5), ("dan", 5, 5),
        ("nobody", 0, 0),
    ]  # fmt: skip
    assert rows[0]["exercises"][1] == {"id": "99.2", "score": 1, "max_score": 1,
                                       "status": "passed"}  # fmt: skip
    assert rows[2]["notes"] == ["not a readable notebook (is it really a .ipynb file?)"]
    table = list(csv.DictReader(grades.open(encoding="utf-8-sig")))
    assert [(r["learner"], r["ex99.1"], r["score"]) for r in table] == [
        ("alice", "2", "5"), ("bob", "0", "0"), ("carol", "0", "0"), ("dan", "0", "0"),
        ("dan", "2", "5"), ("nobody", "", "0"),
    ]  # fmt: skip


def test_the_table_is_the_default_output(room: Path, tmp_path: Path) -> None:
    done = run("-m", "authcourse", "grade", room / "alice", "--chapter", "99", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["learner", "chapter", "99.1", "99.2", "99.3", "total", "notes"]
    assert lines[1].split() == ["99_fixture", "99", "2/2", "1/1", "2/2", "5/5"]


def test_the_pytest_route_makes_one_test_per_exercise(room: Path, tmp_path: Path) -> None:
    report = tmp_path / "grades.xml"
    done = run("-m", "pytest", "-p", "authcourse.pytest_grading", "--grade", room,
               "--grade-jobs", "2", "--junitxml", report, "-q", "-p", "no:cacheprovider",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1, done.stdout  # bob and carol fail
    cases = ElementTree.parse(report).getroot().iter("testcase")
    outcome = {
        f"{case.get('classname')}::{case.get('name')}": case.find("failure") is None
        for case in cases
    }
    # JUnit XML writes the "/" of a node id as "." in classname.
    assert outcome == {
        "alice::99.1": True, "alice::99.2": True, "alice::99.3": True,
        "bob::99.1": False, "bob::99.2": False, "bob::99.3": False,
        "carol::notebook": False,
        "dan.week1.99_fixture.ipynb::99.1": False, "dan.week1.99_fixture.ipynb::99.2": False,
        "dan.week1.99_fixture.ipynb::99.3": False,
        "dan.week2.99_fixture.ipynb::99.1": True, "dan.week2.99_fixture.ipynb::99.2": True,
        "dan.week2.99_fixture.ipynb::99.3": True,
    }  # fmt: skip
    assert str(tmp_path) not in report.read_text(encoding="utf-8")
    assert "⏳ 2 + 3 is 5 — the stub still raises NotImplementedError" in done.stdout


def test_the_pytest_plugin_is_inert_without_grade(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n", encoding="utf-8")
    done = run("-m", "pytest", "-p", "authcourse.pytest_grading", "-q", "-p",
               "no:cacheprovider", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout
