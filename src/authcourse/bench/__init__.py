"""Side-by-side timing helpers, for chapter 8's "measure it" cells and for ``make bench``.

Time one thing many times, keep every sample, and compare *medians*: a median shrugs off
the odd garbage collection or scheduler hiccup that would drag a mean around. Each helper
runs a few untimed warm-up rounds first (imports, caches, connection set-up), and reads
``time.perf_counter_ns`` (monotonic, integer nanoseconds) around each call.

>>> timing = per_call(lambda: sum(range(100)), rounds=200)    # doctest: +SKIP
>>> async with asgi_client(app) as client:                     # doctest: +SKIP
...     timings = await side_by_side(client, {
...         "no auth": HttpCall("GET", "/open"),
...         "JWT": HttpCall("GET", "/jwt", {"headers": {"Authorization": f"Bearer {token}"}}),
...     }, rounds=1000)
>>> Comparison(timings, baseline="no auth")                   # doctest: +SKIP

Timings depend on the machine and on whatever else it is doing: they belong in
benchmarks and in notebook cells marked ``# NBVAL_IGNORE_OUTPUT``, never in assertions.
"""

from __future__ import annotations

import html
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2

__all__ = [
    "Comparison",
    "HttpCall",
    "Timing",
    "UnexpectedResponse",
    "format_duration",
    "per_await",
    "per_call",
    "per_request",
    "render_html",
    "render_text",
    "side_by_side",
]


@dataclass(frozen=True)
class Timing:
    """Every sample of one measured operation, in nanoseconds, and statistics over them."""

    label: str
    samples_ns: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.samples_ns:
            raise ValueError(f"{self.label!r}: a timing needs at least one sample")

    @property
    def rounds(self) -> int:
        return len(self.samples_ns)

    @property
    def median_ns(self) -> float:
        return float(statistics.median(self.samples_ns))

    @property
    def p95_ns(self) -> float:
        return self.percentile(95)

    def percentile(self, q: float) -> float:
        """The nearest-rank percentile: a sample that was really observed, never interpolated."""
        if not 0 < q <= 100:
            raise ValueError("a percentile is in (0, 100]")
        ordered = sorted(self.samples_ns)
        return float(ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)])

    @property
    def per_second(self) -> float:
        """Operations per second at the median: ``1 s / median``, one caller, back to back."""
        return 1e9 / self.median_ns if self.median_ns > 0 else math.inf

    def merged(self, other: Timing) -> Timing:
        """The samples of both (e.g. several interleaved blocks of one operation)."""
        return Timing(self.label, self.samples_ns + other.samples_ns)

    def __str__(self) -> str:
        return (
            f"{self.label}: median {format_duration(self.median_ns)},"
            f" p95 {format_duration(self.p95_ns)}, {self.per_second:,.0f}/s"
            f" ({self.rounds} rounds)"
        )


def format_duration(ns: float) -> str:
    """A duration in the unit that reads best: ``850 ns``, ``72.4 µs``, ``3.10 ms``, ``1.25 s``."""
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.2f} s"


def per_call(
    fn: Callable[[], object],
    *,
    rounds: int,
    warmup: int = 10,
    inner: int = 1,
    label: str | None = None,
) -> Timing:
    """Time ``fn()`` ``rounds`` times after ``warmup`` untimed calls.

    ``inner`` calls are timed together and averaged into one sample: for operations of a
    microsecond or less, where reading the clock would otherwise be part of the result.
    """
    _check_counts(rounds, warmup, inner)
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        started = clock()
        for _ in range(inner):
            fn()
        samples.append((clock() - started) / inner)
    return Timing(label or _name_of(fn), tuple(samples))


async def per_await(
    fn: Callable[[], Awaitable[object]],
    *,
    rounds: int,
    warmup: int = 10,
    label: str | None = None,
) -> Timing:
    """Time ``await fn()`` ``rounds`` times after ``warmup`` untimed calls."""
    _check_counts(rounds, warmup, 1)
    for _ in range(warmup):
        await fn()
    samples: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        started = clock()
        await fn()
        samples.append(clock() - started)
    return Timing(label or _name_of(fn), tuple(samples))


class UnexpectedResponse(RuntimeError):
    """A timed request got another status than expected: its timing would measure the wrong
    thing (a fast 401 says nothing about how long the authenticated path takes)."""


@dataclass(frozen=True)
class HttpCall:
    """One request to time: method, URL and the keyword arguments of ``client.request``."""

    method: str
    url: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


async def per_request(
    client: httpx2.AsyncClient,
    method: str,
    url: str,
    *,
    rounds: int,
    warmup: int = 20,
    label: str | None = None,
    expect_status: int | None = 200,
    **kwargs: Any,
) -> Timing:
    """Time one request, sent ``rounds`` times, over ``client`` (e.g. ``authcourse.asgi_client``).

    Each response must have ``expect_status`` (``None`` accepts any), or
    ``UnexpectedResponse`` is raised. The time covers the whole exchange: building the
    request, the app handling it, and reading the response body.
    """

    async def send() -> None:
        response = await client.request(method, url, **kwargs)
        if expect_status is not None and response.status_code != expect_status:
            raise UnexpectedResponse(
                f"{method} {url} answered {response.status_code}, expected {expect_status}"
            )

    return await per_await(send, rounds=rounds, warmup=warmup, label=label or f"{method} {url}")


async def side_by_side(
    client: httpx2.AsyncClient,
    calls: Mapping[str, HttpCall],
    *,
    rounds: int,
    warmup: int = 50,
    blocks: int = 10,
    expect_status: int | None = 200,
) -> list[Timing]:
    """Time several requests against each other, ``rounds`` samples each, in one run.

    The rounds are cut into ``blocks`` and the calls take turns block by block (starting
    with a different call each block), so a slow spell of the machine lands on all of
    them rather than on whichever happened to run then.
    """
    if not calls:
        raise ValueError("nothing to compare")
    if blocks < 1 or rounds < blocks:
        raise ValueError("need 1 <= blocks <= rounds")
    labels = list(calls)
    for label in labels:
        call = calls[label]
        await per_request(
            client,
            call.method,
            call.url,
            rounds=1,
            warmup=warmup,
            expect_status=expect_status,
            **call.kwargs,
        )
    samples: dict[str, list[float]] = {label: [] for label in labels}
    for block in range(blocks):
        size = rounds // blocks + (1 if block < rounds % blocks else 0)
        turn = block % len(labels)
        for label in labels[turn:] + labels[:turn]:
            call = calls[label]
            timing = await per_request(
                client,
                call.method,
                call.url,
                rounds=size,
                warmup=0,
                expect_status=expect_status,
                **call.kwargs,
            )
            samples[label].extend(timing.samples_ns)
    return [Timing(label, tuple(samples[label])) for label in labels]


@dataclass(frozen=True)
class Comparison:
    """Timings next to a baseline: how much throughput each keeps relative to it.

    Shows as a table: ``print(comparison)`` in a terminal, an HTML table in Jupyter.
    """

    timings: Sequence[Timing]
    baseline: str
    title: str = ""

    def __post_init__(self) -> None:
        labels = [timing.label for timing in self.timings]
        if len(set(labels)) != len(labels):
            raise ValueError("labels must be unique")
        if self.baseline not in labels:
            raise ValueError(f"no timing labelled {self.baseline!r}")

    def __getitem__(self, label: str) -> Timing:
        for timing in self.timings:
            if timing.label == label:
                return timing
        raise KeyError(label)

    def ratio(self, label: str) -> float:
        """Throughput of ``label`` relative to the baseline, from medians: 0.8 keeps 80%."""
        return self[self.baseline].median_ns / self[label].median_ns

    def extra_ns(self, label: str) -> float:
        """What ``label`` adds to the baseline's median, in nanoseconds."""
        return self[label].median_ns - self[self.baseline].median_ns

    HEADERS = ("", "median", "p95", "per second", "vs baseline", "rounds")

    def rows(self) -> list[list[str]]:
        rows = []
        for timing in self.timings:
            if timing.label == self.baseline:
                relative = "baseline"
            else:
                relative = (
                    f"{self.ratio(timing.label):.0%} ({_signed(self.extra_ns(timing.label))})"
                )
            rows.append(
                [
                    timing.label,
                    format_duration(timing.median_ns),
                    format_duration(timing.p95_ns),
                    f"{timing.per_second:,.0f}",
                    relative,
                    str(timing.rounds),
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


def render_text(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with aligned columns (numbers are pre-formatted strings)."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [list(headers), ["-" * width for width in widths], *rows]
    ]
    return "\n".join(lines)


def render_html(headers: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "") -> str:
    """The same table as HTML, escaped, for ``_repr_html_``."""
    head = "".join(f"<th>{html.escape(header)}</th>" for header in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _signed(ns: float) -> str:
    return f"{'+' if ns >= 0 else '−'}{format_duration(abs(ns))}"


def _check_counts(rounds: int, warmup: int, inner: int) -> None:
    if rounds < 1 or warmup < 0 or inner < 1:
        raise ValueError("need rounds >= 1, warmup >= 0 and inner >= 1")


def _name_of(fn: object) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or fn)
