"""Shared pytest fixtures for the course's own test suite."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # The course runs on asyncio (as Jupyter does); trio is not a target.
    return "asyncio"


# Fixture notebooks under tests/ are inputs to tests, not notebooks to validate with nbval.
collect_ignore_glob = ["*.ipynb"]
