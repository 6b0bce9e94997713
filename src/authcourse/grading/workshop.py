"""Grading a room: who submitted what, one counted notebook per learner and chapter, and the
files an instructor hands on (a gradebook spreadsheets open, one feedback page per learner).

- :func:`lms_name` reads LMS flat-download names (Canvas/Moodle style):
  ``<name>_<user id>_<submission id>_<original file name>``, optionally with ``LATE_`` after
  the name and a ``-1``/``-Copy1``/`` (1)`` copy suffix: ``ada_12345_67890_03_jwt.ipynb`` is
  learner ``ada`` (id ``12345``), file ``03_jwt.ipynb``.
- :func:`choose_counted` applies the duplicate rule: when one learner has several notebooks
  for one chapter, the best score counts, the newest file on a tie; the others stay in the
  table, marked as not counted.
- :func:`write_gradebook` writes one row per learner (CSV, UTF-8 with a BOM, chapter and
  exercise columns named so that spreadsheets keep them as text); :func:`write_feedback`
  one offline HTML page per learner.
- :func:`keep_earlier` moves an existing result file aside (never overwritten silently).
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from authcourse.grading.model import Grade

_LMS = re.compile(
    r"^(?P<name>.+?)_(?:LATE_)?(?P<user>\d+)_(?P<submission>\d+)_"
    r"(?P<file>(?P<chapter>\d\d)_[A-Za-z0-9_]+?)(?P<copy>-Copy\d+|-\d+| \(\d+\))?\.ipynb$"
)
_COPY = re.compile(r"^(?P<file>(?P<chapter>\d\d)_[A-Za-z0-9_]+?)(?:-Copy\d+| \(\d+\))\.ipynb$")


@dataclass(frozen=True)
class LmsName:
    learner: str
    learner_id: str
    chapter: str
    file: str


def lms_name(filename: str) -> LmsName | None:
    """The learner, id and chapter in an LMS flat-download file name; None if it is not one."""
    match = _LMS.match(filename)
    if match is None:
        return None
    return LmsName(match["name"], match["user"], match["chapter"], match["file"] + ".ipynb")


def copied_chapter(filename: str) -> str | None:
    """``"03"`` for Jupyter's copies (``03_jwt-Copy1.ipynb``, ``03_jwt (1).ipynb``)."""
    match = _COPY.match(filename)
    return match["chapter"] if match else None


def choose_counted(rows: Sequence[Grade]) -> None:
    """Mark all but one row per (learner, chapter) as not counted, saying which one counts.

    The rule: the highest score counts; on a tie, the most recently modified file.
    """
    groups: dict[tuple[str, str], list[Grade]] = {}
    for row in rows:
        if row.chapter:
            groups.setdefault((row.learner, row.chapter), []).append(row)
    for group in groups.values():
        if len(group) < 2:
            continue
        best = max(group, key=lambda row: (row.score, _modified(row.path)))
        shown = Path(best.path)
        for row in group:
            if row is not best:
                row.counted = False
                row.note(
                    f"not counted: {len(group)} notebooks for chapter {row.chapter};"
                    f" {shown.parent.name}/{shown.name} ({best.score:g} points) counts"
                    " (rule: the best score, the newest file on a tie)"
                )


def _modified(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def checks_version() -> str:
    """The course package's version and a digest of the checks' source, e.g. ``0.1.0+3fa9c2``."""
    from authcourse import checks

    digest = hashlib.sha256()
    for file in sorted(Path(checks.__file__).parent.glob("*.py")):
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    try:
        version = metadata.version("authcourse")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"{version}+{digest.hexdigest()[:8]}"


def timestamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def keep_earlier(target: Path) -> Path | None:
    """Move an existing ``target`` aside (``grades.2026-11-30T0905.csv``); its new path."""
    if not target.exists():
        return None
    stamp = datetime.datetime.fromtimestamp(target.stat().st_mtime, datetime.UTC)
    base = f"{target.stem}.{stamp:%Y-%m-%dT%H%M%S}"
    kept = target.with_name(f"{base}{target.suffix}")
    number = 1
    while kept.exists():
        number += 1
        kept = target.with_name(f"{base}-{number}{target.suffix}")
    target.rename(kept)
    return kept


def _as_text(chapter: str) -> str:
    # "03" would become the number 3 in a spreadsheet; "ch03" stays text.
    return f"ch{chapter}"


def write_gradebook(rows: Sequence[Grade], target: Path, *, version: str, when: str) -> None:
    """One row per learner: id, name, each chapter's counted score and maximum, course total."""
    counted = [row for row in rows if row.counted and row.chapter]
    chapters = sorted({row.chapter for row in counted})
    learners: dict[str, dict[str, Grade]] = {}
    ids: dict[str, str] = {}
    for row in counted:
        learners.setdefault(row.learner, {})[row.chapter] = row
        if row.learner_id:
            ids[row.learner] = row.learner_id
    maxima = {c: max(r.max_score for r in counted if r.chapter == c) for c in chapters}
    with target.open("w", newline="", encoding="utf-8-sig") as stream:
        writer = csv.writer(stream)
        header = ["id", "learner"]
        for chapter in chapters:
            header += [_as_text(chapter), f"{_as_text(chapter)} max"]
        writer.writerow([*header, "total", "max", "graded_at", "checks_version"])
        for learner in sorted(learners):
            by_chapter = learners[learner]
            line = [ids.get(learner, ""), learner]
            for chapter in chapters:
                found = by_chapter.get(chapter)
                line += [f"{found.score:g}" if found else "0", str(maxima[chapter])]
            total = sum(row.score for row in by_chapter.values())
            line += [f"{round(total, 2):g}", str(sum(maxima.values())), when, version]
            writer.writerow(line)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Feedback: {learner}</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
td,th{{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}}
table{{border-collapse:collapse;width:100%}}.passed{{color:#176117}}.failed,.crashed{{color:#a11}}
.note{{background:#fff6d5;padding:.5rem}}</style></head><body>
<h1>Feedback for {learner}</h1><p>Graded {when} with checks {version}.</p>
{sections}</body></html>
"""


def write_feedback(rows: Sequence[Grade], folder: Path, *, version: str, when: str) -> list[Path]:
    """One self-contained HTML page per learner (no scripts, nothing fetched); their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    by_learner: dict[str, list[Grade]] = {}
    for row in rows:
        by_learner.setdefault(row.learner, []).append(row)
    written: list[Path] = []
    for learner, own in sorted(by_learner.items()):
        sections = []
        for row in sorted(own, key=lambda r: (r.chapter, r.path)):
            parts = [
                f"<h2>Chapter {html.escape(row.chapter or '?')}: {row.score:g}/{row.max_score}"
                f"{'' if row.counted else ' (not counted)'}</h2>",
                f"<p><code>{html.escape(Path(row.path).name)}</code></p>",
            ]
            parts += [f'<p class="note">{html.escape(note)}</p>' for note in row.notes]
            for exercise in row.exercises:
                parts.append(
                    f"<h3>{html.escape(exercise.id)}: {exercise.score:g}/{exercise.max_score}"
                    f" ({html.escape(exercise.status)})</h3>"
                )
                cases = "".join(
                    f'<tr><td class="{html.escape(case.status)}">{html.escape(case.status)}</td>'
                    f"<td>{html.escape(case.description)}</td>"
                    f"<td>{html.escape(case.message)}</td></tr>"
                    for case in exercise.cases
                )
                if cases:
                    parts.append(f"<table>{cases}</table>")
                if exercise.score < exercise.max_score:
                    parts.append(
                        f"<p>Stuck? In the notebook, <code>hint(&quot;{html.escape(exercise.id)}"
                        "&quot;)</code> shows the next hint.</p>"
                    )
            sections.append("\n".join(parts))
        page = _PAGE.format(
            learner=html.escape(learner),
            when=html.escape(when),
            version=html.escape(version),
            sections="\n".join(sections),
        )
        target = folder / f"{_file_name(learner)}.html"
        target.write_text(page, encoding="utf-8")
        written.append(target)
    return written


def _file_name(learner: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", learner).strip("._") or "learner"
    return safe[:80]
