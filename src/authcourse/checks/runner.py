"""Runs an exercise's cases and reports the results in one schema.

Two ways to run the same cases:

- :func:`run_exercise` runs each case in a daemon thread of this process, with a timeout.
  The test suite and the grader's agent use it. A case that never finishes keeps spinning
  in its thread: it is reported, and the cases after it are not run (they would only
  compete with it for the interpreter and time out falsely).
- :func:`run_exercise_isolated` (Linux) runs the cases in a forked child process whose
  output goes nowhere, so a case that never finishes is killed with its process and the
  remaining cases run in a fresh child. ``check()``/``check_all()`` use it where the
  platform allows; elsewhere they tell the learner plainly to restart the kernel.

Everything a learner's object can do while being looked at (``str()``, ``repr()``, an
exception's ``__str__``) happens inside the case's thread, under the same timeout, so a
``__str__`` that raises or never returns costs that one case, never the caller.

Results cross process boundaries (forked child → ``check()``, grader agent → grader) as
plain dicts: :meth:`ExerciseResult.as_dict` and :meth:`ExerciseResult.from_dict`, which
trusts nothing it is given (it re-applies the positive-case rule itself).
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import json
import os
import select
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from authcourse.checks import borrowing
from authcourse.checks.registry import Case, CaseFunction, CheckFailed, Exercise, Namespace

#: A case that takes longer than this is reported as not finished (most likely stuck).
CASE_TIMEOUT_SECONDS = 10.0

#: Longer messages (a learner's value printed with ``repr``) are cut to this many characters.
MESSAGE_LIMIT = 300

#: True where a runaway case can be killed: cases then run in a forked child process.
CAN_ISOLATE = sys.platform == "linux" and hasattr(os, "fork")

RESTART_ADVICE = (
    "it may still be running in the background: restart the kernel (Kernel → Restart"
    " Kernel) before you check again"
)


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_STARTED = "not started"
    CRASHED = "crashed"

    @property
    def icon(self) -> str:
        return {"passed": "✅", "failed": "❌", "not started": "⏳", "crashed": "💥"}[self.value]


@dataclass(frozen=True)
class CaseResult:
    description: str
    status: Status
    message: str = ""
    #: The case did not finish within the timeout (an endless loop, a blocking call...).
    timed_out: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "status": self.status.value,
            "message": self.message,
            "timed_out": self.timed_out,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseResult:
        """The result in ``data``; ``ValueError`` unless every field has its exact type."""
        description, status, message = data["description"], data["status"], data["message"]
        timed_out = data.get("timed_out", False)
        if not (type(description) is type(status) is type(message) is str):
            raise ValueError("a case result's fields must be strings")
        if type(timed_out) is not bool:
            raise ValueError("a case result's timed_out must be a bool")
        return cls(description, Status(status), message, timed_out)


@dataclass(frozen=True)
class ExerciseResult:
    exercise: Exercise
    cases: tuple[CaseResult, ...]
    #: Names the exercise needs that the namespace does not define (then nothing ran).
    missing: tuple[str, ...] = ()

    @property
    def passed(self) -> int:
        return sum(result.status is Status.PASSED for result in self.cases)

    @property
    def score(self) -> float:
        """Points earned: the exercise's points in proportion to the cases passed."""
        if not self.cases:
            return 0.0
        return round(self.exercise.points * self.passed / len(self.cases), 2)

    @property
    def status(self) -> Status:
        """The exercise as a whole: passed only if every case passed."""
        statuses = {result.status for result in self.cases}
        if statuses == {Status.PASSED}:
            return Status.PASSED
        if statuses == {Status.NOT_STARTED}:
            return Status.NOT_STARTED
        if Status.CRASHED in statuses and Status.PASSED not in statuses:
            return Status.CRASHED
        return Status.FAILED

    @property
    def timed_out(self) -> bool:
        return any(case.timed_out for case in self.cases)

    def as_dict(self) -> dict[str, Any]:
        """The one schema results travel in (JSON-safe: strings, numbers, lists, bools)."""
        return {
            "id": self.exercise.id,
            "points": self.exercise.points,
            "score": self.score,
            "status": self.status.value,
            "missing": list(self.missing),
            "cases": [case.as_dict() for case in self.cases],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], exercise: Exercise) -> ExerciseResult:
        """Rebuild a result for ``exercise`` from :meth:`as_dict` output.

        Nothing in ``data`` is believed beyond the case statuses: the cases must be the
        exercise's own, in order; the score is recomputed; refusals count only after the
        positive cases pass. ``ValueError`` for anything that does not fit.
        """
        if data.get("id") != exercise.id:
            raise ValueError(f"a result for {data.get('id')!r} is not one for {exercise.id}")
        cases = tuple(CaseResult.from_dict(case) for case in data["cases"])
        expected = [case.description for case in exercise.cases]
        if [case.description for case in cases] != expected:
            raise ValueError(f"the result's cases are not those of exercise {exercise.id}")
        missing = data.get("missing", [])
        if type(missing) is not list or any(type(name) is not str for name in missing):
            raise ValueError("missing names must be a list of strings")
        gated = count_refusals_only_after_positives(exercise, list(cases))
        return cls(exercise, tuple(gated), tuple(missing))


def not_started(exercise: Exercise, missing: Sequence[str]) -> ExerciseResult:
    """Every case ⏳ because the namespace lacks ``missing`` names."""
    names = ", ".join(f"`{name}`" for name in missing)
    message = f"{names} is not defined yet: run the exercise's code cell first"
    cases = tuple(
        CaseResult(case.description, Status.NOT_STARTED, message) for case in exercise.cases
    )
    return ExerciseResult(exercise, cases, tuple(missing))


def missing_names(exercise: Exercise, namespace: Namespace) -> list[str]:
    return [name for name in exercise.needs if name not in namespace]


def borrowed_answer(exercise: Exercise, namespace: Namespace) -> ExerciseResult | None:
    """Every case failed, with the reason, if a needed name is the course's own answer."""
    found = borrowing.borrowed(exercise, namespace)
    if not found:
        return None
    note = shorten(borrowing.message(found), 2 * MESSAGE_LIMIT)
    cases = tuple(CaseResult(case.description, Status.FAILED, note) for case in exercise.cases)
    return ExerciseResult(exercise, cases)


def run_exercise(exercise: Exercise, namespace: Namespace) -> ExerciseResult:
    """Run every case of ``exercise`` against the learner's ``namespace``, in this process."""
    missing = missing_names(exercise, namespace)
    if missing:
        return not_started(exercise, missing)
    borrowed = borrowed_answer(exercise, namespace)
    if borrowed is not None:
        return borrowed
    results: list[CaseResult] = []
    for case in exercise.cases:
        if results and results[-1].timed_out:
            results.append(_not_run_after_runaway(case))
            continue
        results.append(run_case(case, namespace))
    return ExerciseResult(exercise, tuple(count_refusals_only_after_positives(exercise, results)))


Observer = Callable[[], list[str]]


def run_exercise_isolated(
    exercise: Exercise,
    namespace: Namespace,
    timeout: float | None = None,
    *,
    observe: Observer | None = None,
    observed: list[str] | None = None,
) -> ExerciseResult:
    """Like :func:`run_exercise`, in forked children that are killed if a case runs away.

    Linux only (:data:`CAN_ISOLATE`); the learner's process is never changed by the cases.
    The grader's agent passes ``observe``: each child calls it once its cases are done, and
    what it returns (what the learner's code changed while the checks ran) is appended to
    ``observed``.
    """
    missing = missing_names(exercise, namespace)
    if missing:
        return not_started(exercise, missing)
    borrowed = borrowed_answer(exercise, namespace)
    if borrowed is not None:
        return borrowed
    limit = CASE_TIMEOUT_SECONDS if timeout is None else timeout
    results: list[CaseResult] = []
    while len(results) < len(exercise.cases):
        results.extend(
            _run_in_child(exercise.cases[len(results) :], namespace, limit, observe, observed)
        )
    return ExerciseResult(exercise, tuple(count_refusals_only_after_positives(exercise, results)))


def count_refusals_only_after_positives(
    exercise: Exercise, results: list[CaseResult]
) -> list[CaseResult]:
    # A refusal passes trivially for code that refuses everything, returns nothing or always
    # raises; it is evidence only once the same code passes the exercise's positive cases.
    unpassed = [
        case.description
        for case, result in zip(exercise.cases, results, strict=True)
        if case.positive and result.status is not Status.PASSED
    ]
    if not unpassed:
        return results
    waiting_for = " and ".join(f"“{description}”" for description in unpassed)
    return [
        CaseResult(
            result.description,
            Status.FAILED,
            f"not counted until {waiting_for} passes: refusing is only evidence when the same"
            " code also accepts what it must accept",
        )
        if result.status is Status.PASSED and not case.positive
        else result
        for case, result in zip(exercise.cases, results, strict=True)
    ]


def run_case(case: Case, namespace: Namespace, timeout: float | None = None) -> CaseResult:
    """One case in a daemon thread; the result is also *described* in that thread."""
    limit = CASE_TIMEOUT_SECONDS if timeout is None else timeout
    outcome: list[CaseResult] = []

    def target() -> None:
        try:
            _call_case(case.run, namespace)
        except BaseException as error:  # a learner's bug must become a row, not a crash
            outcome.append(_describe(case, error))
        else:
            outcome.append(CaseResult(case.description, Status.PASSED))

    # A daemon thread, not a pool: a learner's endless loop must not keep check() (or the
    # kernel's shutdown) waiting once the timeout has been reported.
    worker = threading.Thread(target=target, name="authcourse-case", daemon=True)
    worker.start()
    worker.join(limit)
    if not outcome:
        return _runaway(case, limit, RESTART_ADVICE)
    return outcome[0]


def _runaway(case: Case, limit: float, what_now: str) -> CaseResult:
    return CaseResult(
        case.description,
        Status.CRASHED,
        f"did not finish within {limit:g} s (an endless loop or a blocking call?); {what_now}",
        timed_out=True,
    )


def _not_run_after_runaway(case: Case) -> CaseResult:
    return CaseResult(
        case.description,
        Status.CRASHED,
        "not run: an earlier case did not finish and may still be running; restart the kernel"
        " and check again",
    )


def _describe(case: Case, error: BaseException) -> CaseResult:
    # Runs in the case's thread: a learner's exception may have a __str__ that raises or
    # never returns, and that must cost this case only.
    try:
        if isinstance(error, CheckFailed):
            message = (
                f"{_text(error.tried)}: expected {_text(error.expected)},"
                f" but got {_text(error.actual)}"
            )
            return CaseResult(case.description, Status.FAILED, shorten(message))
        if _is_unfinished_stub(error):
            return CaseResult(
                case.description, Status.NOT_STARTED, "the stub still raises NotImplementedError"
            )
        return CaseResult(case.description, Status.CRASHED, shorten(describe_crash(error)))
    except BaseException:
        return CaseResult(
            case.description,
            Status.CRASHED,
            "raised an exception whose message could not be shown (its __str__ failed)",
        )


def _text(value: object) -> str:
    return value if type(value) is str else repr(value)


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _call_case(run: CaseFunction, namespace: Namespace) -> None:
    outcome = run(namespace)
    if inspect.isawaitable(outcome):
        asyncio.run(_await(outcome))


async def _await(awaitable: Awaitable[None]) -> None:
    await awaitable


def _is_unfinished_stub(error: BaseException) -> bool:
    # An app may wrap the learner's exception in an ExceptionGroup (anyio task groups).
    # An app may also re-raise it as the explicit cause of its own error.
    if isinstance(error, NotImplementedError):
        return True
    if isinstance(error, BaseExceptionGroup):
        return any(_is_unfinished_stub(inner) for inner in error.exceptions)
    return error.__cause__ is not None and _is_unfinished_stub(error.__cause__)


def describe_crash(error: BaseException) -> str:
    """The exception in one line plus the learner's own line that raised it, if any."""
    summary = f"{type(error).__name__}: {error}".strip().rstrip(":")
    learner_line = _learner_frame(error)
    return f"{summary} (at {learner_line})" if learner_line else summary


def _learner_frame(error: BaseException) -> str | None:
    # Notebook cells are compiled with file names like "<ipython-input-3-…>" or
    # "/tmp/ipykernel_123/456.py"; the innermost such frame is the learner's own line.
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        filename = frame.filename
        if (
            filename.startswith("<ipython-input")
            or "ipykernel_" in filename
            or filename.startswith("<learner")
        ):
            text = (frame.line or "").strip()
            return f"your line `{text}`" if text else f"line {frame.lineno} of your code"
    return None


# --- forked children (Linux) ---------------------------------------------------------------

_STOPPED = "it was stopped, and the other cases ran separately"
_CHILD_DIED = (
    "the process running this case ended abruptly (os._exit, a signal or a crash in native code?)"
)


def _run_in_child(
    cases: Sequence[Case],
    namespace: Namespace,
    limit: float,
    observe: Observer | None = None,
    observed: list[str] | None = None,
) -> list[CaseResult]:
    """Run ``cases`` in one forked child until they are done or one of them runs away.

    Returns at least one result: the child streams one JSON line per finished case; a case
    that has not answered ``limit`` + 2 s after the previous one is reported as a runaway and
    the child is killed with it; a child that ends early costs the case it was running.
    """
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a threaded process may deadlock the child: the
        # child touches no lock the kernel's threads hold (no output, no ZMQ) and is
        # killed by the deadline if it ever hangs.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, reported through the pipe
        os.close(read_end)
        _child_main(cases, namespace, limit, write_end, observe)
    os.close(write_end)
    results: list[CaseResult] = []
    buffer = b""
    try:
        while len(results) < len(cases):
            line, buffer, ended = _read_line(read_end, buffer, limit + 2.0)
            if line is None:
                case = cases[len(results)]
                results.append(
                    _runaway(case, limit, _STOPPED)
                    if not ended
                    else CaseResult(case.description, Status.CRASHED, _CHILD_DIED)
                )
                break
            result = _case_from_line(line, cases[len(results)])
            if result.timed_out:
                result = _runaway(cases[len(results)], limit, _STOPPED)
            results.append(result)
            if result.timed_out:
                break
        if observe is not None and observed is not None and not results[-1].timed_out:
            line, buffer, ended = _read_line(read_end, buffer, 5.0)
            observed.extend(_findings_from_line(line))
    finally:
        os.close(read_end)
        _end_child(pid)
    return results


def _findings_from_line(line: bytes | None) -> list[str]:
    if line is None:
        return ["the checks' process gave no report of what changed"]
    try:
        found = json.loads(line)["findings"]
    except (ValueError, KeyError, TypeError):
        return ["the checks' process sent an unreadable report"]
    if type(found) is not list or any(type(item) is not str for item in found):
        return ["the checks' process sent an unreadable report"]
    return list(found)


def _child_main(
    cases: Sequence[Case],
    namespace: Namespace,
    limit: float,
    out: int,
    observe: Observer | None = None,
) -> None:
    try:
        # No output from here on: the kernel's streams (and their ZMQ sockets) belong to the
        # parent, and a learner's prints in a check are not part of the result.
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        sys.stdout = sys.stderr = open(os.devnull, "w")
        _mute_ipython()
        for case in cases:
            result = run_case(case, namespace, limit)
            os.write(out, (json.dumps(result.as_dict()) + "\n").encode())
            if result.timed_out:
                break
        else:
            if observe is not None:
                os.write(out, (json.dumps({"findings": observe()}) + "\n").encode())
    finally:
        os._exit(0)


def _mute_ipython() -> None:
    # display() in a learner's function would publish over the parent's ZMQ sockets.
    shell = getattr(sys.modules.get("builtins"), "get_ipython", None)
    try:
        ipython = shell() if callable(shell) else None
        if ipython is not None:
            ipython.display_pub.publish = lambda *args, **kwargs: None
    except Exception:  # best effort: a child without IPython has nothing to mute
        pass


def _read_line(fd: int, buffer: bytes, timeout: float) -> tuple[bytes | None, bytes, bool]:
    """The next line from ``fd`` within ``timeout`` s: (line, rest, ended)."""
    deadline = time.monotonic() + timeout
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, buffer, False
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None, buffer, False
        chunk = os.read(fd, 65536)
        if not chunk:
            return None, buffer, True
        buffer += chunk
    line, _, rest = buffer.partition(b"\n")
    return line, rest, False


def _case_from_line(line: bytes, case: Case) -> CaseResult:
    try:
        result = CaseResult.from_dict(json.loads(line))
    except (ValueError, KeyError, TypeError):
        return CaseResult(case.description, Status.CRASHED, _CHILD_DIED)
    if result.description != case.description:
        return CaseResult(case.description, Status.CRASHED, _CHILD_DIED)
    return result


def _end_child(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
