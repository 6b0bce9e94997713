"""nbval, configured as `make test` runs it, accepts a current notebook and names a stale one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SANITIZER = Path(__file__).parent / "nbval_sanitize.cfg"

pytestmark = pytest.mark.slow


def run_nbval(notebook: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
        "--noconftest", "--rootdir", str(notebook.parent), "--nbval", "--nbval-current-env",
        "--nbval-sanitize-with", str(SANITIZER), str(notebook),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, cwd=notebook.parent, check=False)


def test_current_outputs_pass(tmp_path: Path) -> None:
    notebook = tmp_path / "current.ipynb"
    shutil.copy(FIXTURES / "99_nbval.ipynb", notebook)
    result = run_nbval(notebook)
    assert result.returncode == 0, result.stdout
    # A random token and a timing cell pass thanks to the sanitizer and NBVAL_IGNORE_OUTPUT.
    assert "4 passed" in result.stdout


def test_outputs_that_no_longer_match_fail_and_name_the_file(tmp_path: Path) -> None:
    notebook = tmp_path / "edited.ipynb"
    content = nbformat.read(FIXTURES / "99_nbval.ipynb", as_version=4)
    # Someone changed the code but did not re-execute the notebook.
    content.cells[1].source = 'print("changed output")'
    nbformat.write(content, notebook)
    result = run_nbval(notebook)
    assert result.returncode == 1
    assert "edited.ipynb::Cell 1" in result.stdout
    assert "1 failed, 3 passed" in result.stdout
