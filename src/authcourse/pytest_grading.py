"""The pytest route to the batch grader: one test per exercise per submission.

    pytest -p authcourse.pytest_grading --grade submissions/ [--grade-chapter 03] \\
        [--grade-timeout 5] [--grade-jobs N] --junitxml grades.xml

Each test is named ``<learner>::<exercise id>`` and fails unless every case of that
exercise passed, so ``--junitxml`` feeds an LMS or CI. A submission the grader could not
check at all (not a notebook, wrong chapter...) is one failing ``<learner>::notebook`` test
with the reason. Submissions are graded once, at collection, ``--grade-jobs`` at a time (do
not add ``-n``: each xdist worker would grade everything again).

The plugin is inert unless ``--grade`` is given: it adds its options and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authcourse.grading.model import NOT_GRADED, ExerciseScore, Grade

_STATUS_ICONS = {"passed": "✅", "failed": "❌", "not started": "⏳", "crashed": "💥"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("authcourse grading")
    group.addoption(
        "--grade",
        action="append",
        default=[],
        metavar="PATH",
        help="grade the lab notebooks at PATH (a notebook or a folder); repeatable",
    )
    group.addoption("--grade-chapter", default=None, metavar="NN", help="grade as chapter NN")
    group.addoption(
        "--grade-timeout", type=float, default=5.0, metavar="S", help="seconds per cell"
    )
    group.addoption(
        "--grade-jobs", type=int, default=None, metavar="N", help="submissions graded at once"
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # With --grade, the session is about submissions only: no test files are collected.
    return True if config.getoption("grade") else None


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    paths = config.getoption("grade")
    if not paths:
        return
    from authcourse import grading

    timeout = float(config.getoption("grade_timeout"))
    settings = grading.Settings(
        cell_timeout=timeout, case_timeout=min(grading.Settings.case_timeout, timeout)
    )
    rows = grading.grade_paths(
        [Path(path) for path in paths],
        chapter=config.getoption("grade_chapter"),
        settings=settings,
        jobs=config.getoption("grade_jobs"),
    )
    names = _names(rows)
    items[:] = [
        item for row, name in zip(rows, names, strict=True) for item in _items(session, row, name)
    ]


def _names(rows: list[Grade]) -> list[str]:
    """``learner``, or ``learner/<path inside the learner's folder>`` for a learner with
    several notebooks: never an absolute path.

    Test ids end up in JUnit XML and LMS reports; absolute paths would leak the instructor's
    folder layout and change from machine to machine.
    """
    learners = [row.learner for row in rows]
    names = []
    for row in rows:
        if learners.count(row.learner) == 1:
            names.append(row.learner)
            continue
        parts = Path(row.path).parts
        inside = (
            parts[len(parts) - 1 - parts[::-1].index(row.learner) + 1 :]
            if row.learner in parts
            else parts[-1:]
        )
        names.append("/".join((row.learner, *inside)))
    return names


def _items(session: pytest.Session, row: Grade, name: str) -> list[pytest.Item]:
    parent = SubmissionNode.from_parent(session, name=name, nodeid=name, row=row)
    if not row.exercises or all(ex.status == NOT_GRADED for ex in row.exercises):
        return [NotebookItem.from_parent(parent, name="notebook", row=row)]
    return [
        ExerciseItem.from_parent(parent, name=exercise.id, row=row, exercise=exercise)
        for exercise in row.exercises
    ]


class SubmissionNode(pytest.Collector):
    """One learner's submission; its children are the exercises."""

    def __init__(self, *, row: Grade, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.row = row

    def collect(self) -> list[pytest.Item | pytest.Collector]:  # pragma: no cover - unused
        return []


class GradeFailure(Exception):
    """An exercise that did not fully pass; the message is what the learner would see."""


class ExerciseItem(pytest.Item):
    def __init__(self, *, row: Grade, exercise: ExerciseScore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.row = row
        self.exercise = exercise
        self.user_properties.extend(
            [
                ("learner", row.learner),
                ("chapter", row.chapter),
                ("score", exercise.score),
                ("max_score", exercise.max_score),
                ("status", exercise.status),
            ]
        )

    def runtest(self) -> None:
        exercise = self.exercise
        if exercise.status == "passed" and exercise.score == exercise.max_score:
            return
        lines = [
            f"{exercise.id}: {exercise.score:g}/{exercise.max_score} points ({exercise.status})"
        ]
        lines += [
            f"  {_STATUS_ICONS.get(case.status, '·')} {case.description}"
            + (f" — {case.message}" if case.message else "")
            for case in exercise.cases
        ]
        lines += [f"  note: {note}" for note in self.row.notes]
        raise GradeFailure("\n".join(lines))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, GradeFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.nodeid


class NotebookItem(pytest.Item):
    """A submission that could not be checked at all: fails with the reason."""

    def __init__(self, *, row: Grade, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.row = row
        self.user_properties.extend([("learner", row.learner), ("chapter", row.chapter)])

    def runtest(self) -> None:
        raise GradeFailure("; ".join(self.row.notes) or "nothing could be graded")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, GradeFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.nodeid
