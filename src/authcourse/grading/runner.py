"""Runs one submission in a fresh kernel and brings its exercises' results back.

The learner's code cells run one by one (nbclient, ``allow_errors``: one broken cell does
not hide later exercises) with a per-cell timeout, a total deadline and a cap on the output
looked at. Cells that only call ``check``/``check_all``/``hint`` are skipped. When a cell
kills the kernel, a fresh kernel runs the notebook again without that cell. Then one
request runs the chapter's checks inside the kernel, from private copies of the checks'
source files (see :mod:`authcourse.grading.incell`).
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async
from nbformat import NotebookNode

from authcourse.checks import STRICT_ENV_VAR, chapters, core
from authcourse.grading import incell
from authcourse.grading.model import Settings
from authcourse.grading.scan import is_front_end_cell

TIMEOUT_ERROR = "CellTimeout"
_CELL_FILE = re.compile(r"\([^()]*?\d+\.py, (line \d+)\)")


@dataclass
class KernelRun:
    """What happened in the kernel: per-exercise results (if the checks ran) and notes."""

    exercises: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Why the checks did not run at all (kernel died, tampering detected...), else "".
    failure: str = ""


@dataclass(frozen=True)
class LearnerCell:
    number: int  # 1-based position in the submitted notebook, as the learner sees it
    source: str


class _CappedClient(NotebookClient):
    """A NotebookClient that keeps no outputs, only counts them, and records cell errors."""

    def __init__(self, nb: NotebookNode, output_limit: int, **kwargs: Any) -> None:
        super().__init__(nb, **kwargs)
        self.output_limit = output_limit
        self.output_bytes = 0
        self.errors: dict[int, tuple[str, str]] = {}
        self.on_cell_error = self._record_error

    def output(
        self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None, index: int
    ) -> None:
        # Nothing is kept: the grader only needs errors (they come with the reply).
        if self.output_bytes <= self.output_limit:
            self.output_bytes += len(repr(msg.get("content", {})))
        return None

    def _record_error(
        self, cell: NotebookNode, cell_index: int, execute_reply: dict[str, Any]
    ) -> None:
        content = execute_reply.get("content", {})
        self.errors[cell_index] = (str(content.get("ename", "")), str(content.get("evalue", "")))


def learner_cells(notebook: NotebookNode) -> list[LearnerCell]:
    """The code cells to run, numbered as in the notebook; front-end calls left out."""
    cells: list[LearnerCell] = []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = source if isinstance(source, str) else "".join(source)
        if source.strip() and not is_front_end_cell(source):
            cells.append(LearnerCell(number, source))
    return cells


def run_submission(cells: list[LearnerCell], chapter: str, settings: Settings) -> KernelRun:
    """Run ``cells`` in fresh kernels and then the chapter's checks; never raises."""
    return asyncio.run(_run(cells, chapter, settings))


async def _run(cells: list[LearnerCell], chapter: str, settings: Settings) -> KernelRun:
    deadline = time.monotonic() + settings.total_timeout
    run = KernelRun()
    skipped: set[int] = set()
    output_bytes = 0
    with tempfile.TemporaryDirectory(prefix="authcourse-grade-") as workdir:
        for attempt in range(settings.restarts + 1):
            client = _client(cells, skipped, settings)
            killer: int | None = None
            async with client.async_setup_kernel(
                env=_kernel_env(),
                cwd=workdir,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ):
                killer = await _run_cells(client, cells, skipped, settings, deadline, run)
                if killer is None:
                    if time.monotonic() >= deadline:
                        run.failure = (
                            f"the checks did not run: the whole notebook took longer than"
                            f" {settings.total_timeout:g} s"
                        )
                    else:
                        await _run_checks(client, chapter, settings, deadline, run)
            output_bytes += client.output_bytes
            if killer is None:
                break
            skipped.add(killer)
            run.notes.append(f"the kernel died while running cell {cells[killer].number}")
            if attempt == settings.restarts or time.monotonic() >= deadline:
                run.failure = "the checks did not run: the kernel kept dying"
                break
            run.notes.append(f"graded again in a fresh kernel without cell {cells[killer].number}")
    if output_bytes > settings.output_limit:
        run.notes.append(
            f"the notebook printed more than {settings.output_limit // 1_000_000 or 1} MB;"
            " the extra output was discarded"
        )
    return run


def _client(cells: list[LearnerCell], skipped: set[int], settings: Settings) -> _CappedClient:
    notebook = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    notebook.cells = [
        nbformat.v4.new_code_cell("" if index in skipped else cell.source)  # type: ignore[no-untyped-call]
        for index, cell in enumerate(cells)
    ]
    return _CappedClient(
        notebook,
        settings.output_limit,
        kernel_name="python3",
        timeout=max(1, round(settings.cell_timeout)),
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={"ename": TIMEOUT_ERROR, "evalue": "", "traceback": []},
        iopub_timeout=2,
        record_timing=False,
        shutdown_kernel="immediate",
        startup_timeout=30,
    )


def _kernel_env() -> dict[str, str]:
    env = dict(os.environ)
    # The learner's own check() cells are skipped anyway; strict mode must not leak in.
    env.pop(STRICT_ENV_VAR, None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def _run_cells(
    client: _CappedClient,
    cells: list[LearnerCell],
    skipped: set[int],
    settings: Settings,
    deadline: float,
    run: KernelRun,
) -> int | None:
    """Run every cell; the index of the cell that killed the kernel, or None."""
    for index, cell in enumerate(client.nb.cells):
        if index in skipped or not cell.source.strip():
            continue
        if time.monotonic() >= deadline:
            _note(run, f"cells from {cells[index].number} on were not run: out of time")
            return None
        try:
            await client.async_execute_cell(cell, index)
        except DeadKernelError:
            return index
        error = client.errors.get(index)
        if error is None:
            continue
        name, value = error
        number = cells[index].number
        if name == TIMEOUT_ERROR:
            _note(
                run,
                f"cell {number} timed out after {settings.cell_timeout:g} s (an endless loop?)",
            )
        else:
            _note(run, f"cell {number} raised {_one_line(name, value)}")
    return None


def _note(run: KernelRun, text: str) -> None:
    if text not in run.notes:
        run.notes.append(text)


def _one_line(name: str, value: str) -> str:
    # "(3204.py, line 1)": the kernel's file name for the cell means nothing to anyone.
    value = _CELL_FILE.sub(r"(\1)", value)
    text = f"{name}: {value}" if value else name
    text = " ".join(text.split())
    return core.shorten(text, 160)


async def _run_checks(
    client: _CappedClient, chapter: str, settings: Settings, deadline: float, run: KernelRun
) -> None:
    nonce = secrets.token_hex(16)
    budget = max(1.0, deadline - time.monotonic() - 2.0)
    params = check_params(chapter, nonce, settings.case_timeout, budget)
    assert client.kc is not None
    msg_id = client.kc.execute(
        "",
        silent=True,
        store_history=False,
        user_expressions={"grade": bootstrap_expression(params)},
        allow_stdin=False,
    )
    reply = await _wait_for_reply(client, msg_id, budget + 2.0)
    if reply is None:
        run.failure = "the checks did not finish in time (the kernel was stuck)"
        return
    content = reply.get("content", {})
    value = content.get("user_expressions", {}).get("grade", {})
    if content.get("status") != "ok" or value.get("status") != "ok":
        detail = value.get("ename") or content.get("ename") or "no result"
        run.failure = f"the checks could not run in this notebook ({detail})"
        return
    result = parse_result(str(value.get("data", {}).get("text/plain", "")), nonce)
    if result is None:
        run.failure = "the checks' result was missing or forged (tampering?)"
    elif "tampered" in result:
        run.failure = f"tampering detected: {result['tampered']}"
    else:
        run.exercises = {str(item["id"]): item for item in result.get("exercises", [])}


async def _wait_for_reply(
    client: _CappedClient, msg_id: str, timeout: float
) -> dict[str, Any] | None:
    kc: Any = client.kc
    assert kc is not None
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        try:
            msg: dict[str, Any] = await ensure_async(kc.get_shell_msg(timeout=0.5))
        except Empty:
            if not await ensure_async(kc.is_alive()):
                return None
            continue
        if msg.get("parent_header", {}).get("msg_id") == msg_id:
            return msg
    return None


def check_params(chapter: str, nonce: str, case_timeout: float, budget: float) -> dict[str, Any]:
    """What the in-kernel grader needs: the nonce and the checks' source files."""
    core_file = Path(core.__file__)
    extra = chapters.extra_module_files()
    return {
        "nonce": nonce,
        "chapter": chapter,
        "case_timeout": float(case_timeout),
        "budget": float(budget),
        "core": ["core", str(core_file), core_file.read_text(encoding="utf-8")],
        "chapters": [
            [f"checks_{path.stem}", str(path), path.read_text(encoding="utf-8")]
            for path in chapters.chapter_module_files()
            if path.stem == f"ch{chapter}" or path in extra
        ],
    }


def bootstrap_expression(params: dict[str, Any]) -> str:
    """One expression, evaluated in the learner's namespace, that runs :mod:`incell`.

    It names nothing from that namespace: the real builtins are reached through a
    standard-library class (``os._wrap_close``) and the namespace through a lambda's
    ``__globals__``, so shadowed or redefined names in the notebook do not matter.
    """
    source = Path(incell.__file__).read_text(encoding="utf-8")
    builtins = (
        "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close']"
        "[0].__init__.__globals__['__builtins__']"
    )
    checked = (
        "(__t(__b['exec']) is __t([].append) and __b['exec'].__name__ == 'exec'"
        " and __t(__b['compile']) is __t([].append) and __b['compile'].__name__ == 'compile')"
    )
    scope = (
        f"{{'__builtins__': __b, '__name__': {incell.RUN_NAME!r}, '_PARAMS': {params!r},"
        " '_NAMESPACE': __n}"
    )
    run = (
        f"__b['exec'](__b['compile']({source!r}, '<authcourse-grader>', 'exec',"
        " dont_inherit=True), __g)"
    )
    tampered = repr(params["nonce"] + repr({"tampered": "builtins exec/compile replaced"}))
    return (
        f"[(__g.get('_RESULT') if {run} is None else None) if {checked} else {tampered}"
        f" for __t in [().__class__.__class__] for __n in [(lambda: 0).__globals__]"
        f" for __b in [{builtins}] for __g in [{scope}]][0]"
    )


def parse_result(text: str, nonce: str) -> dict[str, Any] | None:
    """The in-kernel result, or None unless it is a string starting with ``nonce``."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(value, str) or not value.startswith(nonce):
        return None
    try:
        data = ast.literal_eval(value[len(nonce) :])
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


if sys.platform == "win32":  # pragma: no cover - the course runs on Linux and macOS
    asyncio.set_event_loop_policy(asyncio.WindowsSelectorEventLoopPolicy())
