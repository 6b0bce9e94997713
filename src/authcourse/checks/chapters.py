"""Finds and imports the per-chapter check modules (``ch01.py`` … ``ch08.py``)."""

from __future__ import annotations

import importlib
import pkgutil

import authcourse.checks as package


def load() -> None:
    """Import every ``chNN`` module once; importing registers its exercises."""
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("ch") and module.name[2:].isdigit():
            importlib.import_module(f"{package.__name__}.{module.name}")
