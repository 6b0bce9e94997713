"""``make doctor`` (issue 25): a wrong Python is refused before ``.venv/`` is created, and a
broken or wrong-version ``.venv/`` is created again, each with a plain message."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from authcourse import doctor

DOCTOR = Path(doctor.__file__)


def fake_python(path: Path, version: str | None) -> Path:
    """An executable that answers the version probe with ``version`` (None: it fails)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = f"echo {version}" if version else "echo 'cannot execute' >&2; exit 126"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.skipif(os.name == "nt", reason="shell-script fakes")
def test_a_wrong_python_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    old = fake_python(tmp_path / "python3.9", "3.9")
    done = subprocess.run(
        [sys.executable, str(DOCTOR), "venv", "--python", str(old), "--venv", str(tmp_path / "v")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "is Python 3.9; the course needs Python 3.11, 3.12, 3.13" in done.stdout
    assert "Nothing was created" in done.stdout
    assert not (tmp_path / "v").exists()
    assert len(done.stdout) < 400  # a plain sentence, not a pip traceback


@pytest.mark.skipif(os.name == "nt", reason="shell-script fakes")
@pytest.mark.parametrize(
    ("inside", "said"),
    [(None, "is broken (its Python does not run)"), ("3.9", "was made with Python 3.9")],
)
def test_a_broken_or_wrong_venv_is_created_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], inside: str | None, said: str
) -> None:
    venv = tmp_path / ".venv"
    fake_python(venv / "bin" / "python", inside)
    (venv / ".installed-stamp").touch()  # Makefile's stamp goes with it: make reinstalls
    assert doctor.check_venv(sys.executable, str(venv), bare=True) == 0
    out = capsys.readouterr().out
    assert said in out and "creating it again" in out
    assert not (venv / ".installed-stamp").exists()
    assert doctor.python_version(str(venv / "bin" / "python")) == sys.version_info[:2]
    # Run again: the new one is kept.
    assert doctor.check_venv(sys.executable, str(venv), bare=True) == 0
    assert ": fine" in capsys.readouterr().out


def test_the_environment_imports_and_answers_a_request() -> None:
    assert doctor.check_imports() == []
    assert doctor.check_request() == []


@pytest.mark.slow
def test_a_kernel_starts() -> None:
    assert doctor.check_kernel(timeout=60) == []
