"""Measuring the course's costs: the API chapter notebooks call, and ``make bench``.

For a notebook's "measure it" cell (and chapter 8's cost columns)::

    from authcourse.bench import HttpCall, measure_routes

    comparison = await measure_routes(app, {"no auth": "/open", "JWT": HttpCall(...)})
    comparison                        # median, p99, added µs, ratio vs the first route

The modules, one concern each:

- :mod:`~authcourse.bench.timing`: samples, medians and p99, interleaved blocks, GC
  paused while sampling (standard library only: the peer's process loads it too);
- :mod:`~authcourse.bench.compare`: routes side by side against a baseline
  (:func:`measure_routes`, :func:`measure_calls`, :class:`Comparison`);
- :mod:`~authcourse.bench.budgets`: the numbers of DESIGN.md §12;
- :mod:`~authcourse.bench.apps`: the app ``make bench`` measures, one route per check;
- :mod:`~authcourse.bench.loopback`: that app over uvicorn on 127.0.0.1;
- :mod:`~authcourse.bench.peer` (+ ``peer_fastapi_users.py``): fastapi-users, measured
  in its own environment and process;
- :mod:`~authcourse.bench.course`, :mod:`~authcourse.bench.reference`: ``check(...)``,
  grading, nbval; reference numbers;
- :mod:`~authcourse.bench.report`, :mod:`~authcourse.bench.tables`: verdicts, table, JSON;
- :mod:`~authcourse.bench.run`: ``python -m authcourse bench``.

Timings depend on the machine and on whatever else it is doing: they belong in
``make bench`` and in notebook cells marked ``# NBVAL_IGNORE_OUTPUT``, never in assertions.
"""

from __future__ import annotations

from authcourse.bench.compare import Comparison, RouteStats, measure_calls, measure_routes
from authcourse.bench.timing import (
    HttpCall,
    Timing,
    UnexpectedResponse,
    format_duration,
    per_await,
    per_call,
)

__all__ = [
    "Comparison",
    "HttpCall",
    "RouteStats",
    "Timing",
    "UnexpectedResponse",
    "format_duration",
    "measure_calls",
    "measure_routes",
    "per_await",
    "per_call",
]
