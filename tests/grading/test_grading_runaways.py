"""A runaway or hostile exercise never costs a correct one its points in the grader, symlinks
never score or merge rows, and no process a submission starts outlives its grading."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
from conftest import FAST, FIXTURE_CHECKS, solution, with_cell, write

from authcourse import grading
from authcourse.checks.chapters import EXTRA_MODULES_ENV_VAR

pytestmark = pytest.mark.slow

SETTINGS = grading.Settings(**FAST)

HOSTILE_ADD = {
    # 99.1 misbehaves; 99.2 and 99.3 are correct: 3 of 5 points, always.
    "endless_loop": "def add(a, b):\n    while True:\n        pass",
    "swallows_interrupts": (
        "import time\ndef add(a, b):\n    while True:\n        try:\n            time.sleep(0.01)\n"
        "        except BaseException:\n            pass"
    ),
    "str_raises": (
        "class Weird(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\n"
        "def add(a, b):\n    raise Weird()"
    ),
    "str_never_returns": (
        "class Weird(Exception):\n    def __str__(self):\n        while True:\n            pass\n"
        "def add(a, b):\n    raise Weird()"
    ),
    "repr_never_returns": (
        "class Weird:\n    def __repr__(self):\n        while True:\n            pass\n"
        "    def __eq__(self, other):\n        return False\n"
        "    __hash__ = object.__hash__\n"
        "def add(a, b):\n    return Weird()"
    ),
    "spinning_threads": (
        "import threading\ndef _spin():\n    while True:\n        pass\n"
        "def add(a, b):\n    for _ in range(4):\n"
        "        threading.Thread(target=_spin, daemon=True).start()\n    return a + b + 1"
    ),
}

#: A cell (not an exercise) that never finishes and swallows every interrupt.
STUCK_CELL = (
    "import time\nwhile True:\n    try:\n        time.sleep(0.01)\n"
    "    except BaseException:\n        pass"
)

DOUBLE_FORK = """import os, time
def _daemon():
    if os.fork():
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    open({pidfile!r}, "w").write(str(os.getpid()))
    while True:
        time.sleep(0.05)
_daemon()
time.sleep(0.3)"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, grading.Grade], Path]:
    folder = tmp_path_factory.mktemp("runaways")
    good = solution()
    for name, source in HOSTILE_ADD.items():
        notebook = copy.deepcopy(good)
        notebook.cells[2].source = source
        write(notebook, folder / name / "99_fixture.ipynb")
    write(with_cell(good, 3, STUCK_CELL), folder / "stuck_cell" / "99_fixture.ipynb")
    pidfile = folder / "daemon.pid"
    killer = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + DOUBLE_FORK.format(
        pidfile=str(folder / "orphan.pid")
    )
    write(with_cell(good, 3, killer), folder / "reaper_killer" / "99_fixture.ipynb")
    write(
        with_cell(good, 3, DOUBLE_FORK.format(pidfile=str(pidfile))),
        folder / "forker" / "99_fixture.ipynb",
    )
    # s01 submits the solution; a00 submits a symlink to it; c00 a symlink into a folder.
    write(good, folder / "s01_full" / "99_fixture.ipynb")
    (folder / "a00").mkdir()
    (folder / "a00" / "99_fixture.ipynb").symlink_to(folder / "s01_full" / "99_fixture.ipynb")
    (folder / "c00").symlink_to(folder / "s01_full", target_is_directory=True)
    # Two notebooks for one learner: two rows, two distinct names in the pytest route.
    write(good, folder / "multi" / "a" / "99_fixture.ipynb")
    write(good, folder / "multi" / "b" / "99_fixture.ipynb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(EXTRA_MODULES_ENV_VAR, str(FIXTURE_CHECKS))
        rows = grading.grade_paths([folder], jobs=2, settings=SETTINGS)
    by_learner: dict[str, grading.Grade] = {}
    for row in rows:
        by_learner.setdefault(row.learner, row)
    assert sum(row.learner == "multi" for row in rows) == 2
    return by_learner, pidfile


@pytest.mark.parametrize("hostile", sorted(HOSTILE_ADD))
def test_a_hostile_exercise_costs_only_itself(
    graded: tuple[dict[str, grading.Grade], Path], hostile: str
) -> None:
    row = graded[0][hostile]
    scores = {exercise.id: exercise.score for exercise in row.exercises}
    assert scores == {"99.1": 0, "99.2": 1, "99.3": 2}, row.notes


def test_a_cell_that_never_finishes_is_dropped_and_the_rest_still_count(
    graded: tuple[dict[str, grading.Grade], Path],
) -> None:
    row = graded[0]["stuck_cell"]
    assert row.score == 5, row.notes
    assert any("cell 4 did not finish within 1 s" in note for note in row.notes)


def test_symlinked_submissions_get_a_row_without_points_and_merge_nothing(
    graded: tuple[dict[str, grading.Grade], Path],
) -> None:
    rows = graded[0]
    assert rows["s01_full"].score == 5
    for learner in ("a00", "c00"):
        assert rows[learner].score == 0 and rows[learner].max_score == 5
        assert "is a symbolic link" in "; ".join(rows[learner].notes)


@pytest.mark.parametrize(("learner", "file"), [("forker", "daemon.pid"),
                                              ("reaper_killer", "orphan.pid")])  # fmt: skip
def test_no_process_outlives_grading(
    graded: tuple[dict[str, grading.Grade], Path], learner: str, file: str
) -> None:
    # A double fork with setsid(); in the second, after killing the reaper of its process.
    rows, pidfile = graded
    assert rows[learner].score == 5, rows[learner].notes
    pid = int((pidfile.parent / file).read_text(encoding="utf-8"))
    assert not Path(f"/proc/{pid}").exists(), f"process {pid} survived its grading"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
