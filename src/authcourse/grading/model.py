"""What the grader produces: one :class:`Grade` row per submission."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Status of an exercise the grader could not check at all (kernel died, wrong notebook...).
NOT_GRADED = "not graded"


@dataclass(frozen=True)
class Settings:
    """How a submission is run. Defaults fit the course's budgets (DESIGN.md §12)."""

    #: Seconds one learner cell may run; one that does not finish is dropped.
    cell_timeout: float = 5.0
    #: Seconds for a whole submission: kernel start, all cells and the checks.
    total_timeout: float = 60.0
    #: Seconds one check case may run (an endless loop in the learner's function).
    case_timeout: float = 3.0
    #: Bytes of cell output looked at per submission; the rest is discarded unread.
    output_limit: int = 1_000_000
    #: Fresh kernels started after one died or got stuck (each without what caused it).
    restarts: int = 3


@dataclass(frozen=True)
class Submission:
    path: Path
    learner: str
    #: The symbolic link this notebook was reached through, if any (then it is not graded).
    symlink: str = ""
    #: The learner's id in the LMS, when the file name carries one.
    learner_id: str = ""


@dataclass
class CaseScore:
    description: str
    status: str
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"description": self.description, "status": self.status, "message": self.message}


@dataclass
class ExerciseScore:
    id: str
    max_score: int
    score: float = 0.0
    status: str = NOT_GRADED
    cases: list[CaseScore] = field(default_factory=list)

    def as_dict(self, *, with_cases: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "score": self.score,
            "max_score": self.max_score,
            "status": self.status,
        }
        if with_cases:
            data["cases"] = [case.as_dict() for case in self.cases]
        return data


@dataclass
class Grade:
    """One submission's row."""

    path: str
    learner: str
    chapter: str = ""
    exercises: list[ExerciseScore] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Wall-clock seconds spent grading this submission (not part of the JSON).
    seconds: float = 0.0
    #: The learner's id (LMS file name or the notebook's metadata); "" when unknown.
    learner_id: str = ""
    #: False for a learner's other notebooks of a chapter (see ``workshop.choose_counted``).
    counted: bool = True

    @property
    def score(self) -> float:
        return round(sum(exercise.score for exercise in self.exercises), 2)

    @property
    def max_score(self) -> int:
        return sum(exercise.max_score for exercise in self.exercises)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def as_dict(self, *, with_cases: bool = False) -> dict[str, Any]:
        return {
            "path": self.path,
            "learner": self.learner,
            "chapter": self.chapter,
            "score": self.score,
            "max_score": self.max_score,
            "exercises": [ex.as_dict(with_cases=with_cases) for ex in self.exercises],
            "notes": list(self.notes),
        }
