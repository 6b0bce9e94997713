"""environment.yml (conda, Binder) adds nothing to pyproject.toml (DESIGN §3).

The file pins Python and pip-installs this repository as a learner's ``make lab`` does
(no ``dev`` extra) with the versions of constraints.txt, so conda, Binder and plain pip end
up with the same packages: the ones pyproject.toml declares, at the tested versions. A
dependency written into environment.yml would be a second list that drifts.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _top_level_sections(text: str) -> dict[str, list[str]]:
    """environment.yml's top-level keys and the content lines under each (comments dropped).

    A deliberately small reader: the file is four keys deep at most, and the test must not
    depend on a YAML library that pyproject.toml does not declare.
    """
    sections: dict[str, list[str]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if not line[0].isspace():
            key, _, value = line.partition(":")
            current = key.strip()
            sections[current] = [value.strip()] if value.strip() else []
        else:
            sections[current].append(line.strip())
    return sections


def _environment() -> dict[str, list[str]]:
    return _top_level_sections((ROOT / "environment.yml").read_text(encoding="utf-8"))


def _project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]  # type: ignore[no-any-return]


def test_only_python_and_pip_come_from_conda() -> None:
    dependencies = _environment()["dependencies"]
    conda_packages = [
        item.removeprefix("- ")
        for item in dependencies
        if item.startswith("- ") and not item.startswith("- -") and item != "- pip:"
    ]
    assert conda_packages == ["python=3.11", "pip"], conda_packages


def test_pip_installs_this_repository_for_learners_with_the_tested_versions() -> None:
    dependencies = _environment()["dependencies"]
    assert "- pip:" in dependencies
    pip_items = dependencies[dependencies.index("- pip:") + 1 :]
    assert pip_items == ["- -c constraints.txt", "- -e ."], pip_items


def test_the_pinned_python_is_one_pyproject_accepts() -> None:
    (pin,) = [item for item in _environment()["dependencies"] if item.startswith("- python=")]
    major, minor = (int(part) for part in pin.removeprefix("- python=").split(".")[:2])
    requires = str(_project()["requires-python"])
    lower = re.search(r">=\s*3\.(\d+)", requires)
    upper = re.search(r"<\s*3\.(\d+)", requires)
    assert major == 3 and lower is not None and minor >= int(lower.group(1)), requires
    assert upper is None or minor < int(upper.group(1)), requires


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=\[ ;]", requirement, maxsplit=1)[0] for requirement in requirements}


def test_learners_get_the_course_and_its_checks_but_no_linters() -> None:
    # `-e .` installs the main dependencies: JupyterLab, the course, nbval for `check`-style
    # runs; linters and type checkers are for authors and CI (the dev extra).
    project = _project()
    learner = _names(project["dependencies"])  # type: ignore[arg-type]
    assert {"jupyterlab", "ipykernel", "nbval", "pytest"} <= learner, learner
    assert not {"ruff", "mypy", "pytest-xdist", "schemathesis"} & learner, learner
    extras = project["optional-dependencies"]
    assert isinstance(extras, dict)
    assert {"ruff", "mypy", "pytest-xdist"} <= _names(extras["dev"]), extras["dev"]


def test_the_reader_sees_a_declared_dependency() -> None:
    # The checks above are only worth something if a dependency added to the file shows up.
    tampered = _top_level_sections(
        "name: x\ndependencies:\n  - python=3.11\n  - numpy  # sneaked in\n  - pip\n"
        "  - pip:\n      - -e .\n      - requests\n"
    )
    assert tampered["dependencies"] == [
        "- python=3.11",
        "- numpy",
        "- pip",
        "- pip:",
        "- -e .",
        "- requests",
    ]


def test_the_binder_badge_opens_a_notebook_that_exists() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\(https://mybinder\.org/v2/gh/[^)]*\?urlpath=lab/tree/([^)]+)\)", readme)
    assert links, "README has no Binder badge link that opens a notebook"
    for path in links:
        assert (ROOT / path).is_file(), f"the Binder badge opens {path}, which does not exist"
    assert "10 minutes" in readme and "download your `work/`" in readme  # the idle warning


def test_binder_makes_the_learners_copies_after_installing() -> None:
    post_build = ROOT / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    commands = [
        line.strip()
        for line in post_build.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert commands == ["set -e", "python -m authcourse work"], commands
