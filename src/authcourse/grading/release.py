"""``make release DEST=folder``: the students' copy of the course, for a class repository.

The instructor keeps the full repository and grades with it. The copy leaves out what
answers the labs or is only the instructor's:

- ``solutions/`` and the test suite (``tests/``, which runs the solutions and the
  known-wrong implementations), and ``docs/instructors.md``;
- every solution region (``### BEGIN SOLUTION`` … ``### END SOLUTION``) left in any other
  notebook or Python file is replaced by the lab stub;
- hidden check cases (``@ex.case(..., hidden=True)``) are removed from the chapters' check
  modules, so learners see and run only the visible ones; the instructor's grader runs all.

The files copied are the repository's (``git ls-files``, untracked but not ignored files
included), so ``.venv/``, ``work/``, ``submissions/`` and grades never travel. The copy is
then verified: no solution marker and no hidden case may remain (``ReleaseError``).
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
from pathlib import Path

from authcourse import notebooks
from authcourse.labs import BEGIN, make_lab, strip_solutions

#: Paths (relative, POSIX) that stay in the instructor's repository only.
LEFT_OUT = ("solutions/", "tests/", "docs/instructors.md", ".ci/")


class ReleaseError(RuntimeError):
    """The student copy cannot be made safely (nothing half-made is left behind)."""


def course_files(root: Path) -> list[str]:
    """The repository's files, relative to ``root``: tracked, and untracked but not ignored."""
    done = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise ReleaseError(f"{root} is not a git repository: {done.stderr.decode().strip()}")
    return sorted(name for name in done.stdout.decode().split("\0") if name)


def release(root: Path, dest: Path) -> list[str]:
    """Write the student copy of ``root`` into ``dest`` (new or empty); the files written."""
    root, dest = root.resolve(), dest.resolve()
    if dest == root or root in dest.parents:
        raise ReleaseError(f"{dest} is inside the course repository; choose a folder outside it")
    if dest.exists() and any(dest.iterdir()):
        raise ReleaseError(f"{dest} is not empty: a release goes into a new or empty folder")
    written: list[str] = []
    for name in course_files(root):
        if name.startswith(LEFT_OUT) or not (root / name).is_file():
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        source = root / name
        if name.endswith(".ipynb"):
            text = source.read_text(encoding="utf-8")
            if BEGIN in text:
                lab = make_lab(notebooks.read(source), name)
                target.write_text(notebooks.dumps(lab), encoding="utf-8")
            else:
                shutil.copy2(source, target)
        elif name.endswith(".py"):
            text = source.read_text(encoding="utf-8")
            if BEGIN in text and not name.startswith("src/authcourse/"):
                text = strip_solutions(text, name) + "\n"
            if "hidden=True" in text and name.startswith("src/authcourse/checks/"):
                text = without_hidden_cases(text, name)
            target.write_text(text, encoding="utf-8")
        else:
            shutil.copy2(source, target)
        written.append(name)
    verify(dest)
    return written


def without_hidden_cases(source: str, where: str) -> str:
    """``source`` without the functions decorated ``@<exercise>.case(..., hidden=True)``."""
    tree = ast.parse(source, where)
    drop: list[tuple[int, int]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            _hidden(decorator) for decorator in node.decorator_list
        ):
            start = min(d.lineno for d in node.decorator_list)
            drop.append((start, node.end_lineno or node.lineno))
    lines = source.splitlines(keepends=True)
    for start, end in reversed(drop):
        del lines[start - 1 : end]
    return "".join(lines)


def _hidden(decorator: ast.expr) -> bool:
    return (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr == "case"
        and any(
            keyword.arg == "hidden"
            and isinstance(keyword.value, ast.Constant)
            and keyword.value.value is True
            for keyword in decorator.keywords
        )
    )


def verify(dest: Path) -> None:
    """Refuse a copy that still holds a solution region, a hidden case or solutions/."""
    problems: list[str] = []
    if (dest / "solutions").exists():
        problems.append("solutions/ was copied")
    for path in dest.rglob("*"):
        if path.suffix not in (".ipynb", ".py") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        relative = path.relative_to(dest).as_posix()
        if BEGIN in text and not relative.startswith("src/authcourse/"):
            problems.append(f"{relative} still holds a solution region")
        if relative.startswith("src/authcourse/checks/") and "hidden=True" in text:
            if without_hidden_cases(text, relative) != text:
                problems.append(f"{relative} still holds a hidden case")
    if problems:
        raise ReleaseError("the student copy is not safe to publish: " + "; ".join(problems))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m authcourse.grading.release",
        description="Write the students' copy of the course (no solutions, no hidden cases).",
    )
    parser.add_argument("dest", type=Path, help="a new or empty folder outside the repository")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the course repository")
    args = parser.parse_args(argv)
    try:
        written = release(args.root, args.dest)
    except ReleaseError as error:
        print(f"release: error: {error}", file=sys.stderr)
        return 2
    print(f"release: wrote {len(written)} files to {args.dest} (no solutions/, no hidden cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
