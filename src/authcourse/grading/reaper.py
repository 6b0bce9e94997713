"""The reaper: one small process per submission that outlives everything the submission starts.

The grader starts it with ``python -I -c <this file's source> ARGV...`` (source read into the
grader's memory before any submission ran), as the leader of a new session. It

- makes itself a *child subreaper* on Linux (``prctl(PR_SET_CHILD_SUBREAPER)``): any process
  the submission starts and orphans, even by a double fork and ``setsid()``, becomes its child
  instead of init's;
- starts the agent (``ARGV``) and then waits for its standard input to close: the grader
  closes it when the submission's grading ends (or dies, which closes it too);
- then kills every child it has, reaps them, and repeats until none is left (a killed
  process's own children become its children in turn), and exits.

Elsewhere than Linux there is no subreaper: it kills its process group, which misses
processes that left it with ``setsid()`` (README says so). Standard library only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def children() -> list[int]:
    """This process's children (Linux: read from /proc; elsewhere an empty list)."""
    me = os.getpid()
    found: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            found.append(int(entry))
    return found


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def end_everything(subreaper: bool) -> None:
    """Kill and reap every descendant; with a subreaper, until none is left."""
    if not subreaper:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.killpg(os.getpgid(0), signal.SIGKILL)  # ends this process too
        return
    quiet_rounds = 0
    while quiet_rounds < 3:
        found = children()
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap()
        quiet_rounds = quiet_rounds + 1 if not found else 0
        time.sleep(0.01)


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    subreaper = _become_subreaper()
    fds = tuple(int(fd) for fd in os.environ.pop("AUTHCOURSE_PASS_FDS", "").split(",") if fd)
    subprocess.Popen(argv, stdin=subprocess.DEVNULL, pass_fds=fds)
    for fd in fds:
        os.close(fd)
    try:
        while sys.stdin.buffer.read(4096):
            pass  # the grader writes nothing; the read ends when it closes the pipe
    finally:
        end_everything(subreaper)


if __name__ == "__main__":
    main(sys.argv[1:])
