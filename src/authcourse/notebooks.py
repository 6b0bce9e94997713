"""Reading, writing, locating and running the course's notebooks.

Shared by export, labs, execute, grade, the chapter tests (``tests/lab_support.py``) and
``make bench``.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any, cast

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


def learner_namespace(path: Path) -> dict[str, Any]:
    """The globals a learner has after running the notebook at ``path`` top to bottom.

    The code cells run in order, in-process, in one namespace, except the cells the grader
    skips too (those that only call ``check``/``check_all``/``hint``) and demo cells with a
    top-level ``await``/``async with``/``async for`` (they need a running event loop; an
    exercise cell must not have one: that raises ``ValueError``). Each cell is compiled
    under the name ``<learner FOLDER/NAME cell N>``, so the case runner reports a crash at
    the learner's own line, as Jupyter would.
    """
    # Imported here: both modules import this one.
    from authcourse.grading.scan import is_front_end_cell
    from authcourse.labs import BEGIN, STUB

    where = f"{path.parent.name}/{path.name}"
    namespace: dict[str, Any] = {"__name__": f"{path.parent.name}_{path.stem}"}
    for number, cell in enumerate(read(path).cells, start=1):
        if cell.cell_type != "code" or is_front_end_cell(cell.source):
            continue
        # dont_inherit: this module's `from __future__ import annotations` must not leak into
        # the notebook's code (FastAPI could no longer resolve a cell's local annotations).
        code = compile(
            cell.source,
            f"<learner {where} cell {number}>",
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            dont_inherit=True,
        )
        if code.co_flags & inspect.CO_COROUTINE:
            if BEGIN in cell.source or STUB[0] in cell.source:
                raise ValueError(
                    f"{where} cell {number} is an exercise cell with a top-level await: move"
                    " the demo into a cell of its own"
                )
            continue
        exec(code, namespace)
    return namespace
