"""No make target writes into a learner's work/ copies, except `make work` creating missing ones."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PHONY = re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
TARGETS = PHONY.group(1).split() if PHONY else []


def test_the_makefile_declares_its_targets() -> None:
    assert {"lab", "work", "test", "test-fast", "labs", "export", "execute"} <= set(TARGETS)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target", TARGETS)
def test_no_target_writes_into_work(target: str) -> None:
    # -n prints the commands without running them; -B prints them even when up to date.
    commands = subprocess.run(
        # PYTHONS: test-pythons runs `python -c` for real, even under -n; this one exists.
        ["make", "-n", "-B", target, "SUBMISSIONS=submissions", f"PYTHONS={sys.executable}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        # Run from inside `make test`, the outer make's flags would leak into this one.
        env={k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}},
    ).stdout.splitlines()
    # "work" as a relative path (work/, ./work), not as part of an absolute one (/work/...).
    touching_work = [
        line
        for line in commands
        if re.search(r"(?<![\w/.-])(\./)?work\b", line) and "authcourse work" not in line
    ]
    assert not touching_work, touching_work
