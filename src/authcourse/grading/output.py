"""The grader's three outputs: a plain-text table, a JSON list and CSV rows."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from authcourse.grading.model import Grade


def exercise_ids(rows: Sequence[Grade]) -> list[str]:
    """Every exercise id in the rows, in course order (``03.2`` before ``03.10``)."""
    ids = {exercise.id for row in rows for exercise in row.exercises}
    return sorted(ids, key=lambda id: [int(p) if p.isdigit() else 0 for p in id.split(".")])


def render_table(rows: Sequence[Grade]) -> str:
    """Learner, chapter, points per exercise, total ``x/y`` and notes; one line per row."""
    ids = exercise_ids(rows)
    header = ["learner", "chapter", *ids, "total", "notes"]
    lines = [header]
    for row in rows:
        scores = {exercise.id: exercise for exercise in row.exercises}
        cells = [row.learner, row.chapter or "-"]
        for id in ids:
            exercise = scores.get(id)
            cells.append(f"{_points(exercise.score)}/{exercise.max_score}" if exercise else "")
        cells.append(f"{_points(row.score)}/{row.max_score}")
        cells.append("; ".join(row.notes))
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[-1]
        for line in lines
    ]
    return "\n".join(text.rstrip() for text in rendered)


def to_json(rows: Sequence[Grade], *, with_cases: bool = False) -> str:
    """The JSON list: one object per submission (see ``Grade.as_dict``)."""
    return json.dumps([row.as_dict(with_cases=with_cases) for row in rows], indent=2)


def write_csv(rows: Sequence[Grade], target: Path, *, version: str = "", when: str = "") -> None:
    """One CSV row per submission, a column per exercise id.

    UTF-8 with a byte-order mark (spreadsheets then read names correctly); chapters are
    written ``ch03`` and exercise columns ``ex03.1``, so that no spreadsheet turns them into
    the numbers 3 and 3.1.
    """
    ids = exercise_ids(rows)
    with target.open("w", newline="", encoding="utf-8-sig") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            [
                "path",
                "id",
                "learner",
                "chapter",
                *(f"ex{id}" for id in ids),
                "score",
                "max_score",
                "counted",
                "graded_at",
                "checks_version",
                "notes",
            ]
        )
        for row in rows:
            scores = {exercise.id: exercise.score for exercise in row.exercises}
            writer.writerow(
                [
                    row.path,
                    row.learner_id,
                    row.learner,
                    f"ch{row.chapter}" if row.chapter else "",
                    *(_points(scores[id]) if id in scores else "" for id in ids),
                    _points(row.score),
                    row.max_score,
                    "yes" if row.counted else "no",
                    when,
                    version,
                    "; ".join(row.notes),
                ]
            )


def _points(value: float) -> str:
    return f"{value:g}"
