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

# --- issue 12: each listed attack, and further patches of imported machinery -------------

TAMPER_ASYNCIO_RUN = """import asyncio
asyncio.run = lambda coroutine: coroutine.close()"""

TAMPER_USER_EXPRESSIONS = """_shell = get_ipython()
_original = _shell.user_expressions
def _rewrite(expressions):
    reply = _original(expressions)
    for value in reply.values():
        value["data"] = {"text/plain": repr(str(value.get("data")).replace("failed", "passed"))}
    return reply
_shell.user_expressions = _rewrite"""

TAMPER_FAKE_INSPECT = """import sys, types
_fake = types.ModuleType("inspect")
_fake.isawaitable = lambda value: False
_fake.__getattr__ = lambda name: (lambda *a, **k: None)
sys.modules["inspect"] = _fake"""

TAMPER_CORE_ON_DISK = """import authcourse.checks.runner as _runner
from pathlib import Path
_file = Path(_runner.__file__)
_file.write_text(_file.read_text().replace(
    "def run_case(case: Case, namespace: Namespace, timeout: float | None = None) -> CaseResult:",
    "def run_case(case, namespace, timeout=None):\\n    return CaseResult(case.description, Status.PASSED)\\n"
    "def _unused(case: Case, namespace: Namespace, timeout: float | None = None) -> CaseResult:"))"""

TAMPER_RUNNER_FUNCTIONS = """import authcourse.checks.runner as r
r.run_case = lambda case, namespace, timeout=None: r.CaseResult(case.description, r.Status.PASSED)
r.count_refusals_only_after_positives = lambda exercise, results: results"""

TAMPER_AS_DICT = """from authcourse.checks.runner import ExerciseResult
_as_dict = ExerciseResult.as_dict
def _all_passed(self):
    data = _as_dict(self)
    for case in data["cases"]:
        case["status"] = "passed"
    return data
ExerciseResult.as_dict = _all_passed"""

TAMPER_JSON_ENCODER = """import json.encoder
_encode = json.encoder.JSONEncoder.encode
def _encode_passed(self, value):
    return _encode(self, value).replace('"not started"', '"passed"').replace('"failed"', '"passed"')
json.encoder.JSONEncoder.encode = _encode_passed"""

TAMPER_ISAWAITABLE_CODE = """import inspect
inspect.isawaitable.__code__ = (lambda value: False).__code__"""

TAMPER_WAIT_FOR = """import asyncio
async def _answer(awaitable, timeout):
    awaitable.close()
    return "Hello, Ada!"
asyncio.wait_for = _answer"""

TAMPER_OBFUSCATED = """_m = __import__("asyn" + "cio")
_m.__dict__["run"] = lambda coroutine: coroutine.close()"""

TAMPER_LATE_THREAD = """import threading, time
def _later():
    time.sleep(0.2)
    setattr(threading, "excepthook", None)
    getattr(__import__("asyncio"), "__dict__")["run"] = lambda c: c.close()
threading.Thread(target=_later, daemon=True).start()"""

TAMPER_FORGED_REPLY = """import json, os, struct, sys
_fd = int(sys.argv[-1])
_passed = [{"description": d, "status": "passed", "message": "", "timed_out": False}
           for d in ("2 + 3 is 5", "-1 + 1 is 0")]
for _seq, _body in enumerate([{"op": "cell", "error": None, "findings": []},
                              {"op": "exercise", "nonce": "?", "result": {"id": "99.1",
                               "cases": _passed}}], start=1):
    _envelope = json.dumps({"seq": _seq, "body": json.dumps(_body), "mac": "0" * 64}).encode()
    os.write(_fd, struct.pack(">I", len(_envelope)) + _envelope)"""

TAMPER_SUBCLASSES = """_os = [c for c in ().__class__.__base__.__subclasses__()
       if c.__name__ == "_wrap_close"][0].__init__.__globals__
_os["sys"].modules["asyncio"].run = lambda coroutine: coroutine.close()"""

# Patches asyncio only when the checks call it: no cell changes anything while it runs.
TAMPER_WHEN_CALLED = """import asyncio
def add(a, b):
    vars(asyncio)["run"] = lambda coroutine: coroutine.close()
    return a + b"""

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
    # issue 12's list
    "asyncio_run": TAMPER_ASYNCIO_RUN,
    "user_expressions": TAMPER_USER_EXPRESSIONS,
    "fake_inspect": TAMPER_FAKE_INSPECT,
    "core_on_disk": TAMPER_CORE_ON_DISK,
    # further patches of imported machinery
    "runner_functions": TAMPER_RUNNER_FUNCTIONS,
    "as_dict": TAMPER_AS_DICT,
    "json_encoder": TAMPER_JSON_ENCODER,
    "isawaitable_code": TAMPER_ISAWAITABLE_CODE,
    "wait_for": TAMPER_WAIT_FOR,
    "obfuscated": TAMPER_OBFUSCATED,
    "late_thread": TAMPER_LATE_THREAD,
    "forged_reply": TAMPER_FORGED_REPLY,
    "subclasses_escape": TAMPER_SUBCLASSES,
    "when_called": TAMPER_WHEN_CALLED,
}

#: Short timeouts for the grader's tests (make test's budget); the fixture cells are tiny.
FAST = {"cell_timeout": 1.0, "case_timeout": 1.0, "total_timeout": 40.0}
