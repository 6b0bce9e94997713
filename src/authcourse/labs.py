"""Solution → lab generator: the solutions are the single source of the labs.

Every region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the nbgrader
convention) becomes ``# YOUR CODE HERE`` + ``raise NotImplementedError()`` at the same
indentation; outputs and execution counts are stripped; cell ids are kept so a learner's
submission can be matched cell by cell to its source.
"""

from __future__ import annotations

import copy
from pathlib import Path

from nbformat import NotebookNode

from authcourse import notebooks

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")


class LabError(ValueError):
    """A solution notebook's markers are unbalanced or misplaced."""


def strip_solutions(source: str, where: str) -> str:
    """Replace each solution region in one cell's source with the stub."""
    output: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise LabError(f"{where} line {number}: {BEGIN} inside another solution region")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            output.extend(indent + stub_line for stub_line in STUB)
        elif marker == END:
            if not inside:
                raise LabError(f"{where} line {number}: {END} without a {BEGIN}")
            inside = False
        elif not inside:
            output.append(line)
    if inside:
        raise LabError(f"{where}: {BEGIN} is never closed by {END}")
    return "\n".join(output)


def make_lab(solution: NotebookNode, where: str) -> NotebookNode:
    """The learner's version of a solution notebook."""
    lab = copy.deepcopy(solution)
    for index, cell in enumerate(lab.cells):
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, f"{where} cell {index + 1}")
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        elif BEGIN in cell.source:
            raise LabError(f"{where} cell {index + 1}: solution markers belong in code cells")
    return lab


def render(solution_dir: Path, root: Path) -> dict[Path, str]:
    """Map each lab file name to its generated text."""
    labs: dict[Path, str] = {}
    for path in sorted(solution_dir.glob("*.ipynb")):
        lab = make_lab(notebooks.read(path), notebooks.relative(path, root))
        labs[Path(path.name)] = notebooks.dumps(lab)
    return labs


def stale_files(root: Path, solution_dir: Path, lab_dir: Path) -> list[str]:
    """Describe every lab that differs from what its solution generates."""
    expected = render(solution_dir, root)
    problems: list[str] = []
    for name, text in expected.items():
        target = lab_dir / name
        shown = notebooks.relative(target, root)
        if not target.exists():
            problems.append(f"{shown} is missing (run `make labs`)")
        elif target.read_text(encoding="utf-8") != text:
            problems.append(
                f"{shown} is stale: it no longer matches solutions/{name} (run `make labs`;"
                " edit the solution, never the lab)"
            )
    for target in sorted(lab_dir.glob("*.ipynb")):
        if Path(target.name) not in expected:
            problems.append(f"{notebooks.relative(target, root)} has no solution notebook")
    return problems


def write(root: Path, solution_dir: Path, lab_dir: Path) -> list[str]:
    """Regenerate labs/; return the files written."""
    lab_dir.mkdir(exist_ok=True)
    changed: list[str] = []
    for name, text in render(solution_dir, root).items():
        target = lab_dir / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            changed.append(notebooks.relative(target, root))
    return changed


def copy_to_work(lab_dir: Path, work_dir: Path) -> list[Path]:
    """Copy each lab that ``work_dir`` does not have yet; return the copies made.

    ``labs/`` is regenerated from ``solutions/`` whenever a solution changes, so learners
    work on their own copies in ``work/``. A copy that exists is never touched: it may hold
    an evening's work.
    """
    work_dir.mkdir(exist_ok=True)
    copied: list[Path] = []
    for lab in sorted(lab_dir.glob("*.ipynb")):
        target = work_dir / lab.name
        try:
            # "x": create only; an existing copy (or a symlink) raises instead of being replaced.
            with target.open("xb") as out:
                out.write(lab.read_bytes())
        except FileExistsError:
            continue
        copied.append(target)
    return copied
