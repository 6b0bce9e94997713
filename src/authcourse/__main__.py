"""Command line: ``python -m authcourse {export,labs,execute,grade} ...``."""

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

    execute_cmd = commands.add_parser("execute", help="re-execute notebooks in place")
    execute_cmd.add_argument("paths", nargs="+", type=Path)

    args = parser.parse_args(argv)
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
    if args.command == "execute":
        from authcourse.execute import execute_in_place

        for path in args.paths:
            print(f"executing {path}", flush=True)
            execute_in_place(path)
        return 0
    raise AssertionError(args.command)


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
