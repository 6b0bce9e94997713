"""The peer in the same run: fastapi-users, in its own environment and its own process.

fastapi-users (the most used FastAPI auth library) pins SQLAlchemy below 2.1 while the
course uses 2.1, so the bench builds it a virtual environment of its own,
``.venv-peer/`` at the repository root (git-ignored), with ``pip``:
:data:`PEER_REQUIREMENTS` plus, as constraints, the exact versions the course has of the
packages every request goes through (:data:`SHARED_PACKAGES`: FastAPI, Starlette,
Pydantic, the HTTP client, aiosqlite, PyJWT...). So the two sides differ in the auth
library and SQLAlchemy, not in the framework. The environment is reused while those
inputs are unchanged.

:class:`PeerProcess` runs ``peer_fastapi_users.py`` with that Python and hands out block
runners (:data:`authcourse.bench.timing.BlockRunner`): the peer takes its samples with
the same ``timing.py``, and its blocks alternate with ours. If the environment cannot be
built, :class:`PeerUnavailable` says why and the peer's row reads "not measured".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import venv
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from authcourse.bench.subprocesses import stop, tail
from authcourse.bench.timing import BlockRunner

PEER_VENV = ".venv-peer"
PEER_SCRIPT = Path(__file__).with_name("peer_fastapi_users.py")
#: Pinned: a benchmark compares versions someone chose, not whatever is newest today.
PEER_REQUIREMENTS = (
    "fastapi-users[sqlalchemy]==15.0.5",
    "fastapi-users-db-sqlalchemy==7.0.0",
    "aiosqlite",
    "httpx2",
)
#: Installed in the peer at the very version the course has, when the course has it.
SHARED_PACKAGES = (
    "fastapi",
    "starlette",
    "pydantic",
    "pydantic-core",
    "anyio",
    "httpx2",
    "httpcore2",
    "h11",
    "aiosqlite",
    "pyjwt",
    "cryptography",
    "greenlet",
)
STAMP = ".authcourse-peer-stamp"
#: pip gets this long to build the environment (it downloads from PyPI the first time).
INSTALL_TIMEOUT_SECONDS = 900.0

Progress = Callable[[str], None]


class PeerUnavailable(RuntimeError):
    """The peer could not be set up or stopped answering: it was not measured."""


def constraints() -> list[str]:
    """``name==version`` for each shared package the course's environment has."""
    pins = []
    for name in SHARED_PACKAGES:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def peer_python(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def ensure_peer_env(root: Path, progress: Progress | None = None) -> Path:
    """The peer environment's Python, building ``root/.venv-peer`` first when needed.

    Raises :class:`PeerUnavailable` with pip's last words when it cannot be built.
    """
    say = progress or (lambda _message: None)
    venv_dir = root / PEER_VENV
    python = peer_python(venv_dir)
    pins = constraints()
    wanted = json.dumps({"requirements": PEER_REQUIREMENTS, "constraints": pins}, indent=1)
    stamp = venv_dir / STAMP
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    say(f"peer: building {PEER_VENV}/ with pip (fastapi-users and its dependencies)")
    try:
        venv.EnvBuilder(clear=True, with_pip=True).create(venv_dir)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pinned:
            pinned.write("\n".join(pins) + "\n")
        try:
            done = subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-c",
                    pinned.name,
                    *PEER_REQUIREMENTS,
                ],  # fmt: skip
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_SECONDS,
                check=False,
            )
        finally:
            Path(pinned.name).unlink(missing_ok=True)
    except (OSError, subprocess.SubprocessError) as error:
        raise PeerUnavailable(f"could not build {PEER_VENV}: {error}") from error
    if done.returncode != 0:
        problems = [line for line in done.stderr.splitlines() if "ignored" not in line]
        raise PeerUnavailable(
            f"pip could not install the peer (exit {done.returncode}): "
            + " ".join(problems[-3:] or ["no output"])
        )
    stamp.write_text(wanted)
    return python


@dataclass
class PeerProcess:
    """The running peer: its labels, its versions, and a block runner per label."""

    process: asyncio.subprocess.Process
    labels: list[str]
    versions: dict[str, str | None]
    timeout: float
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def runner(self, label: str) -> BlockRunner:
        if label not in self.labels:
            raise KeyError(f"the peer has no route labelled {label!r}; it has {self.labels}")

        async def run_block(count: int) -> list[float]:
            answer = await self.ask({"op": "block", "label": label, "count": count})
            return [float(sample) for sample in answer["samples"]]

        return run_block

    async def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send one command, wait for its one-line answer."""
        assert self.process.stdin is not None and self.process.stdout is not None
        async with self._lock:
            self.process.stdin.write((json.dumps(command) + "\n").encode())
            await self.process.stdin.drain()
            answer = await _read_message(self.process, self.timeout)
        if "error" in answer:
            raise PeerUnavailable(f"the peer failed: {answer['error']}")
        return answer


@contextlib.asynccontextmanager
async def peer_process(
    python: Path,
    *,
    script: Path = PEER_SCRIPT,
    startup_timeout: float = 120.0,
    timeout: float = 120.0,
    extra_args: Sequence[str] = (),
) -> AsyncIterator[PeerProcess]:
    """Start the peer script with ``python`` (isolated: ``-I``), yield it, always stop it."""
    with tempfile.TemporaryFile("w+") as errors:
        process = await asyncio.create_subprocess_exec(
            str(python),
            "-I",  # no PYTHONPATH, no user site: only what .venv-peer has
            str(script),
            *extra_args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
        )
        try:
            try:
                ready = await _read_message(process, startup_timeout)
            except PeerUnavailable as error:
                raise PeerUnavailable(f"{error}; its error output: {tail(errors)}") from None
            if not ready.get("ready"):
                raise PeerUnavailable(f"the peer did not start: {ready.get('error', ready)}")
            yield PeerProcess(process, list(ready["labels"]), dict(ready["versions"]), timeout)
        finally:
            await _stop(process)


async def _read_message(process: asyncio.subprocess.Process, timeout: float) -> dict[str, Any]:
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout)
    except TimeoutError:
        raise PeerUnavailable(f"the peer said nothing for {timeout:g} s") from None
    if not line:
        raise PeerUnavailable("the peer exited")
    try:
        message = json.loads(line)
    except ValueError:
        raise PeerUnavailable(
            f"the peer answered something else than JSON: {line[:200]!r}"
        ) from None
    if not isinstance(message, dict):
        raise PeerUnavailable(f"the peer answered {message!r}")
    return message


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None and process.stdin is not None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            process.stdin.write(b'{"op": "quit"}\n')
            await process.stdin.drain()
    await stop(process)
