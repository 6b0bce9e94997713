"""Course-wide shape rules every chapter follows (DESIGN §2, §5, §6)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from nbformat import NotebookNode

from authcourse import notebooks
from authcourse.checks.core import chapter_exercises

ROOT = Path(__file__).resolve().parents[1]
TEACHING = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\d\d\.\d+)["']\s*\)""")


def code_cells(path: Path) -> list[NotebookNode]:
    return [
        cell
        for cell in notebooks.read(path).cells
        if cell.cell_type == "code" and cell.source.strip()
    ]


@pytest.mark.parametrize("path", TEACHING + SOLUTIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_executed_top_to_bottom_in_one_run(path: Path) -> None:
    counts = [cell.execution_count for cell in code_cells(path)]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts[:8]}…; re-run it with `make execute`"
    )


@pytest.mark.parametrize("path", TEACHING + SOLUTIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_file_name_is_a_chapter_slug(path: Path) -> None:
    assert notebooks.chapter_of(path), f"{path.name} is not named NN_slug.ipynb"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_lab_checks_every_registered_exercise_once(path: Path) -> None:
    chapter = notebooks.chapter_of(path)
    assert chapter is not None
    registered = [exercise.id for exercise in chapter_exercises(chapter)]
    assert 4 <= len(registered) <= 7, f"chapter {chapter} has {len(registered)} exercises"
    sources = "\n".join(cell.source for cell in code_cells(path))
    assert CHECK_CALL.findall(sources) == registered, (
        f"{path.name} should call check() once per exercise, in order: {registered}"
    )
    assert f'check_all("{chapter}")' in sources


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_every_solution_has_a_teaching_notebook(path: Path) -> None:
    assert (ROOT / "notebooks" / path.name).exists()


def markdown_text(path: Path) -> str:
    return "\n".join(
        cell.source for cell in notebooks.read(path).cells if cell.cell_type == "markdown"
    )


# DESIGN §5: the parts every teaching chapter has, in words a learner can find.
ANATOMY = {
    "a chapter title": re.compile(r"^# Chapter \d+ — ", re.MULTILINE),
    "a time estimate": re.compile(r"\*\*Time[.:]?\*\*", re.IGNORECASE),
    "learning objectives": re.compile(r"^## Learning objectives", re.MULTILINE),
    "a diagram": re.compile(r"```mermaid"),
    "a Break it section": re.compile(r"^#+ .*Break it", re.MULTILINE),
    "a Measure it section": re.compile(r"^#+ .*Measure it", re.MULTILINE),
    "a recap": re.compile(r"^## Recap", re.MULTILINE),
    "the checklist items covered": re.compile(r"^### Pre-launch checklist items", re.MULTILINE),
    "a quiz with answers in <details>": re.compile(r"^### Quiz(?s:.*)<details>", re.MULTILINE),
}


@pytest.mark.parametrize("path", TEACHING, ids=lambda p: p.name)
def test_teaching_notebook_has_the_chapter_anatomy(path: Path) -> None:
    text = markdown_text(path)
    missing = [part for part, pattern in ANATOMY.items() if not pattern.search(text)]
    assert not missing, f"{path.name} lacks {', '.join(missing)} (DESIGN.md §5)"
    # Learners do the lab in their own copy, work/NN_slug.ipynb (made from labs/ by make lab).
    assert f"work/{path.name}" in text, (
        f"{path.name} does not point to the learner's copy of its lab, work/{path.name}"
    )
