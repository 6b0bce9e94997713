"""Runs one submission in fresh agent processes and brings its exercises' results back.

A submission's cells run one at a time in an agent process (:mod:`.agent`), each with a
deadline. A cell that does not finish, or kills its process, is dropped and the rest run
again in a fresh process; so is an exercise whose checks do not finish. Cells that only call
``check``/``check_all``/``hint`` are skipped. Results come back over a private socket, in the
checks' one schema, and are rebuilt against the grader's own copy of the checks
(:meth:`ExerciseResult.from_dict`): the agent's word is taken for case statuses only.
"""

from __future__ import annotations

import hmac
import re
import secrets
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from authcourse.checks import registry
from authcourse.checks.runner import CAN_ISOLATE, CaseResult, ExerciseResult, Status, shorten
from authcourse.grading import processes
from authcourse.grading.model import Settings
from authcourse.grading.sandbox import Course, GraderError
from authcourse.grading.scan import is_front_end_cell

_CELL_FILE = re.compile(r"\([^()]*?(?:\d+\.py|<ipython-input-[^>]*>), (line \d+)\)")
_STARTUP_SECONDS = 60.0


@dataclass(frozen=True)
class LearnerCell:
    number: int  # 1-based position in the submitted notebook, as the learner sees it
    source: str


@dataclass
class KernelRun:
    """What happened: per-exercise results (if the checks ran), notes and findings."""

    exercises: dict[str, ExerciseResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Why the checks did not run at all (out of time, the process kept dying...), else "".
    failure: str = ""
    #: What the agent saw reach into the machinery: (where, what), where = "cell N" or
    #: "the checks".
    findings: list[tuple[str, str]] = field(default_factory=list)
    output_bytes: int = 0

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def found(self, where: str, what: str) -> None:
        if (where, what) not in self.findings:
            self.findings.append((where, what))


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


class Forged(ValueError):
    """A message on the agent's socket that the agent did not sign (learner code wrote it)."""


class _Restart(Exception):
    """The current process must be replaced (a cell or an exercise did not finish)."""


class Agent:
    """One agent process (under its reaper) and the socket to it."""

    def __init__(self, course: Course, workdir: Path, chapter: str, settings: Settings) -> None:
        self.workdir = workdir
        self.key = secrets.token_bytes(32)
        self.received = 0
        ours, theirs = socket.socketpair()
        self.socket = ours
        env = course.environment(workdir)
        env["AUTHCOURSE_PASS_FDS"] = str(theirs.fileno())
        argv = [
            sys.executable, "-I", "-c", course.reaper_source,
            sys.executable, "-c", course.agent_source, str(theirs.fileno()),
        ]  # fmt: skip
        self.process = processes.spawn(
            lambda: subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=workdir / "cwd",
                env=env,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        )
        theirs.close()
        self.output_bytes = 0
        self._drain = threading.Thread(target=self._count_output, daemon=True)
        self._drain.start()
        self.send(
            {
                "op": "hello",
                "chapter": chapter,
                "site": str(workdir / "site"),
                "case_timeout": settings.case_timeout,
                "read_roots": [str(root) for root in course.read_roots],
                "write_roots": [str(root) for root in course.write_roots],
                "key": self.key.hex(),
            }
        )

    def _count_output(self) -> None:
        # Output is counted and thrown away unread: only errors matter, and they come back
        # over the socket.
        stream = self.process.stdout
        assert stream is not None
        while chunk := stream.read(65536):
            self.output_bytes += len(chunk)

    def send(self, message: dict[str, Any]) -> None:
        data = _encode(message)
        self.socket.settimeout(10)
        self.socket.sendall(struct.pack(">I", len(data)) + data)

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next message: TimeoutError if it did not come in time, EOFError if the agent
        died."""
        until = time.monotonic() + max(0.05, timeout)
        (size,) = struct.unpack(">I", self._exactly(4, until))
        envelope = _decode(self._exactly(size, until))
        self.received += 1
        body, mac = envelope.get("body"), envelope.get("mac")
        if not isinstance(body, str) or not isinstance(mac, str):
            raise Forged("an unsigned message")
        expected = hmac.digest(self.key, f"{self.received}:{body}".encode(), "sha256").hex()
        if envelope.get("seq") != self.received or not hmac.compare_digest(mac, expected):
            raise Forged("a message the agent did not sign")
        return _decode(body.encode("utf-8"))

    def _exactly(self, size: int, until: float) -> bytes:
        data = b""
        while len(data) < size:
            remaining = until - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.socket.settimeout(remaining)
            chunk = self.socket.recv(size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def close(self) -> None:
        """End the agent and everything it started: the reaper does it when stdin closes."""
        self.socket.close()
        assert self.process.stdin is not None
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        processes.ended(self.process.pid)
        self._drain.join(timeout=5)


def run_submission(
    cells: list[LearnerCell],
    chapter: str,
    settings: Settings,
    course: Course,
    *,
    without: frozenset[int] = frozenset(),
) -> KernelRun:
    """Run ``cells`` (except the numbers in ``without``), then the chapter's checks."""
    run = KernelRun()
    exercises = registry.chapter_exercises(chapter)
    pending = [ex.id for ex in exercises]
    dropped: set[int] = set()
    deadline = time.monotonic() + settings.total_timeout
    with tempfile.TemporaryDirectory(prefix="authcourse-grade-") as tmp:
        for attempt in range(settings.restarts + 1):
            workdir = course.prepare(Path(tmp) / f"run{attempt}")
            agent = Agent(course, workdir, chapter, settings)
            try:
                _session(agent, cells, without | dropped, dropped, pending, settings, deadline, run)
                break
            except _Restart:
                if attempt == settings.restarts or time.monotonic() >= deadline:
                    run.failure = "the checks did not run: the kernel kept dying or getting stuck"
                    break
            finally:
                agent.close()
                run.output_bytes += agent.output_bytes
    for id in pending:
        run.exercises.pop(id, None)
    if run.output_bytes > settings.output_limit:
        run.note(
            f"the notebook printed more than {settings.output_limit // 1_000_000 or 1} MB;"
            " the extra output was discarded"
        )
    return run


def _session(
    agent: Agent,
    cells: list[LearnerCell],
    skip: set[int] | frozenset[int],
    dropped: set[int],
    pending: list[str],
    settings: Settings,
    deadline: float,
    run: KernelRun,
) -> None:
    try:
        ready = agent.receive(_STARTUP_SECONDS)
    except (EOFError, TimeoutError):
        raise GraderError("the grading process did not start (is the course installed?)") from None
    if ready is None or ready.get("op") != "ready":
        detail = ready.get("error", "") if ready else ""
        raise GraderError(f"the grading process could not load the checks: {detail}")
    for cell in cells:
        if cell.number in skip:
            continue
        if time.monotonic() >= deadline:
            run.note(f"cells from {cell.number} on were not run: out of time")
            run.failure = "the checks did not run: the whole notebook took too long"
            return
        limit = min(settings.cell_timeout, deadline - time.monotonic())
        try:
            agent.send({"op": "cell", "number": cell.number, "source": cell.source})
            reply = agent.receive(limit)
        except TimeoutError:
            dropped.add(cell.number)
            run.note(
                f"cell {cell.number} did not finish within {settings.cell_timeout:g} s (an"
                " endless loop?): it was dropped and the rest ran again in a fresh kernel"
            )
            raise _Restart from None
        except Forged:
            run.found(f"cell {cell.number}", "writes forged messages to the grader's socket")
            dropped.add(cell.number)
            raise _Restart from None
        except (EOFError, OSError, ValueError):
            dropped.add(cell.number)
            run.note(f"the kernel died while running cell {cell.number}")
            run.note(f"graded again in a fresh kernel without cell {cell.number}")
            raise _Restart from None
        _cell_reply(reply, cell, run)
    _grade(agent, pending, settings, deadline, run)


def _cell_reply(reply: dict[str, Any], cell: LearnerCell, run: KernelRun) -> None:
    for where, what in reply.get("findings", []):
        run.found(str(where), str(what))
    error = reply.get("error")
    if error:
        name, value = str(error[0]), str(error[1])
        value = _CELL_FILE.sub(r"(\1)", value)
        text = " ".join((f"{name}: {value}" if value else name).split())
        run.note(f"cell {cell.number} raised {shorten(text, 160)}")


def _grade(
    agent: Agent, pending: list[str], settings: Settings, deadline: float, run: KernelRun
) -> None:
    nonce = secrets.token_hex(16)
    agent.send({"op": "grade", "nonce": nonce, "exercises": list(pending)})
    for id in list(pending):
        exercise = registry.get_exercise(id)
        limit = (settings.case_timeout + 3.0) * max(1, len(exercise.cases)) + 2.0
        try:
            message = agent.receive(min(limit, max(1.0, deadline - time.monotonic() + 5.0)))
        except Forged:
            run.found("the checks", "a forged message reached the grader's socket")
            raise _Restart from None
        except (TimeoutError, EOFError, OSError, ValueError) as error:
            pending.remove(id)
            run.exercises[id] = _unfinished(exercise, error)
            run.note(
                f"{id}: the checks did not finish (an endless loop, or the process ended);"
                " the other exercises were checked in a fresh kernel"
            )
            raise _Restart from None
        pending.remove(id)
        if message is None or message.get("nonce") != nonce or message.get("op") != "exercise":
            run.note(f"{id}: the result was missing or forged (tampering?)")
            run.exercises[id] = _unfinished(exercise, None)
            continue
        try:
            run.exercises[id] = ExerciseResult.from_dict(message["result"], exercise)
        except (KeyError, TypeError, ValueError):
            run.note(f"{id}: the result did not match the checks (tampering?)")
            run.exercises[id] = _unfinished(exercise, None)
            continue
        if run.exercises[id].timed_out and not CAN_ISOLATE and pending:
            # Without forked children the runaway case still spins in the agent and would
            # starve the next exercises: check them in a fresh process.
            run.note(f"{id}: a case did not finish; the other exercises ran in a fresh kernel")
            raise _Restart
    try:
        done = agent.receive(10.0)
    except Forged:
        run.found("the checks", "a forged message reached the grader's socket")
        return
    except (TimeoutError, EOFError, OSError, ValueError):
        done = None
    if done is None or done.get("nonce") != nonce:
        run.found("the checks", "the agent's final report was missing or forged")
        return
    for where, what in done.get("findings", []):
        run.found(str(where), str(what))


def _unfinished(exercise: registry.Exercise, error: BaseException | None) -> ExerciseResult:
    message = (
        "not graded: the checks did not finish"
        if isinstance(error, TimeoutError)
        else "not graded: no trustworthy result"
    )
    cases = tuple(CaseResult(c.description, Status.CRASHED, message) for c in exercise.cases)
    return ExerciseResult(exercise, cases)


def _encode(message: dict[str, Any]) -> bytes:
    import json

    return json.dumps(message).encode("utf-8")


def _decode(data: bytes) -> dict[str, Any]:
    import json

    value = json.loads(data.decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("not a message")
    return value
