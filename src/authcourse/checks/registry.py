"""The exercise registry: what an exercise is, how its cases are written and looked up.

An exercise is a handful of *cases*: small functions that take the learner's namespace
(the notebook's globals), exercise what the learner wrote, and either return quietly
(passed) or raise ``CheckFailed`` with what was tried, what was expected and what happened,
in plain words. Chapter modules (``chNN.py``) register their exercises here at import time;
:mod:`authcourse.checks.runner` runs them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Namespace = Mapping[str, Any]
CaseFunction = Callable[[Namespace], None | Awaitable[None]]


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
    #: Kept in the instructor's copy only: ``make release`` strips hidden cases.
    hidden: bool = False


@dataclass
class Exercise:
    """A lab exercise: what it is, what the learner must define, and how it is checked."""

    id: str
    title: str
    points: int
    needs: tuple[str, ...]
    hints: tuple[str, ...] = ()
    cases: list[Case] = field(default_factory=list)
    #: The course's own code that answers this exercise ("module.Qualified.name" or the
    #: object): a learner object that is, wraps or calls one of them scores nothing here.
    answered_by: tuple[object, ...] = ()

    @property
    def chapter(self) -> str:
        return self.id.split(".")[0]

    def case(
        self, description: str, *, positive: bool = False, hidden: bool = False
    ) -> Callable[[CaseFunction], CaseFunction]:
        """Decorator that registers a case; ``positive=True`` marks a happy-path case.

        ``hidden=True`` marks a case kept in the instructor's copy only (in the spirit of
        nbgrader's hidden tests): it is graded, and ``make release`` removes it.
        """

        def register(run: CaseFunction) -> CaseFunction:
            self.cases.append(Case(description, run, positive, hidden))
            return run

        return register


_REGISTRY: dict[str, Exercise] = {}


def exercise(
    id: str,
    title: str,
    *,
    points: int,
    needs: tuple[str, ...],
    hints: tuple[str, ...] = (),
    answered_by: tuple[object, ...] = (),
) -> Exercise:
    """Create and register an exercise. Chapter modules call this at import time.

    ``answered_by`` names the course's code that answers the exercise (the reference
    package, a check helper): see :func:`authcourse.checks.borrowing.borrowed`.
    """
    if id in _REGISTRY:
        raise ValueError(f"exercise {id} is registered twice")
    registered = Exercise(
        id=id, title=title, points=points, needs=needs, hints=hints, answered_by=answered_by
    )
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
