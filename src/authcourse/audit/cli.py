"""``python -m authcourse audit module:app --target module:target``: the audit from a shell."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from typing import Any

from authcourse.audit.framework import GROUPS
from authcourse.audit.runner import audit
from authcourse.audit.target import Target


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "app", nargs="?", help="the ASGI app to audit, as module:attribute (in-process)"
    )
    parser.add_argument(
        "--url",
        help="audit a running server at this base URL instead (e.g. http://127.0.0.1:8000);"
        " with an app too, the route inventory also runs",
    )
    parser.add_argument(
        "--target", required=True, help="the Target describing it, as module:attribute"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--only",
        action="append",
        metavar="GROUP",
        help=f"run one group (or probe id) only; repeatable. Groups: {', '.join(GROUPS)}",
    )


def load(spec: str) -> Any:
    """``package.module:attribute`` → the object (the current directory is importable)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"expected module:attribute, got {spec!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


def run(args: argparse.Namespace) -> int:
    """Exit code 1 when any probe fails or crashes, 2 when the arguments are wrong."""
    if args.app is None and args.url is None:
        print("give the app (module:attribute) or --url", file=sys.stderr)
        return 2
    app = load(args.app) if args.app else None
    target = load(args.target)
    if not isinstance(target, Target):
        print(f"{args.target} is a {type(target).__name__}, not an audit Target", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(audit(app, target, only=args.only, url=args.url))
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    print(report.to_json() if args.json else report.text())
    return report.exit_code
