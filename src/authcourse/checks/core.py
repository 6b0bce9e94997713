"""The exercise registry and the machinery that runs an exercise's cases.

An exercise is a handful of *cases*: small functions that take the learner's namespace
(the notebook's globals), exercise what the learner wrote, and either return quietly
(passed) or raise ``CheckFailed`` with what was tried, what was expected and what happened,
in plain words. Cases may be ``async``; each runs on its own fresh event loop in a worker
thread, because a Jupyter kernel already has a loop running in the main thread.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import threading
import traceback
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Namespace = Mapping[str, Any]
CaseFunction = Callable[[Namespace], None | Awaitable[None]]

#: A case that takes longer than this is reported as crashed (it is most likely stuck).
CASE_TIMEOUT_SECONDS = 10.0

#: Longer messages (a learner's value printed with ``repr``) are cut to this many characters.
MESSAGE_LIMIT = 300


class CheckFailed(AssertionError):
    """Raised by a case when the learner's code does the wrong thing.

    ``tried`` says what the case did, ``expected`` what a correct solution does, and
    ``actual`` what happened instead; all three are shown to the learner verbatim.
    """

    def __init__(self, tried: str, expected: str, actual: str) -> None:
        super().__init__(f"{tried}: expected {expected}, got {actual}")
        self.tried = tried
        self.expected = expected
        self.actual = actual


def expect(condition: object, tried: str, expected: str, actual: object) -> None:
    """Fail the case with a plain-words message unless ``condition`` is true."""
    if not condition:
        raise CheckFailed(tried, expected, actual if isinstance(actual, str) else repr(actual))


def expect_equal(actual: object, expected: object, tried: str) -> None:
    """Fail the case unless ``actual == expected``; both are shown with ``repr``."""
    if actual != expected:
        raise CheckFailed(tried, repr(expected), repr(actual))


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_STARTED = "not started"
    CRASHED = "crashed"

    @property
    def icon(self) -> str:
        return {"passed": "✅", "failed": "❌", "not started": "⏳", "crashed": "💥"}[self.value]


@dataclass(frozen=True)
class Case:
    """One behaviour an exercise's solution must have.

    A *positive* case checks that the code accepts or does what it must (a valid token
    verifies, the right password logs in). Every other case is a refusal or a detail, and is
    evidence only when the same code also passes the positive cases: a verifier that refuses
    everything refuses the forged token too, and must not score for it.
    """

    description: str
    run: CaseFunction
    positive: bool = False


@dataclass
class Exercise:
    """A lab exercise: what it is, what the learner must define, and how it is checked."""

    id: str
    title: str
    points: int
    needs: tuple[str, ...]
    hints: tuple[str, ...] = ()
    cases: list[Case] = field(default_factory=list)

    @property
    def chapter(self) -> str:
        return self.id.split(".")[0]

    def case(
        self, description: str, *, positive: bool = False
    ) -> Callable[[CaseFunction], CaseFunction]:
        """Decorator that registers a case; ``positive=True`` marks a happy-path case."""

        def register(run: CaseFunction) -> CaseFunction:
            self.cases.append(Case(description, run, positive))
            return run

        return register


@dataclass(frozen=True)
class CaseResult:
    description: str
    status: Status
    message: str = ""


@dataclass(frozen=True)
class ExerciseResult:
    exercise: Exercise
    cases: tuple[CaseResult, ...]

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


_REGISTRY: dict[str, Exercise] = {}


def exercise(
    id: str, title: str, *, points: int, needs: tuple[str, ...], hints: tuple[str, ...] = ()
) -> Exercise:
    """Create and register an exercise. Chapter modules call this at import time."""
    if id in _REGISTRY:
        raise ValueError(f"exercise {id} is registered twice")
    registered = Exercise(id=id, title=title, points=points, needs=needs, hints=hints)
    _REGISTRY[id] = registered
    return registered


def get_exercise(id: str) -> Exercise:
    _load_chapter_modules(id.split(".")[0])
    try:
        return _REGISTRY[id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(f"there is no exercise {id!r}; known exercises: {known}") from None


def chapter_exercises(chapter: str) -> list[Exercise]:
    _load_chapter_modules(chapter)
    found = [ex for ex in _REGISTRY.values() if ex.chapter == chapter]
    if not found:
        raise KeyError(f"chapter {chapter!r} has no exercises")
    return sorted(found, key=lambda ex: [int(part) for part in ex.id.split(".")])


def all_exercises() -> Iterator[Exercise]:
    _load_chapter_modules()
    yield from _REGISTRY.values()


def _load_chapter_modules(chapter: str | None = None) -> None:
    # Importing the chapter modules registers their exercises. Done lazily so that
    # ``import authcourse`` stays cheap.
    from authcourse.checks import chapters

    chapters.load(chapter)


def run_exercise(exercise: Exercise, namespace: Namespace) -> ExerciseResult:
    """Run every case of ``exercise`` against the learner's ``namespace``."""
    missing = [name for name in exercise.needs if name not in namespace]
    if missing:
        names = ", ".join(f"`{name}`" for name in missing)
        message = f"{names} is not defined yet: run the exercise's code cell first"
        not_started = tuple(
            CaseResult(case.description, Status.NOT_STARTED, message) for case in exercise.cases
        )
        return ExerciseResult(exercise, not_started)
    results = [_run_case(case, namespace) for case in exercise.cases]
    return ExerciseResult(exercise, tuple(_count_refusals_only_after_positives(exercise, results)))


def _count_refusals_only_after_positives(
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


def _run_case(case: Case, namespace: Namespace) -> CaseResult:
    # A daemon thread, not a pool: a learner's endless loop must not keep check() (or the
    # kernel's shutdown) waiting once the timeout has been reported.
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            _call_case(case.run, namespace)
        except BaseException as error:  # a learner's bug must become a row, not a crash
            outcome.append(error)
        else:
            outcome.append(None)

    worker = threading.Thread(target=target, name=f"authcourse-case-{case.description}")
    worker.daemon = True
    worker.start()
    worker.join(CASE_TIMEOUT_SECONDS)
    if not outcome:
        return CaseResult(
            case.description,
            Status.CRASHED,
            f"did not finish within {CASE_TIMEOUT_SECONDS:g} s (an endless loop or a"
            " blocking call?)",
        )
    error = outcome[0]
    if error is None:
        return CaseResult(case.description, Status.PASSED)
    if isinstance(error, CheckFailed):
        return CaseResult(
            case.description,
            Status.FAILED,
            shorten(f"{error.tried}: expected {error.expected}, but got {error.actual}"),
        )
    if _is_unfinished_stub(error):
        return CaseResult(
            case.description, Status.NOT_STARTED, "the stub still raises NotImplementedError"
        )
    return CaseResult(case.description, Status.CRASHED, shorten(describe_crash(error)))


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
