"""A submission that tampers with the checking machinery gets no points it did not earn."""

from __future__ import annotations

import pytest
from conftest import TAMPERING, lab, solution, with_cell, write

from authcourse import grading

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, grading.Grade]:
    from conftest import FIXTURE_CHECKS

    from authcourse.checks.chapters import EXTRA_MODULES_ENV_VAR

    folder = tmp_path_factory.mktemp("tampering")
    for name, source in TAMPERING.items():
        # Appended to the lab, after the learner's cells and before check_all.
        write(with_cell(lab(), 8, source), folder / name / "99_fixture.ipynb")
    honest = [source for name, source in TAMPERING.items() if name != "builtins_exec"]
    notebook = solution()
    for source in honest:
        notebook = with_cell(
            notebook, 8, "try:\n" + _indent(source) + "\nexcept Exception:\n    pass"
        )
    write(notebook, folder / "solved_then_tampered" / "99_fixture.ipynb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(EXTRA_MODULES_ENV_VAR, str(FIXTURE_CHECKS))
        rows = grading.grade_paths([folder], jobs=2)
    return {row.learner: row for row in rows}


def _indent(source: str) -> str:
    return "\n".join("    " + line for line in source.splitlines())


@pytest.mark.parametrize("attempt", sorted(TAMPERING))
def test_tampering_with_the_lab_earns_nothing(
    graded: dict[str, grading.Grade], attempt: str
) -> None:
    row = graded[attempt]
    assert row.score == 0, row.notes
    assert row.max_score == 5


@pytest.mark.parametrize("attempt", ["check", "run_exercise", "status", "sys_modules",
                                     "builtins_print", "transformer"])  # fmt: skip
def test_the_source_scan_flags_it(graded: dict[str, grading.Grade], attempt: str) -> None:
    assert any(note.startswith("tampering suspected") for note in graded[attempt].notes)


def test_replacing_builtins_is_detected(graded: dict[str, grading.Grade]) -> None:
    assert "tampering detected: builtins exec/compile replaced" in graded["builtins_exec"].notes


def test_honest_work_still_counts_when_the_patches_do_nothing(
    graded: dict[str, grading.Grade],
) -> None:
    row = graded["solved_then_tampered"]
    assert row.score == 5, row.notes
    assert any(note.startswith("tampering suspected") for note in row.notes)
