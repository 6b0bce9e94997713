"""The service tests need the servers ``make test-services`` starts (and the ``[services]``
extra it installs). Without them nothing here is collected, so ``make test`` pays nothing."""

from __future__ import annotations

from service_urls import database_server, redis_server

if not (database_server() and redis_server()):
    collect_ignore_glob = ["*.py"]
