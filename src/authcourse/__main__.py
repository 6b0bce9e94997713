"""Command line: ``python -m authcourse {export,labs,work,execute,grade,bench,audit} ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from authcourse import export, labs, notebooks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m authcourse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    export_cmd = commands.add_parser(
        "export", help="write notebooks/ export cells into src/clouddocs/"
    )
    export_cmd.add_argument(
        "--check", action="store_true", help="only report stale files; exit 1 if any"
    )

    labs_cmd = commands.add_parser("labs", help="generate labs/ from solutions/")
    labs_cmd.add_argument(
        "--check", action="store_true", help="only report stale labs; exit 1 if any"
    )

    commands.add_parser(
        "work",
        help="copy into work/ every lab not there yet (never overwrites a learner's copy)",
    )

    execute_cmd = commands.add_parser("execute", help="re-execute notebooks in place")
    execute_cmd.add_argument("paths", nargs="+", type=Path)

    grade_cmd = commands.add_parser(
        "grade",
        help="grade learners' lab notebooks (a table; --json or --csv on request)",
        description="Grade submitted lab notebooks: each runs in a fresh kernel, then its"
        " chapter's checks run. Exit code 0 whenever the grader worked, whatever the scores.",
    )
    grade_cmd.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="a lab notebook, or a folder searched recursively (one sub-folder per learner)",
    )
    grade_cmd.add_argument(
        "--chapter", help="grade every notebook as this chapter (default: from each notebook)"
    )
    grade_cmd.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="seconds per cell (default 5)"
    )
    grade_cmd.add_argument(
        "--total-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds per submission, all cells and checks included (default 60)",
    )
    grade_cmd.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="submissions graded at once (default: the number of CPUs)",
    )
    grade_cmd.add_argument("--csv", type=Path, metavar="FILE", help="also write CSV rows to FILE")
    from authcourse.grading.cli import add_workshop_arguments

    add_workshop_arguments(grade_cmd)
    grade_cmd.add_argument(
        "--json", action="store_true", help="print a JSON list instead of the table"
    )
    grade_cmd.add_argument(
        "--html", type=Path, metavar="FILE", help="also write an offline HTML report to FILE"
    )

    bench_cmd = commands.add_parser(
        "bench",
        help="measure the performance budgets (DESIGN.md §12) on this machine",
        description="Measure the course's performance budgets on this machine and print"
        " budget, measured value and verdict for each. Exit code 1 if any budget is"
        " exceeded (or could not be measured because something failed), 0 otherwise.",
    )
    bench_cmd.add_argument(
        "--quick", action="store_true", help="fewer rounds: a rough look in less time"
    )
    bench_cmd.add_argument(
        "--notebooks",
        action="store_true",
        help="also time each notebook of notebooks/ and solutions/ under nbval (slow)",
    )
    bench_cmd.add_argument(
        "--json", action="store_true", help="print a JSON object instead of the table"
    )
    bench_cmd.add_argument(
        "--postgres",
        metavar="URL",
        help="also measure the database checks on PostgreSQL: a superuser URL"
        " (postgresql+asyncpg://...); a scratch database is created there and dropped",
    )
    bench_cmd.add_argument(
        "--rebac-json",
        metavar="PATH",
        type=Path,
        help="judge the ReBAC budgets from what `python -m authcourse.bench.rebac --json PATH`"
        " wrote",
    )

    audit_cmd = commands.add_parser(
        "audit",
        help="run the pre-launch security audit against an app (exit 1 if a probe fails)",
        description="Run the pre-launch checklist as probes against an ASGI app, in-process."
        " Exit code 1 when any probe fails or crashes, 0 otherwise.",
    )
    from authcourse.audit.cli import add_arguments as add_audit_arguments

    add_audit_arguments(audit_cmd)

    args = parser.parse_args(argv)
    if args.command == "audit":
        from authcourse.audit.cli import run as run_audit

        return run_audit(args)
    if args.command == "grade":
        return _grade(args)
    if args.command == "bench":
        return _bench(args)
    root = notebooks.repo_root()
    if args.command == "export":
        return _sync(
            "export",
            args.check,
            lambda: export.stale_files(root, root / "notebooks", root / "src" / "clouddocs"),
            lambda: export.write(root, root / "notebooks", root / "src" / "clouddocs"),
        )
    if args.command == "labs":
        return _sync(
            "labs",
            args.check,
            lambda: labs.stale_files(root, root / "solutions", root / "labs"),
            lambda: labs.write(root, root / "solutions", root / "labs"),
        )
    if args.command == "work":
        for copied in labs.copy_to_work(root / "labs", root / "work"):
            print(f"work: copied {notebooks.relative(copied, root)}")
        print(
            "work: your labs are in work/ (labs/ is regenerated; work/ is yours and never overwritten)"
        )
        return 0
    if args.command == "execute":
        from authcourse.execute import execute_in_place

        for path in args.paths:
            print(f"executing {path}", flush=True)
            execute_in_place(path)
        return 0
    raise AssertionError(args.command)


def _grade(args: argparse.Namespace) -> int:
    from authcourse import grading

    settings = grading.Settings(
        cell_timeout=args.timeout,
        total_timeout=args.total_timeout,
        case_timeout=min(grading.Settings.case_timeout, args.timeout),
    )

    def progress(row: grading.Grade) -> None:
        if not args.json:
            print(f"graded {row.learner} ({row.path})", file=sys.stderr, flush=True)

    try:
        rows = grading.grade_paths(
            args.paths,
            chapter=args.chapter,
            settings=settings,
            jobs=args.jobs,
            progress=progress,
            exercises=args.exercises,
        )
    except grading.GraderError as error:  # the grader itself failed: say why, exit non-zero
        print(f"grade: error: {error}", file=sys.stderr)
        return 2
    print(grading.to_json(rows) if args.json else grading.render_table(rows))
    from authcourse.grading.cli import write_workshop_files

    write_workshop_files(rows, args)
    if args.html:
        from authcourse.grading import html_report

        html_report.write(rows, args.html)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from authcourse.bench import run

    def progress(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    report = run.run(
        quick=args.quick,
        notebooks=args.notebooks,
        postgres=args.postgres,
        rebac_json=args.rebac_json,
        progress=progress,
    )
    print(report.to_json() if args.json else report.text())
    return report.exit_code


def _sync(
    name: str,
    check_only: bool,
    find_stale: Callable[[], list[str]],
    regenerate: Callable[[], list[str]],
) -> int:
    if check_only:
        problems = find_stale()
        for problem in problems:
            print(f"stale: {problem}", file=sys.stderr)
        return 1 if problems else 0
    for changed in regenerate():
        print(f"{name}: wrote {changed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
