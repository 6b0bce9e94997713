"""Notebook → ``clouddocs`` exporter: the chapters are the single source of the reference code.

A code cell whose first line is ``#| export clouddocs.<module>`` is written, in notebook
order, into ``src/clouddocs/<module>.py`` under a banner saying where it came from. The
cell still runs in its notebook, so the code a learner reads is the code that ships.
"""

from __future__ import annotations

import importlib
import linecache
import re
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# ``notebooks`` (nbformat, jsonschema) is imported inside the functions that read notebooks:
# ``%load_ext authcourse.export`` runs in every chapter's setup cell and needs none of it
# (importing it cost every notebook 1-3 s under nbval).

DIRECTIVE = re.compile(r"^#\|\s*export\s+(?P<module>[A-Za-z_][\w.]*)\s*$")
BANNER = (
    "# Generated from {source} — edit the notebook, not this file.\n"
    "# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.\n"
)
BANNER_MARK = "# Generated from notebooks/"
PACKAGE = "clouddocs"


class ExportError(ValueError):
    """A notebook's export directives cannot be turned into modules."""


@dataclass
class _Module:
    source_notebook: str
    chunks: list[str] = field(default_factory=list)


def render(notebook_paths: Iterable[Path], root: Path) -> dict[str, str]:
    """Map each exported module's file name to its full generated text."""
    from authcourse import notebooks

    modules: dict[str, _Module] = {}
    for path in sorted(notebook_paths):
        source_name = notebooks.relative(path, root)
        for index, cell in enumerate(notebooks.read(path).cells):
            if cell.cell_type != "code":
                continue
            lines = notebooks.source_lines(cell)
            match = DIRECTIVE.match(lines[0]) if lines else None
            if not match:
                continue
            file_name = _module_file(match.group("module"), f"{source_name} cell {index + 1}")
            module = modules.setdefault(file_name, _Module(source_name))
            if module.source_notebook != source_name:
                raise ExportError(
                    f"{file_name} is exported from both {module.source_notebook} and"
                    f" {source_name}; a module must come from one chapter"
                )
            module.chunks.append("\n".join(lines[1:]).strip("\n"))
    return {
        name: BANNER.format(source=module.source_notebook)
        + "\n"
        + "\n\n\n".join(module.chunks)
        + "\n"
        for name, module in modules.items()
    }


def _module_file(dotted: str, where: str) -> str:
    package, _, name = dotted.partition(".")
    if package != PACKAGE or not name or "." in name:
        raise ExportError(f"{where}: export target must be `{PACKAGE}.<module>`, got `{dotted}`")
    return f"{name}.py"


def stale_files(root: Path, notebook_dir: Path, package_dir: Path) -> list[str]:
    """Describe every generated file that differs from what the notebooks produce."""
    from authcourse import notebooks

    expected = render(notebook_dir.glob("*.ipynb"), root)
    problems: list[str] = []
    for name, text in sorted(expected.items()):
        target = package_dir / name
        shown = notebooks.relative(target, root)
        if not target.exists():
            problems.append(f"{shown} is missing (run `make export`)")
        elif target.read_text(encoding="utf-8") != text:
            problems.append(
                f"{shown} differs from {_source_of(text)}: it was edited by hand or the"
                " notebook changed (edit the notebook, then run `make export`)"
            )
    for target in sorted(package_dir.glob("*.py")):
        if target.name not in expected and _is_generated(target):
            problems.append(
                f"{notebooks.relative(target, root)} is generated but no notebook exports it any"
                " more (delete it or run `make export`)"
            )
    return problems


def write(root: Path, notebook_dir: Path, package_dir: Path) -> list[str]:
    """Regenerate the package; return the files written or removed."""
    from authcourse import notebooks

    expected = render(notebook_dir.glob("*.ipynb"), root)
    changed: list[str] = []
    for name, text in sorted(expected.items()):
        target = package_dir / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            changed.append(notebooks.relative(target, root))
    for target in sorted(package_dir.glob("*.py")):
        if target.name not in expected and _is_generated(target):
            target.unlink()
            changed.append(f"{notebooks.relative(target, root)} (removed)")
    return changed


def _is_generated(path: Path) -> bool:
    with path.open(encoding="utf-8") as handle:
        return handle.readline().startswith(BANNER_MARK)


def _source_of(text: str) -> str:
    first = text.splitlines()[0]
    return first.removeprefix("# Generated from ").split(" — ")[0]


# --- In the notebook: export cells run as their module ------------------------------------
#
# Without this, a chapter that defines a class in an export cell and later imports the
# generated module gets two copies: SQLAlchemy refuses to define a table twice, and
# ``except InvalidToken`` stops catching the other copy's exception. With the extension
# loaded (``%load_ext authcourse.export``), an export cell runs inside the module object
# registered in ``sys.modules``, so every later import, in the notebook or in another export
# cell, gets the very objects the notebook defined.


def run_export_cell(module_name: str, source: str, notebook_globals: dict[str, Any]) -> None:
    """Execute one export cell inside ``module_name`` and share its names with the notebook."""
    module = _notebook_module(module_name)
    filename = f"<export cell: {module_name}>"
    # Register the source so tracebacks show the learner's lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)
    notebook_globals.update(
        {name: value for name, value in module.__dict__.items() if not name.startswith("__")}
    )


def _notebook_module(module_name: str) -> types.ModuleType:
    existing = sys.modules.get(module_name)
    if existing is not None and getattr(existing, "__notebook__", False):
        return existing  # a later cell of the same module adds to it, as the file would
    # A fresh module even if the generated file was imported earlier: the notebook's cells
    # are the source, and the file may be stale while the chapter is being edited.
    module = types.ModuleType(module_name, f"{module_name}, defined by notebook cells")
    module.__notebook__ = True  # type: ignore[attr-defined]
    sys.modules[module_name] = module
    package_name, _, attribute = module_name.rpartition(".")
    setattr(importlib.import_module(package_name), attribute, module)
    return module


def _transform_export_cell(lines: list[str]) -> list[str]:
    match = DIRECTIVE.match(lines[0].rstrip("\n")) if lines else None
    if not match:
        return lines
    source = "".join(lines[1:])
    return [
        "__import__('authcourse.export').export.run_export_cell("
        f"{match.group('module')!r}, {source!r}, globals())\n"
    ]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext authcourse.export``: run export cells as their ``clouddocs`` module."""
    if _transform_export_cell not in ipython.input_transformers_post:
        ipython.input_transformers_post.append(_transform_export_cell)
