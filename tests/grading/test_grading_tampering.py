"""A submission that tampers with the checking machinery gets no points it did not earn,
gets a note that names what was found, and changes nothing another submission, or a later
grading run, is graded with (issue 12)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import nbformat
import pytest
from conftest import FAST, FIXTURE_CHECKS, TAMPERING, lab, solution, with_cell, write

from authcourse import grading
from authcourse.checks.chapters import EXTRA_MODULES_ENV_VAR

pytestmark = pytest.mark.slow

SETTINGS = grading.Settings(**FAST)

#: What the note must name for each attempt (the source scan, the agent, or both).
NAMED = {
    "check": "redefines `check`",
    "run_exercise": "assigns `core.run_exercise`",
    "status": "assigns `core.Status.__eq__`",
    "print_json": None,  # prints a fake result: no points, nothing to name
    "builtins_print": "replaces builtins.print",
    "sys_modules": "replaces sys.modules['authcourse.checks.core']",
    "transformer": "hooks into IPython",
    "builtins_exec": "replaces builtins.exec",
    "asyncio_run": "replaces asyncio.run",
    "user_expressions": "replaces get_ipython().user_expressions",
    "fake_inspect": "replaces sys.modules['inspect']",
    "core_on_disk": "authcourse/checks/runner.py",  # "writes <the private copy>"
    "runner_functions": "replaces authcourse.checks.runner.run_case",
    "as_dict": "replaces authcourse.checks.runner.ExerciseResult.as_dict",
    "json_encoder": "replaces json.encoder.JSONEncoder.encode",
    "isawaitable_code": "replaces the code of",
    "wait_for": "replaces asyncio.wait_for",
    "obfuscated": "replaces asyncio.run",
    "late_thread": "imports modules by name",
    "forged_reply": "writes forged messages to the grader's socket",
    "subclasses_escape": "walks the interpreter's internals",
    "when_called": "the checks replaces asyncio.run",  # seen in the checks' own process
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, grading.Grade]:
    folder = tmp_path_factory.mktemp("tampering")
    for name, source in TAMPERING.items():
        # Inserted after the learner's cells and before check_all.
        write(with_cell(lab(), 8, source), folder / name / "99_fixture.ipynb")
    notebook = solution()
    for name, source in TAMPERING.items():
        if name not in (
            "builtins_exec",
            "fake_inspect",
            "late_thread",
            "core_on_disk",
            "forged_reply",
            "when_called",
        ):
            notebook = with_cell(
                notebook, 8, f"try:\n{_indent(source)}\nexcept Exception:\n    pass"
            )
    write(notebook, folder / "solved_then_tampered" / "99_fixture.ipynb")
    # Graded in the same run, after (and beside) the tampering: must be unaffected.
    write(lab(), folder / "zz_untouched_lab" / "99_fixture.ipynb")
    peer = write(solution(), folder / "zz_solution" / "99_fixture.ipynb")
    # Copies a classmate: runs the code cells of another submission (path built at run time).
    steal = (
        "import json, pathlib\n"
        f"_path = pathlib.Path({str(peer.parent.parent)!r}) / ('zz_' + 'solution') / {peer.name!r}\n"
        "for _cell in json.loads(_path.read_text())['cells']:\n"
        "    if _cell['cell_type'] == 'code' and 'check' not in ''.join(_cell['source']):\n"
        "        exec(''.join(_cell['source']))"
    )
    write(with_cell(lab(), 8, steal), folder / "steal_peer" / "99_fixture.ipynb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(EXTRA_MODULES_ENV_VAR, str(FIXTURE_CHECKS))
        rows = grading.grade_paths([folder], jobs=2, settings=SETTINGS)
    return {row.learner: row for row in rows}


def _indent(source: str) -> str:
    return "\n".join("    " + line for line in source.splitlines())


def test_running_a_classmates_code_earns_nothing(graded: dict[str, grading.Grade]) -> None:
    row = graded["steal_peer"]
    assert row.score == 0, row.notes
    notes = "; ".join(row.notes)
    assert "reads " in notes and "zz_solution" in notes, row.notes


@pytest.mark.parametrize("attempt", sorted(TAMPERING))
def test_tampering_with_the_lab_earns_nothing_and_is_named(
    graded: dict[str, grading.Grade], attempt: str
) -> None:
    row = graded[attempt]
    assert row.score == 0, row.notes
    assert row.max_score == 5
    named = NAMED[attempt]
    if named is not None:
        notes = "; ".join(row.notes)
        assert "tampering suspected" in notes and named in notes, row.notes


def test_honest_work_still_counts_when_the_patches_do_nothing(
    graded: dict[str, grading.Grade],
) -> None:
    row = graded["solved_then_tampered"]
    assert row.score == 5, row.notes
    assert any(note.startswith("tampering suspected") for note in row.notes)
    assert any("re-check without cell(s)" in note for note in row.notes)


def test_no_submission_changes_another_in_the_same_run(graded: dict[str, grading.Grade]) -> None:
    assert graded["zz_untouched_lab"].score == 0, graded["zz_untouched_lab"].notes
    assert graded["zz_solution"].score == 5, graded["zz_solution"].notes
    assert graded["zz_untouched_lab"].notes == graded["zz_solution"].notes == []


def test_a_later_run_is_graded_with_the_same_checks(
    graded: dict[str, grading.Grade], tmp_path: Path
) -> None:
    # The core_on_disk attempt rewrote the runner in its private copy only.
    write(lab(), tmp_path / "later" / "99_fixture.ipynb")
    rows = grading.grade_paths([tmp_path / "later"], settings=SETTINGS)
    assert [row.score for row in rows] == [0]
    assert "def run_case(case: Case" in (
        Path(grading.core.__file__).with_name("runner.py").read_text(encoding="utf-8")
    )


def test_writing_the_real_course_files_stops_grading_with_a_clear_error(
    tmp_path: Path,
) -> None:
    # A stand-in for one of the course's files, hashed by the grader like its own; the
    # submission finds its real path and rewrites it.
    decoy = tmp_path / "core.py"
    decoy.write_text("# the checks\n", encoding="utf-8")
    course = grading.Course.load((tmp_path,))
    course.hashes[decoy] = hashlib.sha256(decoy.read_bytes()).hexdigest()
    source = f"open({str(decoy)!r}, 'a').write('# changed')"
    path = write(with_cell(lab(), 8, source), tmp_path / "room" / "mallory" / "99_fixture.ipynb")
    submission = grading.Submission(path, "mallory")
    with pytest.raises(grading.GraderError, match="changed the course's own files"):
        grading.grade_submission(submission, settings=SETTINGS, course=course)


def test_running_the_course_solutions_earns_nothing(tmp_path: Path) -> None:
    # Lab 01 plus one cell that runs the code cells of solutions/01 (path built at run time,
    # so the source never names it): the audit hook sees the read.
    root = Path(grading.core.__file__).parents[3]
    cell = (
        "import json, pathlib\n"
        f"_path = pathlib.Path({str(root)!r}) / ('sol' + 'utions') / '01_mental_model.ipynb'\n"
        "for _cell in json.loads(_path.read_text())['cells']:\n"
        "    if _cell['cell_type'] == 'code' and 'check' not in ''.join(_cell['source']):\n"
        "        try:\n"
        "            exec(''.join(_cell['source']))\n"
        "        except Exception:\n"
        "            pass"
    )
    notebook = nbformat.read(root / "labs" / "01_mental_model.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(cell))
    path = write(notebook, tmp_path / "mallory" / "01_mental_model.ipynb")
    settings = grading.Settings(cell_timeout=20, case_timeout=3, total_timeout=90)
    row = grading.grade_submission(grading.Submission(path, "mallory"), settings=settings)
    assert row.max_score > 0 and row.score == 0, row.notes
    assert "solutions/01_mental_model.ipynb" in "; ".join(row.notes), row.notes


def test_the_kernel_gets_a_scrubbed_environment_and_a_temporary_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EXTRA_MODULES_ENV_VAR, str(FIXTURE_CHECKS))
    monkeypatch.setenv("AUTHCOURSE_TEST_SECRET", "s3cret")
    report = tmp_path / "seen.txt"
    source = f"import os\nopen({str(report)!r}, 'w').write(repr((sorted(os.environ), os.getcwd())))"
    write(with_cell(solution(), 8, source), tmp_path / "room" / "eve" / "99_fixture.ipynb")
    (row,) = grading.grade_paths([tmp_path / "room"], settings=SETTINGS)
    assert row.score == 5, row.notes
    names, cwd = eval(report.read_text(encoding="utf-8"))
    assert "AUTHCOURSE_TEST_SECRET" not in names
    assert not set(names) & {"VIRTUAL_ENV", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER"}
    assert os.path.basename(cwd) == "cwd" and "authcourse-grade-" in cwd
    assert not Path(cwd).exists()  # removed with its run


def test_reading_the_graders_environment_through_proc_is_noted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Same user, so /proc/<grader>/environ is readable: not prevented, but noted, and the
    # submission keeps only what a re-check without that cell confirms.
    monkeypatch.setenv(EXTRA_MODULES_ENV_VAR, str(FIXTURE_CHECKS))
    source = (
        "import os\n_pid = os.getppid()\n"
        "_grader = open(f'/proc/{_pid}/stat').read().rsplit(')', 1)[1].split()[1]\n"
        "_seen = open(f'/proc/{_grader}/environ', 'rb').read()"
    )
    write(with_cell(solution(), 8, source), tmp_path / "room" / "eve" / "99_fixture.ipynb")
    (row,) = grading.grade_paths([tmp_path / "room"], settings=SETTINGS)
    assert row.score == 5, row.notes  # the honest exercises still count
    assert "/environ (another process)" in "; ".join(row.notes), row.notes
