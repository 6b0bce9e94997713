"""``make test-browser`` installs no system package: without Chromium it stops and says why."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_a_missing_chromium_is_a_plain_message(tmp_path: Path) -> None:
    missing = tmp_path / "no-chromium-here"
    done = subprocess.run(
        ["make", "--no-print-directory", "test-browser", f"CHROMIUM={missing}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}},
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert f"test-browser: Chromium not found at {missing}." in output
    assert "apt-get install chromium" in output  # what to do, said once
    # Nothing was installed or run: no pip, no apt, no pytest.
    assert "-m pip" not in output and "bin/pytest" not in output, output
