"""The grading agent: the process a submission runs in (``python -c <this source> FD``).

The grader starts it (through :mod:`authcourse.grading.reaper`) with a scrubbed environment,
a temporary working directory and the course packages imported from a throwaway copy. Before
any learner cell runs, the agent

1. imports the chapter's checks (and with them everything they rely on),
2. installs an audit hook, which no later code can remove, that notes writes under the
   course or the installed packages, reads of the course's solutions or of other
   submissions, ``ctypes``, interpreter-wide searches (``gc``), trace functions, new audit
   hooks and replaced function code,
3. records every module's functions, classes and submodules, every class's attributes and
   ``sys.modules``, so that a replaced ``asyncio.run`` or ``Status.__eq__`` is seen later.

Then it runs the cells it is sent, one at a time, in an IPython shell (magics and top-level
``await`` work as in Jupyter), and after each one reports what changed, attributed to that
cell. Finally it runs the checks: each exercise in forked children where the platform allows
(a runaway is killed and costs only itself) and reports each result in the checks' one
schema (:meth:`ExerciseResult.as_dict`).

The channel to the grader is a socket inherited at start, outside the kernel's messaging,
that the learner's cells never see by name; every message after the grading request
carries the grader's nonce. None of this is a sandbox: learner code runs with the grader's
rights, and these observations are detection, not prevention (README, "Grading").
"""

from __future__ import annotations

import hmac
import json
import os
import re
import struct
import sys
import sysconfig
import types
from collections.abc import Callable
from typing import Any

# Captured before any learner code runs: the channel uses these, whatever is patched later.
_read: Callable[[int, int], bytes] = os.read
_write: Callable[[int, bytes], int] = os.write
_dumps = json.dumps
_loads = json.loads
_pack = struct.pack
_unpack = struct.unpack
_hmac_digest = hmac.digest
_HEADER = 4
_MODULE_TYPE = types.ModuleType
_FUNCTION_TYPE = types.FunctionType


class Channel:
    """Length-prefixed JSON messages over one file descriptor.

    Messages to the grader are numbered and signed (HMAC-SHA256) with a key the grader
    sends first, before any learner cell runs: learner code can find the descriptor (it is
    in ``sys.argv``), but a message it writes there is refused unless it also digs the key
    out of this process's memory.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.sign: Callable[[bytes], str] = lambda data: ""
        self.sent = 0

    def keyed(self, key: bytes) -> None:
        def sign(data: bytes) -> str:
            return _hmac_digest(key, data, "sha256").hex()

        self.sign = sign

    def send(self, message: dict[str, Any]) -> None:
        body = _dumps(message)
        self.sent += 1
        envelope = {"seq": self.sent, "body": body}
        envelope["mac"] = self.sign(f"{self.sent}:{body}".encode())
        data = _dumps(envelope).encode("utf-8")
        data = _pack(">I", len(data)) + data
        while data:
            data = data[_write(self.fd, data) :]

    def receive(self) -> dict[str, Any]:
        (size,) = _unpack(">I", self._exactly(_HEADER))
        value = _loads(self._exactly(size).decode("utf-8"))
        if type(value) is not dict:
            raise ValueError("not a message")
        return value

    def _exactly(self, size: int) -> bytes:
        chunks = b""
        while len(chunks) < size:
            chunk = _read(self.fd, size - len(chunks))
            if not chunk:
                raise EOFError("the grader closed the channel")
            chunks += chunk
        return chunks


# --- what the checks rely on, captured before the learner's first cell ---------------------


def _watched(value: object) -> bool:
    # Functions, classes, descriptors and modules: what code calls or looks things up in.
    # Plain data (caches, counters, a lazily created event loop policy) may change legitimately.
    return (
        callable(value)
        or isinstance(value, _MODULE_TYPE | property | staticmethod | classmethod)
        or hasattr(type(value), "__get__")
    )


class Baseline:
    """Modules, classes and functions as they were before the learner's first cell."""

    def __init__(self, shell: Any) -> None:
        self.modules: dict[str, Any] = dict(sys.modules)
        self.module_attrs: dict[str, tuple[Any, dict[str, Any]]] = {}
        self.classes: list[tuple[str, type, dict[str, Any]]] = []
        self.code: list[tuple[str, Any, Any, Any, Any]] = []
        for name, module in self.modules.items():
            namespace = getattr(module, "__dict__", None)
            if type(namespace) is not dict:
                continue
            watched = {key: value for key, value in namespace.items() if _watched(value)}
            self.module_attrs[name] = (module, watched)
            for key, value in watched.items():
                if isinstance(value, type) and getattr(value, "__module__", None) == name:
                    attrs = {k: v for k, v in vars(value).items() if _watched(v)}
                    self.classes.append((f"{name}.{key}", value, attrs))
                    self._functions(f"{name}.{key}", attrs)
            self._functions(name, watched)
        self.shell = shell
        self.shell_attrs = dict(vars(shell))

    def _functions(self, where: str, attrs: dict[str, Any]) -> None:
        for key, value in attrs.items():
            function = value.__func__ if isinstance(value, staticmethod | classmethod) else value
            if type(function) is _FUNCTION_TYPE:
                self.code.append(
                    (
                        f"{where}.{key}",
                        function,
                        function.__code__,
                        function.__defaults__,
                        function.__kwdefaults__,
                    )
                )

    def changes(self) -> list[str]:
        """What the learner's code replaced since the baseline, in plain words.

        Libraries change some of these themselves (SQLAlchemy and pydantic generate code
        and attributes lazily), so a change counts only when the new value was made by the
        learner's cells: a function or class defined in a cell, or a module object that was
        never imported. Swapping in an existing library function is not seen here; the
        source scan flags the assignment instead.
        """
        found: list[str] = []
        current = sys.modules
        for name, module in self.modules.items():
            now = current.get(name, module)
            if now is not module and (_learner_made(now) or _fake_module(now)):
                found.append(f"replaces sys.modules[{name!r}]")
        for name, (module, watched) in self.module_attrs.items():
            namespace = module.__dict__
            for key, value in watched.items():
                now = namespace.get(key, value)
                if now is not value and _learner_made(now):
                    found.append(f"replaces {name}.{key}")
        for where, cls, attrs in self.classes:
            for key, now in list(vars(cls).items()):
                if attrs.get(key, _MISSING) is not now and _learner_made(now):
                    found.append(f"{'replaces' if key in attrs else 'adds'} {where}.{key}")
        for where, function, code, _defaults, _kwdefaults in self.code:
            if function.__code__ is not code and _learner_file(function.__code__.co_filename):
                found.append(f"replaces the code of {where}")
        for key, now in list(vars(self.shell).items()):
            if self.shell_attrs.get(key, _MISSING) is not now and _learner_made(now):
                found.append(f"replaces get_ipython().{key}")
        return found


_MISSING = object()


def _learner_file(filename: str) -> bool:
    # IPython names a cell's code "<ipython-input-N-…>" (ipykernel: ".../ipykernel_…/….py").
    return filename.startswith("<ipython-input") or "ipykernel_" in filename


def _learner_made(value: object, depth: int = 0) -> bool:
    """True for a function, class or descriptor defined in one of the learner's cells."""
    if depth > 3:
        return False
    try:
        code = getattr(value, "__code__", None)
        if isinstance(code, types.CodeType):
            return _learner_file(code.co_filename)
        if isinstance(value, type):
            return value.__module__ == "__main__"
        if isinstance(value, staticmethod | classmethod):
            return _learner_made(value.__func__, depth + 1)
        if isinstance(value, property):
            return any(_learner_made(f, depth + 1) for f in (value.fget, value.fset))
        inner = getattr(value, "__func__", None) or getattr(value, "func", None)
        if inner is not None and inner is not value:
            return _learner_made(inner, depth + 1)  # bound methods, functools.partial
        return type(value).__module__ == "__main__"  # an instance of a learner's class
    except Exception:  # a value that cannot even be looked at was not made by a library
        return True


def _fake_module(value: object) -> bool:
    return not isinstance(value, _MODULE_TYPE) or getattr(value, "__spec__", None) is None


# --- the audit hook ------------------------------------------------------------------------


class Watch:
    """Audit events that reach into the machinery, attributed to the cell that was running."""

    def __init__(self, read_roots: list[str], write_roots: list[str]) -> None:
        self.read_roots = tuple(os.path.realpath(root) + os.sep for root in read_roots)
        self.write_roots = tuple(os.path.realpath(root) + os.sep for root in write_roots)
        self.where: str | None = None  # "cell 3", "the checks", or None (the agent's own work)
        self.found: list[tuple[str, str]] = []

    def note(self, what: str) -> None:
        if self.where is not None and (self.where, what) not in self.found:
            self.found.append((self.where, what))

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if self.where is None:
            return
        try:
            self._event(event, args)
        except Exception:  # an audit hook must never break the code it watches
            self.note(f"did something the grader could not inspect ({event})")

    def _event(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = args
            if isinstance(path, str | bytes):
                writing = any(c in str(mode) for c in "wax+") or bool(
                    flags & (os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC)
                )
                self._path(os.fsdecode(path), writing)
        elif event in _PATH_EVENTS:
            for arg in args[: _PATH_EVENTS[event]]:
                if isinstance(arg, str | bytes):
                    self._path(os.fsdecode(arg), writing=True)
        elif event == "object.__setattr__" and args[1] in ("__code__", "__defaults__"):
            # Libraries do this too (SQLAlchemy, namedtuple): only the learner's own cells
            # count, told by the file name of the code that does the assignment.
            caller = sys._getframe(2).f_code.co_filename
            if _learner_file(caller) and getattr(args[0], "__module__", None) != "__main__":
                target = getattr(args[0], "__qualname__", "a function")
                self.note(f"replaces the code of {target}")
        elif event.startswith("ctypes."):
            self.note("uses ctypes")
        elif event in _EVENTS:
            self.note(_EVENTS[event])

    def _path(self, path: str, writing: bool) -> None:
        real = os.path.realpath(path)
        other = _OTHER_PROCESS.match(real)
        if other and int(other.group(1)) != os.getpid():
            # Another process's environment or memory: the grader's own variables live there.
            self.note(f"reads {real} (another process)")
        elif writing and real.startswith(self.write_roots):
            self.note(f"writes {real}")
        elif real.startswith(self.read_roots):
            self.note(f"reads {real}")


_OTHER_PROCESS = re.compile(r"^/proc/(\d+)/(?:environ|cmdline|mem|maps|fd|cwd|root)\b")
_PATH_EVENTS = {
    "os.rename": 2,
    "os.remove": 1,
    "os.rmdir": 1,
    "os.link": 2,
    "os.symlink": 2,
    "os.chmod": 1,
    "os.truncate": 1,
    "os.utime": 1,
    "shutil.copyfile": 2,
    "shutil.move": 2,
    "shutil.rmtree": 1,
}
_EVENTS = {
    "sys.addaudithook": "adds an audit hook",
    "sys.settrace": "sets a trace function",
    "sys.setprofile": "sets a profile function",
    "gc.get_objects": "searches every object in the interpreter (gc)",
    "gc.get_referrers": "searches the interpreter's objects (gc)",
    "gc.get_referents": "searches the interpreter's objects (gc)",
    "sys._current_frames": "inspects other threads' frames",
}


# --- the agent -----------------------------------------------------------------------------


def main(fd: int) -> None:
    channel = Channel(fd)
    hello = channel.receive()
    channel.keyed(bytes.fromhex(hello.pop("key")))
    chapter: str = hello["chapter"]
    site = os.path.realpath(hello["site"])
    try:
        import authcourse
        from authcourse.checks import registry, runner

        if not os.path.realpath(authcourse.__file__).startswith(site + os.sep):
            raise ImportError(f"authcourse was imported from {authcourse.__file__}, not the copy")
        exercises = {ex.id: ex for ex in registry.chapter_exercises(chapter)}
        runner.CASE_TIMEOUT_SECONDS = float(hello["case_timeout"])
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance(colors="NoColor")
    except Exception as error:  # a broken installation is the grader's failure, said plainly
        channel.send({"op": "broken", "error": f"{type(error).__name__}: {error}"})
        return
    installed = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    watch = Watch(hello["read_roots"], [*hello["write_roots"], site, *installed])
    sys.addaudithook(watch)
    baseline = Baseline(shell)
    seen: set[str] = set()

    def new_changes() -> list[str]:
        try:
            changes = baseline.changes()
        except Exception as error:  # something in the way of looking is itself suspect
            changes = [f"made the machinery impossible to compare ({type(error).__name__})"]
        fresh = [change for change in changes if change not in seen]
        seen.update(fresh)
        return fresh

    def observe_child() -> list[str]:
        # Runs in a forked child, after its cases: its own audit events and changes.
        events = [what for _where, what in watch.found]
        return events + new_changes()

    channel.send({"op": "ready"})
    while True:
        message = channel.receive()
        if message["op"] == "cell":
            where = f"cell {message['number']}"
            watch.where = where
            raised = _run_cell(shell, message["source"])
            watch.where = None
            for change in new_changes():
                watch.found.append((where, change))
            channel.send({"op": "cell", "error": raised, "findings": _take(watch)})
        elif message["op"] == "grade":
            nonce = message["nonce"]
            namespace = shell.user_ns
            watch.where = "the checks"
            for id in message["exercises"]:
                exercise = exercises[id]
                if runner.CAN_ISOLATE:
                    # Each forked child reports what the learner's code changed while the
                    # checks called it (the patches it made die with the child).
                    observed: list[str] = []
                    result = runner.run_exercise_isolated(
                        exercise, namespace, observe=observe_child, observed=observed
                    )
                    for what in observed:
                        watch.note(what)
                else:
                    result = runner.run_exercise(exercise, namespace)
                channel.send({"op": "exercise", "nonce": nonce, "result": result.as_dict()})
            for change in new_changes():
                watch.found.append(("the checks", change))
            watch.where = None
            channel.send({"op": "graded", "nonce": nonce, "findings": _take(watch)})


def _take(watch: Watch) -> list[list[str]]:
    found = [[where, what] for where, what in watch.found]
    watch.found.clear()
    return found


def _run_cell(shell: Any, source: str) -> list[str] | None:
    result = shell.run_cell(source, store_history=False, silent=False)
    raised = result.error_before_exec or result.error_in_exec
    if raised is None:
        return None
    try:
        return [type(raised).__name__, str(raised)[:500]]
    except Exception:
        return [type(raised).__name__, ""]


if __name__ == "__main__":  # pragma: no cover - exercised through the grader
    sys.stdin.close()
    main(int(sys.argv[1]))
    os._exit(0)
