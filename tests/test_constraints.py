"""constraints.txt pins the tested set, and every install uses it.

Learners, CI and conda/Binder install with ``-c constraints.txt``: a room of forty installs
the versions this suite passed with, not whatever was published that morning. These tests
keep the file honest: every dependency pyproject.toml declares (main and every extra) is
pinned, each pin satisfies pyproject's range, and the environment running the suite has
exactly the pinned versions (so "tested with" is true of this run).
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, separator, version = line.partition("==")
        assert separator and version, f"constraints.txt: {line!r} is not an exact pin (name==version)"
        pins[canonicalize_name(name)] = version
    return pins


def _declared() -> dict[str, list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"main": project["dependencies"], **project["optional-dependencies"]}
    return {group: [Requirement(text) for text in texts] for group, texts in groups.items()}


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    pins = _pins()
    for group, requirements in _declared().items():
        for requirement in requirements:
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{requirement} ({group}) is not pinned in constraints.txt"
            assert requirement.specifier.contains(pins[name], prereleases=True), (
                f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {requirement}"
            )


def test_the_suite_runs_on_the_pinned_versions() -> None:
    pins = _pins()
    for requirement in [*_declared()["main"], *_declared()["dev"]]:
        name = canonicalize_name(requirement.name)
        installed = importlib.metadata.version(requirement.name)
        assert installed == pins[name], (
            f"{name} {installed} is installed, constraints.txt pins {pins[name]}:"
            " reinstall with `make install-dev` (the Makefile installs with -c constraints.txt)"
        )


def test_every_makefile_install_uses_the_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    pip_variable = re.search(r"^PIP\s*:=(.*)$", makefile, re.MULTILINE)
    assert pip_variable is not None and "-c constraints.txt" in pip_variable.group(1)
    recipes = re.findall(r"^\t(.*)$", makefile, flags=re.MULTILINE)
    installs = [line for line in recipes if "$(PIP)" in line or "pip install" in line]
    # `make constraints` alone resolves freely: it is what writes the file.
    raw = [line for line in installs if "$(PIP)" not in line and ".venv-constraints" not in line]
    assert not raw, f"pip installs that bypass constraints.txt: {raw}"
    # The learner, dev, services and browser installs all go through $(PIP).
    assert sum("$(PIP)" in line for line in installs) >= 4, installs
