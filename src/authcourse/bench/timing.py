"""Timing primitives: samples, medians and p99, interleaved blocks, GC paused while sampling.

Time one thing many times, keep every sample, and compare *medians*: a median shrugs off
the odd scheduler hiccup that would drag a mean around, and the p99 shows the tail the
median hides. Each sample reads ``time.perf_counter_ns`` (monotonic, integer nanoseconds)
around one call. While samples are being taken, the garbage collector is paused
(:func:`gc_paused`): a collection lands on whichever call happens to trigger it, so it
would be noise in that call's sample, not a cost of the code being measured.

Several things measured against each other take turns in *blocks* (:func:`interleaved`):
a slow spell of a shared machine then lands on all of them instead of on whichever was
running at the time. A block runner is any ``async (count) -> samples``, so the blocks of
another process (the peer benchmark's subprocess) can alternate with ours.

This module depends on the standard library only (``httpx2`` is needed only for the
client it is handed): the peer's subprocess, in its own virtual environment, loads this
very file, so both sides of a comparison are timed by the same code.
"""

from __future__ import annotations

import contextlib
import gc
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "BlockRunner",
    "HttpCall",
    "Timing",
    "UnexpectedResponse",
    "block_order",
    "block_sizes",
    "format_duration",
    "gc_paused",
    "interleaved",
    "interleaved_runs",
    "per_await",
    "per_call",
    "request_runner",
    "time_requests",
]

#: Time ``count`` operations back to back and return one sample (ns) per operation.
BlockRunner = Callable[[int], Awaitable[Sequence[float]]]


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
    def p99_ns(self) -> float:
        return self.percentile(99)

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
        """The samples of both (e.g. the same operation over several runs)."""
        return Timing(self.label, self.samples_ns + other.samples_ns)

    def __str__(self) -> str:
        return (
            f"{self.label}: median {format_duration(self.median_ns)},"
            f" p99 {format_duration(self.p99_ns)}, {self.per_second:,.0f}/s"
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


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the garbage collector for the block, then restore whatever state it had."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
    with gc_paused():
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
    with gc_paused():
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

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, to hand a call to another process."""
        return {"method": self.method, "url": self.url, "kwargs": dict(self.kwargs)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HttpCall:
        return cls(str(data["method"]), str(data["url"]), dict(data.get("kwargs") or {}))


async def time_requests(
    client: httpx2.AsyncClient,
    call: HttpCall,
    count: int,
    *,
    expect_status: int | None = 200,
) -> list[float]:
    """Send ``call`` ``count`` times over ``client``; one sample (ns) per whole exchange.

    Each sample covers building the request, the app handling it and reading the body.
    Every response must have ``expect_status`` (``None`` accepts any), or
    :class:`UnexpectedResponse` is raised.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    samples: list[float] = []
    clock = time.perf_counter_ns
    with gc_paused():
        for _ in range(count):
            started = clock()
            response = await client.request(call.method, call.url, **call.kwargs)
            samples.append(clock() - started)
            if expect_status is not None and response.status_code != expect_status:
                raise UnexpectedResponse(
                    f"{call.method} {call.url} answered {response.status_code},"
                    f" expected {expect_status}"
                )
    return samples


def request_runner(
    client: httpx2.AsyncClient, call: HttpCall, *, expect_status: int | None = 200
) -> BlockRunner:
    """A block runner sending ``call`` over ``client`` (see :func:`time_requests`)."""

    async def run_block(count: int) -> list[float]:
        return await time_requests(client, call, count, expect_status=expect_status)

    return run_block


def block_sizes(rounds: int, blocks: int) -> list[int]:
    """``rounds`` cut into ``blocks`` nearly equal parts (the first ones one larger)."""
    if blocks < 1 or rounds < blocks:
        raise ValueError("need 1 <= blocks <= rounds")
    return [rounds // blocks + (1 if block < rounds % blocks else 0) for block in range(blocks)]


def block_order(labels: Sequence[str], block: int) -> list[str]:
    """Who goes when in block ``block``: the same order, rotated to start one further on,
    so no label always runs first (right after a pause) or last."""
    if not labels:
        return []
    turn = block % len(labels)
    return [*labels[turn:], *labels[:turn]]


async def interleaved(
    runners: Mapping[str, BlockRunner], *, rounds: int, blocks: int
) -> dict[str, Timing]:
    """One run: every runner gets ``rounds`` samples, taken in ``blocks`` turns each."""
    if not runners:
        raise ValueError("nothing to compare")
    labels = list(runners)
    samples: dict[str, list[float]] = {label: [] for label in labels}
    for block, size in enumerate(block_sizes(rounds, blocks)):
        for label in block_order(labels, block):
            taken = list(await runners[label](size))
            if len(taken) != size:
                raise RuntimeError(f"{label!r} returned {len(taken)} samples, expected {size}")
            samples[label].extend(taken)
    return {label: Timing(label, tuple(samples[label])) for label in labels}


async def interleaved_runs(
    runners: Mapping[str, BlockRunner],
    *,
    rounds: int,
    blocks: int,
    runs: int,
    warmup: int = 0,
) -> list[dict[str, Timing]]:
    """``runs`` independent interleaved runs (after ``warmup`` untimed operations each)."""
    if runs < 1 or warmup < 0:
        raise ValueError("need runs >= 1 and warmup >= 0")
    for runner in runners.values():
        if warmup:
            await runner(warmup)
    return [await interleaved(runners, rounds=rounds, blocks=blocks) for _ in range(runs)]


def _check_counts(rounds: int, warmup: int, inner: int) -> None:
    if rounds < 1 or warmup < 0 or inner < 1:
        raise ValueError("need rounds >= 1, warmup >= 0 and inner >= 1")


def _name_of(fn: object) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or fn)
