"""What a submission runs with: the course packages as they were when grading started.

:meth:`Course.load` reads the course packages (``authcourse`` with its checks, and
``clouddocs``) into the grader's memory once, before any submission runs. Each submission's
process then imports them from a throwaway copy written from that memory into its own
temporary directory, so a submission that rewrites ``authcourse/checks/core.py`` rewrites
its own copy only. The real files are hashed after every submission
(:meth:`Course.verify`): if one changed (a submission found its way to them), grading stops
with :class:`GraderError`, because a later run would be graded with the changed file.

Third-party packages in the environment are not copied: they stay writable by learner code
(the agent notes writes under them; README says so).
"""

from __future__ import annotations

import hashlib
import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path

import authcourse
import clouddocs
from authcourse.checks import chapters
from authcourse.grading import agent, reaper


class GraderError(RuntimeError):
    """The grader itself cannot go on (not a submission's fault): grading stops."""


@dataclass(frozen=True)
class Course:
    #: Relative path under the throwaway site directory → file content.
    files: dict[str, bytes]
    #: Real file → SHA-256 when grading started.
    hashes: dict[Path, str]
    #: Extra check modules (test-only ``AUTHCOURSE_CHECK_MODULES``): file name → content.
    extra: dict[str, bytes]
    reaper_source: str
    #: The agent's source, run with ``python -c`` (not ``-m``: that would import the whole
    #: ``authcourse.grading`` package, and its imports, into every submission's process).
    agent_source: str
    #: Reading under these is noted (the course's solutions, other submissions).
    read_roots: tuple[Path, ...] = ()
    #: Writing under these is noted (the course's packages and repository).
    write_roots: tuple[Path, ...] = ()
    packages: tuple[Path, ...] = field(default=())

    @classmethod
    def load(cls, submission_roots: tuple[Path, ...] = ()) -> Course:
        packages = tuple(
            Path(module.__file__ or "").resolve().parent for module in (authcourse, clouddocs)
        )
        files: dict[str, bytes] = {}
        hashes: dict[Path, str] = {}
        for package in packages:
            for path in sorted(package.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    data = path.read_bytes()
                    files[str(path.relative_to(package.parent))] = data
                    hashes[path] = hashlib.sha256(data).hexdigest()
        extra: dict[str, bytes] = {}
        for path in chapters.extra_module_files():
            data = path.read_bytes()
            extra[path.name] = data
            hashes[path] = hashlib.sha256(data).hexdigest()
        repository = packages[0].parent.parent  # src/authcourse → the checkout, if editable
        course_roots: tuple[Path, ...] = packages
        if (repository / "solutions").is_dir():
            # Not the whole checkout: its .venv holds the packages every import reads.
            course_roots = tuple(
                repository / name
                for name in ("solutions", "notebooks", "labs", "src", "tests", "work")
                if (repository / name).is_dir()
            )
        return cls(
            files=files,
            hashes=hashes,
            extra=extra,
            reaper_source=inspect.getsource(reaper),
            agent_source=inspect.getsource(agent),
            read_roots=tuple(dict.fromkeys((*course_roots, *submission_roots))),
            write_roots=tuple(dict.fromkeys((*course_roots, *packages))),
            packages=packages,
        )

    def prepare(self, workdir: Path) -> Path:
        """A fresh working tree: ``site/`` (the copy), ``cwd/``, ``home/``, ``tmp/``."""
        for name in ("site", "cwd", "home", "tmp", "extra"):
            (workdir / name).mkdir(parents=True, exist_ok=True)
        for relative, data in self.files.items():
            target = workdir / "site" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        for name, data in self.extra.items():
            (workdir / "extra" / name).write_bytes(data)
        return workdir

    def environment(self, workdir: Path) -> dict[str, str]:
        """A scrubbed environment: nothing of the grader's own variables reaches the kernel."""
        env = {
            "PATH": os.defpath,
            "HOME": str(workdir / "home"),
            "TMPDIR": str(workdir / "tmp"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONPATH": str(workdir / "site"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "MPLBACKEND": "Agg",
        }
        if self.extra:
            env[chapters.EXTRA_MODULES_ENV_VAR] = os.pathsep.join(
                str(workdir / "extra" / name) for name in self.extra
            )
        return env

    def verify(self) -> None:
        """Raise :class:`GraderError` if a course file changed since :meth:`load`."""
        changed = []
        for path, digest in self.hashes.items():
            try:
                now = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                now = "missing"
            if now != digest:
                changed.append(str(path))
        if changed:
            raise GraderError(
                "a submission changed the course's own files, so later grading could not be"
                f" trusted: {', '.join(changed[:5])}. Grading stopped. Restore them (e.g."
                " `git checkout -- src/`) and grade again."
            )
