"""The service tests need the servers ``make test-services`` starts; without them they skip."""

from __future__ import annotations

import pytest
from service_urls import database_server, redis_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if database_server() and redis_server():
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL and Redis: run `make test-services`")
    for item in items:
        if "tests/services/" in str(item.path).replace("\\", "/"):
            item.add_marker(skip)
