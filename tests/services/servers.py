"""Throwaway PostgreSQL and Redis servers for ``make test-services``.

``python tests/services/servers.py -- COMMAND...`` starts a PostgreSQL 15 cluster (``initdb``
and ``pg_ctl`` into a temporary directory, as the ``postgres`` user when run as root) and a
Redis server (no persistence), both on random loopback ports, runs COMMAND with

    CLOUDDOCS_TEST_DATABASE_URL  postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres
    CLOUDDOCS_TEST_REDIS_URL     redis://127.0.0.1:PORT

in its environment, then stops both servers and deletes their files, whatever happened
(failure, Ctrl-C, SIGTERM). It installs nothing: a missing server is a plain error message.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DATABASE_ENV = "CLOUDDOCS_TEST_DATABASE_URL"
REDIS_ENV = "CLOUDDOCS_TEST_REDIS_URL"
PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/local/bin")
#: Redis databases: one per pytest-xdist worker (each test empties its worker's database).
REDIS_DATABASES = 64


class ServiceError(RuntimeError):
    """A server could not be started; the message says which and why, in plain words."""


@dataclass(frozen=True)
class PostgresServer:
    port: int
    socket_dir: Path

    @property
    def url(self) -> str:
        """The superuser's URL on the ``postgres`` maintenance database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"


@dataclass(frozen=True)
class RedisServer:
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pg_tool(name: str) -> str:
    for directory in PG_BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ServiceError(
            f"PostgreSQL's {name} was not found (looked in {', '.join(PG_BIN_DIRS)} and PATH); "
            "install PostgreSQL 15 (Debian: postgresql-15) to run the service tests"
        )
    return found


def _as_postgres(command: list[str], directory: Path) -> list[str]:
    """PostgreSQL refuses to run as root: as root, hand the directory to ``postgres``."""
    if os.geteuid() != 0:
        return command
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceError(
            "running as root, but there is no 'postgres' user to run PostgreSQL as"
        ) from None
    os.chown(directory, account.pw_uid, account.pw_gid)  # what initdb creates is theirs
    return ["runuser", "-u", "postgres", "--", *command]


def _run(command: list[str], what: str) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as error:  # e.g. runuser missing
        raise ServiceError(f"{what} could not run {command[0]}: {error.strerror}") from None
    if result.returncode != 0:
        raise ServiceError(
            f"{what} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
        )


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A fresh cluster: trust authentication on loopback and a socket in its own directory,
    durability off (a test cluster is thrown away), stopped and deleted on the way out."""
    initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="clouddocs-pg-"))
    data, log = root / "data", root / "server.log"
    started = False
    try:
        os.chmod(root, 0o700)
        _run(
            _as_postgres(
                [
                    initdb,
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
                root,
            ),
            "initdb (creating the PostgreSQL test cluster)",
        )
        port = free_port()
        options = " ".join(
            [
                f"-p {port}",
                f"-k {root}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
                "-c shared_buffers=32MB",
            ]
        )
        started = True
        _run(
            _as_postgres(
                [pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "30", "start"],
                root,
            ),
            f"pg_ctl start (PostgreSQL on 127.0.0.1:{port}; log: {_tail(log)})",
        )
        yield PostgresServer(port, root)
    finally:
        if started:
            subprocess.run(
                _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], root),
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


def _tail(log: Path) -> str:
    with contextlib.suppress(OSError):
        return log.read_text()[-2000:]
    return "(none)"


def _redis_answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")
    return False


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """``redis-server`` with no persistence, on loopback only, stopped on the way out."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError(
            "redis-server was not found on PATH; install it (Debian: apt-get install "
            "redis-server) to run the service tests"
        )
    workdir = Path(tempfile.mkdtemp(prefix="clouddocs-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--save",
            "",
            "--appendonly",
            "no",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(workdir),
            "--databases",
            str(REDIS_DATABASES),
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while not _redis_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                raise ServiceError(f"redis-server did not start on 127.0.0.1:{port}:\n{output}")
            time.sleep(0.05)
        yield RedisServer(port)
    finally:
        stop_process(process)
        shutil.rmtree(workdir, ignore_errors=True)


def stop_process(process: subprocess.Popen[bytes], grace: float = 10) -> None:
    """SIGTERM, then SIGKILL when it has not exited within ``grace`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout:
        process.stdout.close()


def _sigterm_as_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print("usage: servers.py -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1 :]
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    child: subprocess.Popen[bytes] | None = None
    try:
        with postgres_server() as postgres, redis_server() as redis:
            print(
                f"test services: PostgreSQL 15 on 127.0.0.1:{postgres.port}, "
                f"Redis on 127.0.0.1:{redis.port}",
                flush=True,
            )
            env = {**os.environ, DATABASE_ENV: postgres.url, REDIS_ENV: redis.url}
            child = subprocess.Popen(command, env=env)
            return child.wait()
    except ServiceError as error:
        print(f"make test-services: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if child is not None:
            stop_process(child)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv))
