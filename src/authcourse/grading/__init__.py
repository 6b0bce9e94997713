"""The batch grader: ``python -m authcourse grade PATH...``.

Every PATH (a notebook, or a folder searched recursively: one sub-folder per learner) yields
rows, one per submission, whatever is wrong with it: :func:`grade_paths` never raises for a
submission's sake. Each submission runs in a fresh kernel (:mod:`.runner`), then its
chapter's checks run inside that kernel from private copies of the checks' source files.
"""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from authcourse import notebooks
from authcourse.checks import core
from authcourse.grading import runner, scan
from authcourse.grading.model import (
    NOT_GRADED,
    CaseScore,
    ExerciseScore,
    Grade,
    Settings,
    Submission,
)
from authcourse.grading.output import render_table, to_json, write_csv

__all__ = [
    "NOT_GRADED",
    "CaseScore",
    "ExerciseScore",
    "Grade",
    "Settings",
    "Submission",
    "discover",
    "grade_paths",
    "grade_submission",
    "render_table",
    "to_json",
    "write_csv",
]


def discover(paths: Iterable[Path]) -> tuple[list[Submission], list[Grade]]:
    """The submissions under ``paths``, and a row for each PATH that holds none."""
    found: dict[Path, Submission] = {}
    rows: list[Grade] = []
    for path in paths:
        if path.is_dir():
            files = sorted(
                file
                for file in path.rglob("*.ipynb")
                if file.is_file()
                and not any(part.startswith(".") for part in file.relative_to(path).parts)
            )
            if not files:
                rows.append(Grade(str(path), path.resolve().name, notes=["no notebooks found"]))
            for file in files:
                relative = file.relative_to(path)
                learner = relative.parts[0] if len(relative.parts) > 1 else file.stem
                found.setdefault(file.resolve(), Submission(file, learner))
        elif path.exists():
            learner = path.stem
            if notebooks.chapter_of(path) and path.resolve().parent.name:
                learner = path.resolve().parent.name  # …/alice/03_jwt.ipynb → alice
            found.setdefault(path.resolve(), Submission(path, learner))
        else:
            rows.append(Grade(str(path), path.stem or str(path), notes=["no such file or folder"]))
    return list(found.values()), rows


def grade_paths(
    paths: Iterable[Path],
    *,
    chapter: str | None = None,
    settings: Settings | None = None,
    jobs: int | None = None,
    progress: Callable[[Grade], None] | None = None,
) -> list[Grade]:
    """Grade every submission under ``paths``, ``jobs`` at a time; rows sorted by learner."""
    settings = settings or Settings()
    submissions, rows = discover(paths)
    list(core.all_exercises())  # register every chapter once, before the threads start
    workers = max(1, jobs or os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(grade_submission, sub, chapter, settings) for sub in submissions]
        for future in concurrent.futures.as_completed(futures):
            row = future.result()
            rows.append(row)
            if progress is not None:
                progress(row)
    return sorted(rows, key=lambda row: (row.learner, row.path))


def grade_submission(
    submission: Submission, chapter: str | None = None, settings: Settings | None = None
) -> Grade:
    """One submission's row; any failure of the submission (or of the grader) is a note."""
    settings = settings or Settings()
    row = Grade(str(submission.path), submission.learner)
    started = time.monotonic()
    try:
        _grade_into(row, submission.path, chapter, settings)
    except Exception as error:  # the batch must go on; the row says what happened
        row.note(f"the grader failed on this submission: {type(error).__name__}: {error}")
    row.seconds = round(time.monotonic() - started, 2)
    return row


def _grade_into(row: Grade, path: Path, wanted: str | None, settings: Settings) -> None:
    try:
        notebook = notebooks.read(path)
        cells = list(notebook.cells)
    except Exception:
        row.chapter = wanted or notebooks.chapter_of(path) or ""
        _expect_exercises(row)
        row.note("not a readable notebook (is it really a .ipynb file?)")
        return
    sources = [_source(cell) for cell in cells if cell.get("cell_type") == "code"]
    chapter, wrong = _chapter(path, notebook.metadata, sources, wanted)
    row.chapter = chapter
    if not chapter:
        row.note("cannot tell the chapter: name the file NN_slug.ipynb or pass --chapter NN")
        return
    if not _expect_exercises(row):
        row.note(f"chapter {chapter} has no exercises to grade")
        return
    if wrong:
        row.note(wrong)
        return
    suspicions = scan.tampering(sources)
    if suspicions:
        row.note("tampering suspected: " + ", ".join(suspicions))
    run = runner.run_submission(runner.learner_cells(notebook), chapter, settings)
    for note in run.notes:
        row.note(note)
    if run.failure:
        row.note(run.failure)
    _merge(row, run)


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _chapter(
    path: Path, metadata: Any, sources: Sequence[str], wanted: str | None
) -> tuple[str, str]:
    """The chapter to grade as, and a reason when the notebook is another chapter's."""
    named = notebooks.chapter_of(path)
    meta = _normal(metadata.get("authcourse", {}).get("chapter")) if metadata else None
    checked = scan.chapters_checked(sources)
    content = next(iter(checked)) if len(checked) == 1 else None
    chapter = _normal(wanted) or named or meta or content or ""
    if not chapter:
        return "", ""
    submitted_as = "--chapter" if wanted else "its file name" if named else "its metadata"
    for actual, evidence in (
        (meta, "its metadata"),
        (content, "its check cells"),
        (named, "its file name"),
    ):
        if actual and actual != chapter:
            return chapter, (
                f"wrong notebook: this is a chapter {actual} notebook ({evidence}), graded as"
                f" chapter {chapter} ({submitted_as})"
            )
    return chapter, ""


def _normal(value: object) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    return text.zfill(2) if text.isdigit() else text


def _expect_exercises(row: Grade) -> bool:
    """Fill the row with the chapter's exercises at zero; False if it has none."""
    try:
        exercises = core.chapter_exercises(row.chapter) if row.chapter else []
    except KeyError:
        exercises = []
    row.exercises = [ExerciseScore(ex.id, ex.points) for ex in exercises]
    return bool(exercises)


def _merge(row: Grade, run: runner.KernelRun) -> None:
    missing: list[str] = []
    for exercise in row.exercises:
        result = run.exercises.get(exercise.id)
        if result is None:
            continue
        if "skipped" in result:
            row.note(f"{exercise.id}: {result['skipped']}")
            continue
        # Points are recomputed here from the case statuses, never taken from the kernel.
        cases = [
            CaseScore(str(c["description"]), str(c["status"]), str(c["message"]))
            for c in result.get("cases", [])
        ]
        passed = sum(case.status == core.Status.PASSED.value for case in cases)
        exercise.cases = cases
        exercise.status = str(result.get("status", NOT_GRADED))
        exercise.score = round(exercise.max_score * passed / len(cases), 2) if cases else 0.0
        for case in cases:
            if " is not defined yet" in case.message:
                names = case.message.split(" is not defined yet")[0]
                missing.append(f"{exercise.id} needs {names}")
                break
    if missing:
        row.note("; ".join(missing) + " (not defined: cell deleted or failing?)")
