"""The canonical correct lab code: the solution notebook's exercise cells, executed here.

Loading them (instead of copying them) keeps one source: the tests below check the very
code that `python -m authcourse execute` proves scores full marks.
"""

from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = ROOT / "solutions" / "02_passwords_sessions.ipynb"
LAB = ROOT / "labs" / "02_passwords_sessions.ipynb"


def notebook_namespace(path: Path) -> dict[str, Any]:
    """Run a lab or solution notebook's definitions (not its checks or demos)."""
    namespace: dict[str, Any] = {"__name__": f"lab02_{path.parent.name}"}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code" or "await " in cell.source.split("\n")[-1]:
            continue
        if cell.source.lstrip().startswith(
            ("check(", "check_all(", "hint(", "async def demo_attack")
        ):
            continue
        exec(compile(cell.source, f"<solution cell {cell.id}>", "exec"), namespace)
    return namespace


NAMESPACE = notebook_namespace(SOLUTION)
globals().update({name: value for name, value in NAMESPACE.items() if not name.startswith("__")})
