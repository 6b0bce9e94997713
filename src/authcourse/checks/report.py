"""Renders exercise results: HTML in Jupyter, plain text everywhere else."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from authcourse.checks.core import ExerciseResult, Status


@dataclass(frozen=True)
class Report:
    """What ``check()`` and ``check_all()`` display; Jupyter picks ``_repr_html_``."""

    results: Sequence[ExerciseResult]
    show_total: bool = False
    #: Set when there was nothing to check (an unknown exercise id or chapter).
    problem: str = ""

    @property
    def score(self) -> float:
        return round(sum(result.score for result in self.results), 2)

    @property
    def max_score(self) -> int:
        return sum(result.exercise.points for result in self.results)

    @property
    def all_passed(self) -> bool:
        return all(result.status is Status.PASSED for result in self.results)

    def text(self) -> str:
        lines: list[str] = [f"⚠️ {self.problem}"] if self.problem else []
        for result in self.results:
            exercise = result.exercise
            lines.append(
                f"{exercise.id} {exercise.title} — {_points(result.score)}/{exercise.points} points"
            )
            for case in result.cases:
                detail = f" — {case.message}" if case.message else ""
                lines.append(f"  {case.status.icon} {case.description}{detail}")
        if self.show_total and self.results:
            lines.append(f"Total: {_points(self.score)}/{self.max_score} points")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        parts: list[str] = ['<div class="authcourse-report">']
        if self.problem:
            parts.append(f"<p>⚠️ {html.escape(self.problem)}</p>")
        for result in self.results:
            exercise = result.exercise
            parts.append(
                f"<p><b>{html.escape(exercise.id)} {html.escape(exercise.title)}</b> — "
                f"{_points(result.score)}/{exercise.points} points</p><ul style='list-style:none'>"
            )
            for case in result.cases:
                detail = f" — {html.escape(case.message)}" if case.message else ""
                parts.append(f"<li>{case.status.icon} {html.escape(case.description)}{detail}</li>")
            parts.append("</ul>")
        if self.show_total and self.results:
            parts.append(f"<p><b>Total: {_points(self.score)}/{self.max_score} points</b></p>")
        parts.append("</div>")
        return "".join(parts)


def _points(value: float) -> str:
    return f"{value:g}"
