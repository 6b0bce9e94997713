"""Finds and imports the per-chapter check modules (``ch01.py`` … ``ch08.py``).

Besides the course's own ``authcourse/checks/chNN.py`` modules, the environment variable
``AUTHCOURSE_CHECK_MODULES`` may name extra check module *files* (separated by
``os.pathsep``). It exists for the test suite, whose fixture chapter ("99") lives under
``tests/`` and must be loadable both in the test process and in the grader's kernels. It is
test-only: the course never sets it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import re
import sys
import threading
from pathlib import Path

import authcourse.checks as package

EXTRA_MODULES_ENV_VAR = "AUTHCOURSE_CHECK_MODULES"
_MODULE_NAME = re.compile(r"^ch\d\d$")

_loaded_extra: set[Path] = set()
_lock = threading.Lock()  # the batch grader looks exercises up from several threads


def chapter_module_files() -> list[Path]:
    """Every check module file: the course's ``chNN.py`` first, then the extra ones."""
    files = [
        Path(package.__path__[0]) / f"{module.name}.py"
        for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name)
        if _MODULE_NAME.match(module.name)
    ]
    return files + extra_module_files()


def extra_module_files() -> list[Path]:
    """The files named by ``AUTHCOURSE_CHECK_MODULES`` (test-only), resolved."""
    value = os.environ.get(EXTRA_MODULES_ENV_VAR, "")
    return [Path(part).resolve() for part in value.split(os.pathsep) if part.strip()]


def load(chapter: str | None = None) -> None:
    """Import the ``chNN`` modules once (only ``chapter``'s if given); importing registers
    their exercises. Loading one chapter keeps a learner's first ``check()`` quick."""
    with _lock:
        for module in pkgutil.iter_modules(package.__path__):
            if _MODULE_NAME.match(module.name) and chapter in (None, module.name[2:]):
                importlib.import_module(f"{package.__name__}.{module.name}")
        for path in extra_module_files():
            if path not in _loaded_extra:
                _load_file(path)
                _loaded_extra.add(path)


def _load_file(path: Path) -> None:
    name = f"authcourse_extra_checks_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{EXTRA_MODULES_ENV_VAR}: cannot load check module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
