"""The grader's own safety net for processes a submission starts (Linux).

Each submission's processes run under a reaper (:mod:`.reaper`) that ends them all when its
grading ends. A submission can kill its reaper, though; what it started would then be
adopted by init and live on. While it grades, the grader therefore makes *itself* a child
subreaper too, so such orphans become its children, and after each submission it ends every
child that is neither a live reaper nor one it had before grading began.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from authcourse.grading.reaper import PR_SET_CHILD_SUBREAPER, children

PR_GET_CHILD_SUBREAPER = 37

_lock = threading.Lock()
_reapers: set[int] = set()
_kept: set[int] = set()
_active = 0


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if option == PR_GET_CHILD_SUBREAPER:
            flag = ctypes.c_int(0)
            libc.prctl(option, ctypes.byref(flag), 0, 0, 0)
            return bool(flag.value)
        return bool(libc.prctl(option, value, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


@contextmanager
def adopting_orphans() -> Iterator[None]:
    """While inside, this process adopts orphans of the submissions it grades (Linux)."""
    global _active
    with _lock:
        _active += 1
        first = _active == 1
        if first:
            was = _prctl(PR_GET_CHILD_SUBREAPER, 0)
            _kept.clear()
            _kept.update(children())
            became = not was and _prctl(PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield
    finally:
        sweep()
        with _lock:
            _active -= 1
            if _active == 0 and first and became:
                _prctl(PR_SET_CHILD_SUBREAPER, 0)


def spawn(start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """Start a reaper with ``start()`` and keep sweeps off it (atomically: a sweep in another
    thread must never see it before it is known)."""
    with _lock:
        process = start()
        _reapers.add(process.pid)
    return process


def ended(pid: int) -> None:
    with _lock:
        _reapers.discard(pid)
    sweep()


def sweep() -> None:
    """End every child that is not a live reaper or one this process had before."""
    if not sys.platform.startswith("linux"):
        return
    quiet = 0
    while quiet < 2:
        with _lock:
            strays = [pid for pid in children() if pid not in _reapers and pid not in _kept]
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        quiet = quiet + 1 if not strays else 0
        if strays:
            time.sleep(0.01)
