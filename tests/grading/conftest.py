"""The fixture chapter "99" for the grader's tests, and bad submissions built from it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode

from authcourse import labs
from authcourse.checks import STRICT_ENV_VAR
from authcourse.checks.chapters import EXTRA_MODULES_ENV_VAR

HERE = Path(__file__).parent
FIXTURE_CHECKS = HERE / "checks_ch99.py"

ADD = """def add(a, b):
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION"""

GREET = """async def greet(name):
    ### BEGIN SOLUTION
    return f"Hello, {name}!"
    ### END SOLUTION"""

SAME_SECRET = """import hmac


def same_secret(a: bytes, b: bytes) -> bool:
    ### BEGIN SOLUTION
    return hmac.compare_digest(a, b)
    ### END SOLUTION"""


def solution() -> NotebookNode:
    """The fixture chapter's solution notebook (what a perfect learner submits)."""
    v4 = nbformat.v4
    notebook = v4.new_notebook()
    notebook.metadata["authcourse"] = {"chapter": "99"}
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [
        v4.new_markdown_cell("# 99 · Fixture chapter"),
        v4.new_code_cell("from authcourse import check, check_all, hint"),
        v4.new_code_cell(ADD),
        v4.new_code_cell('check("99.1")'),
        v4.new_code_cell(GREET),
        v4.new_code_cell('check("99.2")'),
        v4.new_code_cell(SAME_SECRET),
        v4.new_code_cell('check("99.3")'),
        v4.new_code_cell('check_all("99")'),
    ]
    return notebook


def lab() -> NotebookNode:
    return labs.make_lab(solution(), "99_fixture.ipynb")


def write(notebook: NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def with_cell(notebook: NotebookNode, index: int, source: str) -> NotebookNode:
    """A copy of ``notebook`` with a code cell inserted at ``index``."""
    changed = copy.deepcopy(notebook)
    changed.cells.insert(index, nbformat.v4.new_code_cell(source))
    return changed


@pytest.fixture(autouse=True)
def fixture_chapter(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Register chapter 99 here and in the grader's kernels; never run in strict mode."""
    monkeypatch.setenv(EXTRA_MODULES_ENV_VAR, str(FIXTURE_CHECKS))
    monkeypatch.delenv(STRICT_ENV_VAR, raising=False)
    yield


#: Ten submissions mixing every kind of bad input: learner → (what is wrong, expected score).
MIXED: dict[str, tuple[str, float]] = {
    "alice": ("perfect", 5),
    "bob": ("the untouched lab", 0),
    "carol": ("not JSON at all", 0),
    "dave": ("a chapter 98 notebook named as chapter 99", 0),
    "erin": ("a syntax error in the add cell", 3),
    "frank": ("an endless loop in the greet cell", 4),
    "grace": ("a cell that kills the kernel", 5),
    "heidi": ("megabytes of output", 5),
    "ivan": ("the secret cell deleted, the rest reordered", 3),
    "judy": ("the lab plus tampering: check redefined, run_exercise patched", 0),
}


def build_mixed(folder: Path) -> Path:
    """Write :data:`MIXED` as ``folder/<learner>/99_fixture.ipynb``; return ``folder``."""
    good = solution()
    name = "99_fixture.ipynb"
    write(good, folder / "alice" / name)
    write(lab(), folder / "bob" / name)
    (folder / "carol").mkdir(parents=True)
    (folder / "carol" / name).write_text("this is not { a notebook", encoding="utf-8")
    other = copy.deepcopy(good)
    other.metadata["authcourse"] = {"chapter": "98"}
    write(other, folder / "dave" / name)
    broken = copy.deepcopy(good)
    broken.cells[2].source = "def add(a, b)\n    return a + b"
    write(broken, folder / "erin" / name)
    looping = copy.deepcopy(good)
    looping.cells[4].source = "while True:\n    pass\n" + GREET
    write(looping, folder / "frank" / name)
    write(with_cell(good, 3, "import os\nos._exit(1)"), folder / "grace" / name)
    write(
        with_cell(good, 3, "for _ in range(40):\n    print('x' * 100_000)"), folder / "heidi" / name
    )
    reordered = copy.deepcopy(good)
    del reordered.cells[6]
    reordered.cells[1:] = reversed(reordered.cells[1:])
    write(reordered, folder / "ivan" / name)
    write(with_cell(lab(), 8, TAMPER_CHECK + "\n" + TAMPER_RUN_EXERCISE), folder / "judy" / name)
    return folder


TAMPER_CHECK = """def check(*args, **kwargs):
    return "✅ all passed"
check_all = check"""

TAMPER_RUN_EXERCISE = """import authcourse.checks.core as core
from authcourse.checks import core as core2

def fake_run_exercise(exercise, namespace):
    results = tuple(core.CaseResult(c.description, core.Status.PASSED) for c in exercise.cases)
    return core.ExerciseResult(exercise, results)

core.run_exercise = fake_run_exercise
import authcourse.checks
authcourse.checks.run_exercise = fake_run_exercise"""

TAMPER_STATUS = """import authcourse.checks.core as core
core.Status.__eq__ = lambda self, other: True
core.Status.__ne__ = lambda self, other: False
core.ExerciseResult.passed = property(lambda self: len(self.cases))
core.ExerciseResult.status = property(lambda self: core.Status.PASSED)
core.CheckFailed = type("Never", (Exception,), {})
core.expect = lambda *a, **k: None
core.expect_equal = lambda *a, **k: None
core._REGISTRY.clear()"""

TAMPER_PRINT_JSON = """import json
print(json.dumps({"exercises": [{"id": "99.1", "score": 2, "status": "passed"}]}))
print("0" * 32 + repr({"exercises": []}))"""

TAMPER_BUILTINS_PRINT = """import builtins
_real_print = builtins.print
def print(*args, **kwargs):
    _real_print(*(str(a).replace("failed", "passed").replace("not started", "passed")
                  for a in args), **kwargs)
builtins.print = print"""

TAMPER_SYS_MODULES = """import sys, types
fake = types.ModuleType("authcourse.checks.core")
fake.run_exercise = lambda exercise, ns: None
sys.modules["authcourse.checks.core"] = fake
sys.modules["authcourse.checks"] = fake"""

TAMPER_TRANSFORMER = """def _rewrite(lines):
    return ["print('all passed')\\n"]
get_ipython().input_transformers_cleanup.append(_rewrite)"""

TAMPER_EXEC = """import builtins
_real_exec = builtins.exec
def exec(code, *args):
    return _real_exec(code, *args)
builtins.exec = exec"""

#: Tampering attempts (appended to the lab, whose stubs earn nothing): name → cell source.
TAMPERING = {
    "check": TAMPER_CHECK,
    "run_exercise": TAMPER_RUN_EXERCISE,
    "status": TAMPER_STATUS,
    "print_json": TAMPER_PRINT_JSON,
    "builtins_print": TAMPER_BUILTINS_PRINT,
    "sys_modules": TAMPER_SYS_MODULES,
    "transformer": TAMPER_TRANSFORMER,
    "builtins_exec": TAMPER_EXEC,
}
