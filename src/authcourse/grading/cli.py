"""The grade command's workshop options: a subset of exercises, the gradebook, feedback pages,
and result files that carry the checks' version and time and never overwrite earlier ones."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from authcourse.grading import workshop
from authcourse.grading.model import Grade
from authcourse.grading.output import write_csv


def _exercise_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_workshop_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--exercises",
        type=_exercise_list,
        metavar="IDS",
        help="grade only these exercises, e.g. 03.1,03.2,03.4 (maximum scores shrink with them)",
    )
    parser.add_argument(
        "--gradebook",
        type=Path,
        metavar="FILE",
        help="also write one row per learner (per-chapter and course totals) to FILE (CSV)",
    )
    parser.add_argument(
        "--feedback",
        type=Path,
        metavar="DIR",
        help="also write one offline HTML page per learner into DIR",
    )


def write_workshop_files(rows: Sequence[Grade], args: argparse.Namespace) -> None:
    """The --csv, --gradebook and --feedback outputs; an existing file is moved aside first."""
    version, when = workshop.checks_version(), workshop.timestamp()
    outputs: list[tuple[Path, str]] = []
    if args.csv:
        _keep(args.csv)
        write_csv(rows, args.csv, version=version, when=when)
        outputs.append((args.csv, "per-submission rows"))
    if args.gradebook:
        _keep(args.gradebook)
        workshop.write_gradebook(rows, args.gradebook, version=version, when=when)
        outputs.append((args.gradebook, "gradebook"))
    if args.feedback:
        _keep(args.feedback)
        pages = workshop.write_feedback(rows, args.feedback, version=version, when=when)
        outputs.append((args.feedback, f"{len(pages)} feedback page(s)"))
    for path, what in outputs:
        print(f"wrote {path} ({what}; checks {version}, {when})", file=sys.stderr)


def _keep(target: Path) -> None:
    kept = workshop.keep_earlier(target)
    if kept is not None:
        print(f"kept the earlier {target} as {kept}", file=sys.stderr)
