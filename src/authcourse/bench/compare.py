"""Routes measured side by side against an unprotected one: the measurement API.

Chapter notebooks' "measure it" cells (and chapter 8's cost columns) call
:func:`measure_routes`, ``make bench`` calls :func:`measure_calls`: the same code gives
the numbers in both. One app, one client; the routes take turns in interleaved blocks
(:mod:`authcourse.bench.timing`), and the whole run is repeated ``runs`` times::

    from authcourse.bench import HttpCall, measure_routes

    comparison = await measure_routes(app, {
        "no auth": "/open",                     # the first route is the baseline
        "JWT": HttpCall("GET", "/jwt", {"headers": {"Authorization": f"Bearer {token}"}}),
    })
    comparison                                   # a table in Jupyter; print() in a terminal
    comparison["JWT"].added_ns                   # what the check adds per request (median)
    comparison["JWT"].ratio                      # throughput kept vs the baseline (0.2 = 20%)

Per route: ``median_ns`` and ``p99_ns`` over every sample of every run; ``ratio`` (the
baseline's median over this route's, i.e. the share of the baseline's throughput one
client keeps) and ``added_ns`` are computed *within* each run, where both routes saw the
same machine, and the median over runs is reported. The defaults send about
``(rounds × runs + warmup) × routes`` requests: some 2,500 for four routes, a second or
two in-process, which a notebook's 10 s under nbval can afford. Timings depend on the
machine: show them in cells marked ``# NBVAL_IGNORE_OUTPUT``, and write prose numbers
from the output they sit next to; never assert them.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
from starlette.types import ASGIApp

from authcourse.bench.tables import render_html, render_text
from authcourse.bench.timing import (
    HttpCall,
    Timing,
    format_duration,
    interleaved_runs,
    request_runner,
)

__all__ = ["Comparison", "RouteStats", "measure_calls", "measure_routes", "signed_duration"]


@dataclass(frozen=True)
class RouteStats:
    """One route over every run, next to the baseline it was interleaved with."""

    label: str
    #: Every sample of every run, pooled: the median and p99 come from here.
    timing: Timing
    run_medians_ns: tuple[float, ...]
    #: Per run: the baseline's median divided by this route's (1.0 for the baseline).
    run_ratios: tuple[float, ...]
    #: Per run: this route's median minus the baseline's.
    run_added_ns: tuple[float, ...]

    @property
    def median_ns(self) -> float:
        return self.timing.median_ns

    @property
    def p99_ns(self) -> float:
        return self.timing.p99_ns

    @property
    def ratio(self) -> float:
        """Throughput relative to the baseline, median over runs: 0.2 keeps 20%."""
        return float(statistics.median(self.run_ratios))

    @property
    def added_ns(self) -> float:
        """What this route adds to the baseline per request, median over runs."""
        return float(statistics.median(self.run_added_ns))

    @property
    def runs(self) -> int:
        return len(self.run_ratios)

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "median_ns": self.median_ns,
            "p99_ns": self.p99_ns,
            "added_ns": self.added_ns,
            "ratio": self.ratio,
            "run_medians_ns": list(self.run_medians_ns),
            "run_ratios": list(self.run_ratios),
            "samples": self.timing.rounds,
        }


@dataclass(frozen=True)
class Comparison:
    """Routes next to a baseline, from one or more interleaved runs; shows as a table."""

    routes: tuple[RouteStats, ...]
    baseline: str
    title: str = ""

    HEADERS = ("route", "median", "p99", "added", "vs baseline", "per run", "samples")

    @classmethod
    def from_runs(
        cls, runs: Sequence[Mapping[str, Timing]], *, baseline: str, title: str = ""
    ) -> Comparison:
        """Combine runs, each a ``{label: Timing}`` with the same labels, baseline included."""
        if not runs:
            raise ValueError("need at least one run")
        labels = list(runs[0])
        if any(list(run) != labels for run in runs):
            raise ValueError("every run must time the same labels")
        if baseline not in labels:
            raise ValueError(f"no timing labelled {baseline!r}")
        routes = []
        for label in labels:
            pooled = runs[0][label]
            for run in runs[1:]:
                pooled = pooled.merged(run[label])
            medians = tuple(run[label].median_ns for run in runs)
            bases = tuple(run[baseline].median_ns for run in runs)
            routes.append(
                RouteStats(
                    label,
                    pooled,
                    medians,
                    tuple(base / median for base, median in zip(bases, medians, strict=True)),
                    tuple(median - base for base, median in zip(bases, medians, strict=True)),
                )
            )
        return cls(tuple(routes), baseline, title)

    @property
    def labels(self) -> list[str]:
        return [route.label for route in self.routes]

    def __getitem__(self, label: str) -> RouteStats:
        for route in self.routes:
            if route.label == label:
                return route
        raise KeyError(label)

    def __contains__(self, label: object) -> bool:
        return label in self.labels

    def throughput_ratios(self, label: str, other: str) -> tuple[float, ...]:
        """Per run: the throughput of ``label`` over that of ``other`` (``other``'s median
        divided by ``label``'s); above 1 when ``label`` is the faster one."""
        mine, theirs = self[label], self[other]
        return tuple(
            their / my for my, their in zip(mine.run_medians_ns, theirs.run_medians_ns, strict=True)
        )

    def rows(self) -> list[list[str]]:
        rows = []
        for route in self.routes:
            is_base = route.label == self.baseline
            rows.append(
                [
                    route.label,
                    format_duration(route.median_ns),
                    format_duration(route.p99_ns),
                    "" if is_base else signed_duration(route.added_ns),
                    "baseline" if is_base else f"{route.ratio:.0%}",
                    "" if is_base else " ".join(f"{ratio:.0%}" for ratio in route.run_ratios),
                    str(route.timing.rounds),
                ]
            )
        return rows

    def text(self) -> str:
        table = render_text(self.HEADERS, self.rows())
        return f"{self.title}\n{table}" if self.title else table

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return render_html(self.HEADERS, self.rows(), caption=self.title)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "baseline": self.baseline,
            "routes": [route.as_dict() for route in self.routes],
        }


def signed_duration(ns: float) -> str:
    """``+12.5 µs`` or ``−3.0 µs``."""
    return f"{'+' if ns >= 0 else '−'}{format_duration(abs(ns))}"


async def measure_calls(
    client: httpx2.AsyncClient,
    calls: Mapping[str, HttpCall],
    *,
    baseline: str | None = None,
    rounds: int = 200,
    blocks: int = 5,
    runs: int = 3,
    warmup: int = 20,
    expect_status: int | None = 200,
    title: str = "",
) -> Comparison:
    """Time ``calls`` over ``client`` in ``runs`` interleaved runs of ``rounds`` samples each.

    ``baseline`` defaults to the first call. ``warmup`` untimed requests per call come
    first (imports, caches, connection set-up). Any other status than ``expect_status``
    raises ``UnexpectedResponse``: a fast 401 is not the cost of a check.
    """
    if not calls:
        raise ValueError("nothing to compare")
    runners = {
        label: request_runner(client, call, expect_status=expect_status)
        for label, call in calls.items()
    }
    timings = await interleaved_runs(
        runners, rounds=rounds, blocks=blocks, runs=runs, warmup=warmup
    )
    return Comparison.from_runs(timings, baseline=baseline or next(iter(calls)), title=title)


async def measure_routes(
    app: ASGIApp,
    routes: Mapping[str, HttpCall | str],
    *,
    baseline: str | None = None,
    rounds: int = 200,
    blocks: int = 5,
    runs: int = 3,
    warmup: int = 20,
    expect_status: int | None = 200,
    title: str = "",
) -> Comparison:
    """Time ``app``'s routes in-process (``authcourse.asgi_client``); see the module docstring.

    ``routes`` maps a label to an :class:`HttpCall`, or to a path for a plain ``GET``.
    """
    from authcourse.client import asgi_client

    calls = {
        label: HttpCall("GET", route) if isinstance(route, str) else route
        for label, route in routes.items()
    }
    async with asgi_client(app) as client:
        return await measure_calls(
            client,
            calls,
            baseline=baseline,
            rounds=rounds,
            blocks=blocks,
            runs=runs,
            warmup=warmup,
            expect_status=expect_status,
            title=title,
        )
