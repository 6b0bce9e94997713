"""The solution → lab generator: stubs in place of solutions, no outputs, ids kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from authcourse import labs

FIXTURES = Path(__file__).parent / "fixtures"


def test_solution_region_becomes_an_indented_stub() -> None:
    source = "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION\n"
    assert labs.strip_solutions(source, "cell") == (
        "def add(a, b):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    )


def test_text_outside_regions_is_kept() -> None:
    source = "x = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION\nprint(x)"
    assert labs.strip_solutions(source, "cell") == (
        "x = 1\n# YOUR CODE HERE\nraise NotImplementedError()\nprint(x)"
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1", "never closed"),
        ("x = 1\n### END SOLUTION", "without a"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
    ],
)
def test_unbalanced_markers_are_refused(source: str, message: str) -> None:
    with pytest.raises(labs.LabError, match=message):
        labs.strip_solutions(source, "solutions/x.ipynb cell 2")


def test_lab_has_stubs_no_outputs_and_the_same_cell_ids() -> None:
    solution = nbformat.read(FIXTURES / "99_solution.ipynb", as_version=4)
    assert any(cell.get("outputs") for cell in solution.cells), "fixture should carry outputs"
    lab = labs.make_lab(solution, "fixture")
    assert [cell.id for cell in lab.cells] == [cell.id for cell in solution.cells]
    code = [cell for cell in lab.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    text = "\n".join(cell.source for cell in code)
    assert "BEGIN SOLUTION" not in text and "a + b" not in text and '"hi"' not in text
    assert text.count("raise NotImplementedError()") == 2
    # The solution object itself is untouched.
    assert "a + b" in solution.cells[1].source


def test_generated_lab_still_runs_top_to_bottom() -> None:
    lab = labs.make_lab(nbformat.read(FIXTURES / "99_solution.ipynb", as_version=4), "fixture")
    namespace: dict[str, object] = {}
    for cell in lab.cells:
        if cell.cell_type == "code":
            exec(cell.source, namespace)
    with pytest.raises(NotImplementedError):
        namespace["add"](1, 2)  # type: ignore[operator]


def test_stale_and_missing_labs_are_named(tmp_path: Path) -> None:
    (tmp_path / "solutions").mkdir()
    shutil.copy(FIXTURES / "99_solution.ipynb", tmp_path / "solutions" / "99_fixture.ipynb")
    lab_dir = tmp_path / "labs"
    assert labs.stale_files(tmp_path, tmp_path / "solutions", lab_dir) == [
        "labs/99_fixture.ipynb is missing (run `make labs`)"
    ]
    assert labs.write(tmp_path, tmp_path / "solutions", lab_dir) == ["labs/99_fixture.ipynb"]
    assert labs.stale_files(tmp_path, tmp_path / "solutions", lab_dir) == []

    lab = lab_dir / "99_fixture.ipynb"
    lab.write_text(lab.read_text().replace("YOUR CODE HERE", "YOUR CODE THERE"))
    [problem] = labs.stale_files(tmp_path, tmp_path / "solutions", lab_dir)
    assert problem.startswith("labs/99_fixture.ipynb is stale")

    (lab_dir / "42_orphan.ipynb").write_text("{}")
    assert "labs/42_orphan.ipynb has no solution notebook" in labs.stale_files(
        tmp_path, tmp_path / "solutions", lab_dir
    )


def test_work_copies_are_made_once_and_never_overwritten(tmp_path: Path) -> None:
    lab_dir, work_dir = tmp_path / "labs", tmp_path / "work"
    lab_dir.mkdir()
    (lab_dir / "01_x.ipynb").write_text("lab one")
    (lab_dir / "02_y.ipynb").write_text("lab two")
    work_dir.mkdir()
    (work_dir / "01_x.ipynb").write_text("my evening's work")

    assert labs.copy_to_work(lab_dir, work_dir) == [work_dir / "02_y.ipynb"]
    assert (work_dir / "01_x.ipynb").read_text() == "my evening's work"
    assert (work_dir / "02_y.ipynb").read_text() == "lab two"

    (lab_dir / "02_y.ipynb").write_text("regenerated")
    assert labs.copy_to_work(lab_dir, work_dir) == []
    assert (work_dir / "02_y.ipynb").read_text() == "lab two"
