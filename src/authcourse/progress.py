"""``progress()``: which exercises of which chapters pass, from the learner's own ``work/``.

Called in any notebook, it grades the learner's saved copies in ``work/`` the way the
instructor's grader does (each in a fresh kernel, never in the calling one) and shows a
table and a small chart. Grading a notebook takes seconds, so each result is kept in
``work/.progress.json`` under the notebook's content hash and the checks' own hash: a
notebook is graded again only when it (or the course's checks) changed since.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authcourse import charts, notebooks

CACHE_NAME = ".progress.json"
PASSED = "passed"

#: Grades the given notebooks; :func:`authcourse.grading.grade_paths` unless a test says.
Grader = Callable[[Sequence[Path]], "list[Any]"]


@dataclass(frozen=True)
class ExerciseProgress:
    chapter: str
    id: str
    title: str
    score: float
    max_score: int
    #: "passed", "failed", "not started", "crashed", "not graded" or "no copy in work/".
    status: str

    @property
    def passed(self) -> bool:
        return self.status == PASSED


@dataclass(frozen=True)
class Progress:
    """What ``progress()`` shows; Jupyter picks ``_repr_html_``."""

    exercises: list[ExerciseProgress]
    #: Per chapter, what the grader noted about the learner's copy (a cell that failed...).
    notes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        return sum(exercise.passed for exercise in self.exercises)

    def chart_svg(self) -> str:
        """Each exercise's share of its points, as an inline ``<svg>`` bar chart."""
        return charts.bar_chart(
            [exercise.id for exercise in self.exercises],
            [
                exercise.score / exercise.max_score if exercise.max_score else 0.0
                for exercise in self.exercises
            ],
            title=f"{self.passed} of {len(self.exercises)} exercises pass",
            xlabel="share of the exercise's points",
        )

    def text(self) -> str:
        lines = [f"{self.passed} of {len(self.exercises)} exercises pass"]
        for ex in self.exercises:
            mark = "✅" if ex.passed else "  "
            lines.append(
                f"{mark} {ex.id:<6} {ex.score:g}/{ex.max_score}  {ex.status:<17} {ex.title}"
            )
        for chapter, notes in sorted(self.notes.items()):
            lines.extend(f"note ({chapter}): {note}" for note in notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{'✅' if ex.passed else ''}</td><td>{html.escape(ex.id)}</td>"
            f"<td>{html.escape(ex.title)}</td><td>{ex.score:g}/{ex.max_score}</td>"
            f"<td>{html.escape(ex.status)}</td></tr>"
            for ex in self.exercises
        )
        notes = "".join(
            f"<li>{html.escape(chapter)}: {html.escape(note)}</li>"
            for chapter, chapter_notes in sorted(self.notes.items())
            for note in chapter_notes
        )
        return (
            '<div class="authcourse-progress">'
            f"<p><b>{self.passed} of {len(self.exercises)} exercises pass</b>"
            " (graded from the saved copies in work/: save with Ctrl+S first)</p>"
            "<table><thead><tr><th></th><th>exercise</th><th>title</th><th>points</th>"
            f"<th>status</th></tr></thead><tbody>{rows}</tbody></table>"
            f"{f'<ul>{notes}</ul>' if notes else ''}{self.chart_svg()}</div>"
        )


def progress(work_dir: Path | None = None, *, grader: Grader | None = None) -> Progress:
    """Grade the learner's ``work/`` copies (only those changed since last time) and show them."""
    from authcourse.checks import core

    work_dir = work_dir if work_dir is not None else _default_work_dir()
    copies = {
        chapter: path
        for path in sorted(work_dir.glob("*.ipynb"))
        if (chapter := notebooks.chapter_of(path))
    }
    cache = _read_cache(work_dir / CACHE_NAME)
    checks = _checks_digest()
    keys = {chapter: _key(path, checks) for chapter, path in copies.items()}
    stale = [copies[ch] for ch, key in keys.items() if cache.get(ch, {}).get("key") != key]
    if stale:
        for row in (grader or _grade)(stale):
            chapter = row.chapter or notebooks.chapter_of(Path(row.path)) or ""
            if chapter in keys:
                cache[chapter] = {"key": keys[chapter], "row": row.as_dict()}
        _write_cache(work_dir / CACHE_NAME, {ch: cache[ch] for ch in keys if ch in cache})

    exercises: list[ExerciseProgress] = []
    notes: dict[str, list[str]] = {}
    for exercise in core.all_exercises():
        chapter = exercise.chapter
        if chapter not in copies:
            status, score = "no copy in work/", 0.0
        else:
            row = cache.get(chapter, {}).get("row", {})
            found = [e for e in row.get("exercises", []) if e.get("id") == exercise.id]
            status = str(found[0]["status"]) if found else "not graded"
            score = float(found[0]["score"]) if found else 0.0
            if row.get("notes"):
                notes[chapter] = [str(note) for note in row["notes"]]
        exercises.append(
            ExerciseProgress(chapter, exercise.id, exercise.title, score, exercise.points, status)
        )
    return Progress(exercises, notes)


def _default_work_dir() -> Path:
    try:
        return notebooks.repo_root() / "work"
    except RuntimeError:  # the course installed without its repository: the notebook's folder
        return Path.cwd()


def _grade(paths: Sequence[Path]) -> list[Any]:
    from authcourse import grading

    return grading.grade_paths(paths)


def _key(path: Path, checks: str) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() + ":" + checks


def _checks_digest() -> str:
    # A course update that changes a check makes every cached result stale.
    from authcourse import checks
    from authcourse.checks import chapters

    digest = hashlib.sha256()
    for file in [*sorted(Path(checks.__path__[0]).glob("*.py")), *chapters.extra_module_files()]:
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # no cache yet, or a damaged one: grade again
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, data: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    except OSError:
        pass  # a read-only work/ only costs a re-grade next time
