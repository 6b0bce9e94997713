"""The repository's generated files match their sources (DESIGN §3).

These are the tests behind "a stale lab or a hand-edited clouddocs module fails
`make test` with a message that names the file".
"""

from __future__ import annotations

from pathlib import Path

from authcourse import export, labs

ROOT = Path(__file__).resolve().parents[1]


def test_clouddocs_matches_the_notebooks() -> None:
    problems = export.stale_files(ROOT, ROOT / "notebooks", ROOT / "src" / "clouddocs")
    assert not problems, "\n".join(problems)


def test_labs_match_the_solutions() -> None:
    problems = labs.stale_files(ROOT, ROOT / "solutions", ROOT / "labs")
    assert not problems, "\n".join(problems)


def test_labs_and_solutions_pair_up_and_carry_no_outputs() -> None:
    solutions = sorted(path.name for path in (ROOT / "solutions").glob("*.ipynb"))
    assert sorted(path.name for path in (ROOT / "labs").glob("*.ipynb")) == solutions
    for lab in (ROOT / "labs").glob("*.ipynb"):
        assert '"output_type"' not in lab.read_text(), f"{lab.name} carries outputs"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme
    # CI runs exactly that first, then further targets on real servers and in a browser.
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "make test" in commands
    later = [c for c in commands if c.startswith("make ") and c != "make test"]
    assert all(commands.index("make test") < commands.index(c) for c in later), commands


def test_reference_code_needs_nothing_from_the_toolkit() -> None:
    # Engineers copy clouddocs into production; it must not drag the course toolkit along.
    offenders = [
        f"{module.name}:{number}"
        for module in sorted((ROOT / "src" / "clouddocs").glob("*.py"))
        for number, line in enumerate(module.read_text().splitlines(), start=1)
        if line.lstrip().startswith(("import authcourse", "from authcourse"))
    ]
    assert not offenders, f"clouddocs imports authcourse at {offenders}"
