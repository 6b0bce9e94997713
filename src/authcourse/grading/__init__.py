"""The batch grader: ``python -m authcourse grade PATH...``.

Every PATH (a notebook, or a folder searched recursively: one sub-folder per learner) yields
rows, one per submission, whatever is wrong with it: :func:`grade_paths` never raises for a
submission's sake (only for the grader's own: :class:`GraderError`). The checks and the
course packages are read into the grader's memory once, before any submission runs
(:mod:`.sandbox`); each submission then runs in fresh agent processes (:mod:`.runner`,
:mod:`.agent`) under a reaper that ends every process it started (:mod:`.reaper`).

A submission whose source (:mod:`.scan`) or behaviour (the agent's observations) reaches
into the machinery keeps only the points a clean re-check confirms: the same notebook run
again without the cells concerned, case by case.
"""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from authcourse import notebooks
from authcourse.checks import LEARNER_MIME, core
from authcourse.checks.runner import CaseResult, ExerciseResult, Status
from authcourse.grading import processes, runner, scan, workshop
from authcourse.grading.model import (
    NOT_GRADED,
    CaseScore,
    ExerciseScore,
    Grade,
    Settings,
    Submission,
)
from authcourse.grading.output import render_table, to_json, write_csv
from authcourse.grading.sandbox import Course, GraderError

__all__ = [
    "NOT_GRADED",
    "CaseScore",
    "Course",
    "ExerciseScore",
    "Grade",
    "GraderError",
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
    """The submissions under ``paths``, and a row for each PATH that holds none.

    A notebook reached through a symbolic link (the file or a folder on the way) is a
    submission too, marked ``symlink``: it gets a row with a note and no points, because
    its content belongs to whatever it points at. Rows are keyed by the path as found, never
    by where it resolves to, so two learners never share (or lose) a row.
    """
    found: dict[str, Submission] = {}
    rows: list[Grade] = []
    for path in paths:
        if path.is_symlink():
            found.setdefault(os.path.abspath(path), _linked(path, path.stem, path))
        elif path.is_dir():
            files = list(_walk(path))
            if not files:
                rows.append(Grade(str(path), path.resolve().name, notes=["no notebooks found"]))
            for file, link in files:
                relative = file.relative_to(path)
                learner = relative.parts[0] if len(relative.parts) > 1 else file.stem
                lms = workshop.lms_name(file.name)
                if link:
                    submission = _linked(file, learner, link)
                elif lms and len(relative.parts) == 1:  # a flat LMS download
                    submission = Submission(file, lms.learner, learner_id=lms.learner_id)
                else:
                    submission = Submission(file, learner)
                found.setdefault(os.path.abspath(file), submission)
        elif path.exists():
            learner, learner_id = path.stem, ""
            lms = workshop.lms_name(path.name)
            if lms:
                learner, learner_id = lms.learner, lms.learner_id
            elif _file_chapter(path) and path.resolve().parent.name:
                learner = path.resolve().parent.name  # …/alice/03_jwt.ipynb → alice
            found.setdefault(
                os.path.abspath(path), Submission(path, learner, learner_id=learner_id)
            )
        else:
            rows.append(Grade(str(path), path.stem or str(path), notes=["no such file or folder"]))
    return list(found.values()), rows


def _file_chapter(path: Path) -> str | None:
    """The chapter a file name says: ``03_jwt.ipynb``, a Jupyter copy, an LMS download."""
    lms = workshop.lms_name(path.name)
    return (
        notebooks.chapter_of(path)
        or workshop.copied_chapter(path.name)
        or (lms.chapter if lms else None)
    )


def _linked(path: Path, learner: str, link: Path) -> Submission:
    return Submission(path, learner, symlink=str(link))


def _walk(root: Path) -> Iterable[tuple[Path, Path | None]]:
    """Notebooks under ``root`` (hidden folders skipped), with the symlink on the way, if any."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in list(dirs):
            if (here / name).is_symlink():
                dirs.remove(name)
                linked = sorted((here / name).glob("*.ipynb")) or [here / name / "notebook.ipynb"]
                for file in linked:
                    yield file, here / name
        for name in sorted(files):
            file = here / name
            if name.endswith(".ipynb") and not name.startswith("."):
                yield file, (file if file.is_symlink() else None)


def grade_paths(
    paths: Iterable[Path],
    *,
    chapter: str | None = None,
    settings: Settings | None = None,
    jobs: int | None = None,
    progress: Callable[[Grade], None] | None = None,
    exercises: Collection[str] | None = None,
) -> list[Grade]:
    """Grade every submission under ``paths``, ``jobs`` at a time; rows sorted by learner.

    ``exercises`` grades a subset (a shortened workshop): the others are left out of every
    row, so maximum scores shrink with them. When a learner has several notebooks for one
    chapter, one counts (:func:`workshop.choose_counted`); the others are marked.

    Raises :class:`GraderError` (and grades nothing more) if the grader itself cannot go on,
    e.g. a submission changed the course's files on disk.
    """
    settings = settings or Settings()
    subset = _subset(exercises)
    paths = list(paths)
    submissions, rows = discover(paths)
    list(core.all_exercises())  # the checks, in the grader's memory before anything runs
    course = Course.load(tuple(path.resolve() for path in paths if path.exists()))
    workers = max(1, jobs or os.cpu_count() or 1)
    with (
        processes.adopting_orphans(),
        concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool,
    ):
        futures = [
            pool.submit(grade_submission, sub, chapter, settings, course) for sub in submissions
        ]
        try:
            for future in concurrent.futures.as_completed(futures):
                row = future.result()
                rows.append(row)
                if progress is not None:
                    progress(row)
        except GraderError:
            for future in futures:
                future.cancel()
            raise
    if subset is not None:
        for row in rows:
            row.exercises = [exercise for exercise in row.exercises if exercise.id in subset]
    workshop.choose_counted(rows)
    return sorted(rows, key=lambda row: (row.learner, row.path))


def _subset(exercises: Collection[str] | None) -> frozenset[str] | None:
    if exercises is None:
        return None
    known = {exercise.id for exercise in core.all_exercises()}
    unknown = sorted(set(exercises) - known)
    if unknown or not exercises:
        raise GraderError(
            f"--exercises: no exercise {', '.join(unknown) or '(none given)'}; known:"
            f" {', '.join(sorted(known))}"
        )
    return frozenset(exercises)


def grade_submission(
    submission: Submission,
    chapter: str | None = None,
    settings: Settings | None = None,
    course: Course | None = None,
) -> Grade:
    """One submission's row; any failure of the submission is a note.

    Raises :class:`GraderError` when the grader itself cannot go on.
    """
    settings = settings or Settings()
    course = course or Course.load((submission.path.resolve().parent,))
    row = Grade(str(submission.path), submission.learner, learner_id=submission.learner_id)
    started = time.monotonic()
    try:
        with processes.adopting_orphans():
            _grade_into(row, submission, chapter, settings, course)
    except GraderError:
        raise
    except Exception as error:  # the batch must go on; the row says what happened
        row.note(f"the grader failed on this submission: {type(error).__name__}: {error}")
    row.seconds = round(time.monotonic() - started, 2)
    course.verify()  # a submission that reached the real files stops grading here
    return row


def _grade_into(
    row: Grade, submission: Submission, wanted: str | None, settings: Settings, course: Course
) -> None:
    path = submission.path
    if submission.symlink:
        row.chapter = wanted or notebooks.chapter_of(path) or ""
        _expect_exercises(row)
        row.note(
            f"not graded: {submission.symlink} is a symbolic link, so this notebook is not the"
            " learner's own file (no points)"
        )
        return
    try:
        notebook = notebooks.read(path)
        cells = list(notebook.cells)
    except Exception:
        row.chapter = wanted or notebooks.chapter_of(path) or ""
        _expect_exercises(row)
        row.note("not a readable notebook (is it really a .ipynb file?)")
        return
    _identity(row, _declared_identity(notebook.metadata, cells))
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
    learner_cells = runner.learner_cells(notebook)
    run = runner.run_submission(learner_cells, chapter, settings, course)
    for note in run.notes:
        row.note(note)
    if run.failure:
        row.note(run.failure)
    suspects = _suspects(learner_cells, run)
    if suspects:
        run = _clean_recheck(row, learner_cells, chapter, settings, course, run, suspects)
    _merge(row, run)


def _suspects(cells: list[runner.LearnerCell], run: runner.KernelRun) -> dict[str, list[str]]:
    """Where tampering was found ("cell N" or "the checks") → what, source scan included."""
    found: dict[str, list[str]] = {}
    for cell in cells:
        for reason in scan.findings(cell.source):
            found.setdefault(f"cell {cell.number}", []).append(reason)
    for where, what in run.findings:
        if what not in found.setdefault(where, []):
            found[where].append(what)
    return found


def _describe(found: dict[str, list[str]]) -> str:
    return "; ".join(f"{where} {', '.join(what)}" for where, what in found.items())


def _clean_recheck(
    row: Grade,
    cells: list[runner.LearnerCell],
    chapter: str,
    settings: Settings,
    course: Course,
    first: runner.KernelRun,
    suspects: dict[str, list[str]],
) -> runner.KernelRun:
    """Run again without the suspect cells; keep only what every run agrees was earned."""
    row.note(f"tampering suspected: {_describe(suspects)}")
    if "the checks" not in suspects and not any(
        result.passed for result in first.exercises.values()
    ):
        return first  # no case passed: nothing a re-check could confirm
    runs = [first]
    numbers = {cell.number for cell in cells}
    while True:
        if "the checks" in suspects:
            row.note("the machinery changed while the checks ran: no points can be confirmed")
            return runner.KernelRun(notes=first.notes, failure="tampering")
        without = frozenset(int(where.split()[1]) for where in suspects if where != "the checks")
        if len(runs) > 3 or not without <= numbers:
            row.note("no clean re-check was possible: no points can be confirmed")
            return runner.KernelRun(notes=first.notes, failure="tampering")
        clean = runner.run_submission(cells, chapter, settings, course, without=without)
        runs.append(clean)
        more = {where: what for where, what in _suspects(cells, clean).items()}
        more = {where: what for where, what in more.items() if where not in suspects}
        if not more:
            cells_list = ", ".join(str(number) for number in sorted(without))
            row.note(f"only points confirmed by a re-check without cell(s) {cells_list} are kept")
            return _agreed(runs)
        row.note(f"the re-check found more: {_describe(more)}")
        suspects.update(more)


def _agreed(runs: list[runner.KernelRun]) -> runner.KernelRun:
    """Per case, passed only if it passed in every run."""
    merged = runner.KernelRun(notes=list(runs[0].notes))
    for id, first in runs[0].exercises.items():
        others = [run.exercises.get(id) for run in runs[1:]]
        cases = []
        for index, case in enumerate(first.cases):
            agreed = all(
                other is not None and other.cases[index].status is Status.PASSED for other in others
            )
            if case.status is Status.PASSED and not agreed:
                case = CaseResult(
                    case.description,
                    Status.FAILED,
                    "not counted: it did not pass again without the suspect cells",
                )
            cases.append(case)
        merged.exercises[id] = ExerciseResult(
            first.exercise,
            tuple(core.count_refusals_only_after_positives(first.exercise, cases)),
            first.missing,
        )
    return merged


def _declared_identity(metadata: Any, cells: list[Any]) -> Any:
    """``{"learner": {...}}`` from the notebook's metadata, else from ``check()``'s output."""
    try:
        if metadata.get("authcourse", {}).get("learner"):
            return metadata
        for cell in reversed(cells):
            for output in reversed(cell.get("outputs", []) or []):
                found = (output.get("data") or {}).get(LEARNER_MIME)
                if isinstance(found, dict):
                    return {"authcourse": {"learner": found}}
    except AttributeError:
        pass
    return {}


def _identity(row: Grade, metadata: Any) -> None:
    """The learner's name and id from the notebook's metadata, before any folder or file name.

    An LMS download's name was given by the LMS, which authenticated the upload: when the
    two disagree the LMS wins and a note says so (a notebook cannot claim another learner).
    """
    try:
        learner = metadata.get("authcourse", {}).get("learner", {})
        name, id = learner.get("name"), learner.get("id", "")
    except AttributeError:
        return
    name = name.strip()[:100] if isinstance(name, str) else ""
    id = str(id).strip()[:100] if isinstance(id, str | int) else ""
    if not name:
        return
    if row.learner_id:  # from the LMS
        if id != row.learner_id:
            row.note(
                f"the notebook says it is {name}'s (id {id or 'none'}); the LMS download says"
                f" {row.learner} (id {row.learner_id}): graded as the LMS says"
            )
        return
    row.learner, row.learner_id = name, id


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _chapter(
    path: Path, metadata: Any, sources: Sequence[str], wanted: str | None
) -> tuple[str, str]:
    """The chapter to grade as, and a reason when the notebook is another chapter's."""
    named = _file_chapter(path)
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
        # Points come from the grader's own rebuild of the result (ExerciseResult.from_dict).
        exercise.cases = [
            CaseScore(case.description, case.status.value, case.message) for case in result.cases
        ]
        exercise.status = result.status.value
        exercise.score = result.score
        if result.missing:
            names = ", ".join(f"`{name}`" for name in result.missing)
            missing.append(f"{exercise.id} needs {names}")
    if missing:
        row.note("; ".join(missing) + " (not defined: cell deleted or failing?)")
