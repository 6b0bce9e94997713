"""Reading, writing and locating the course's notebooks (shared by export, labs, execute, grade)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import nbformat
from nbformat import NotebookNode

NOTEBOOK_VERSION = 4
CHAPTER_FILE = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")


def repo_root() -> Path:
    """The repository root: the folder holding pyproject.toml above this package."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "notebooks").is_dir():
            return parent
    raise RuntimeError(
        "could not find the course repository (a folder with pyproject.toml and notebooks/)"
    )


def read(path: Path) -> NotebookNode:
    return cast(NotebookNode, nbformat.read(path, as_version=NOTEBOOK_VERSION))  # type: ignore[no-untyped-call]


def dumps(notebook: NotebookNode) -> str:
    """Serialise exactly as ``nbformat.write`` does, so comparisons are byte-for-byte."""
    return cast(str, nbformat.writes(notebook)) + "\n"  # type: ignore[no-untyped-call]


def chapter_of(path: Path) -> str | None:
    """``"03"`` for ``…/03_jwt.ipynb``; None when the file name is not a chapter's."""
    match = CHAPTER_FILE.match(path.name)
    return match.group(1) if match else None


def source_lines(cell: NotebookNode) -> list[str]:
    source = cell.get("source", "")
    text = source if isinstance(source, str) else "".join(source)
    return text.splitlines()


def relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
