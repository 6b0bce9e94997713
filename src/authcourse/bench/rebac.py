"""ReBAC scaling, measured: naive traversal vs closure index vs a SQL recursive CTE.

    python -m authcourse.bench.rebac --json notebooks/results/07_rebac.json
    python -m authcourse.bench.rebac --sizes 1000 10000 --queries 500     # a quick look

One seeded generator (:func:`clouddocs.rebac.generate_tuples`, shape stated in the output)
builds each tuple set; the three ``check`` implementations answer the same random
(document, user) questions, must agree on every one, and are timed one call at a time with
garbage collection paused, so a collection never lands inside a sample. ``list_objects`` is
timed in memory (reverse walk) and in SQL (one recursive CTE). Chapter 7 shows the committed
results; tests never assert timings.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import platform
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, insert

from clouddocs.rebac import (
    ClosureIndex,
    GraphShape,
    RelationTuple,
    TupleGraph,
    TupleRow,
    check,
    check_statement,
    generate_tuples,
    list_objects,
    list_objects_statement,
)

DEFAULT_SIZES = (1_000, 100_000, 1_000_000)
#: The budget chapter 7 states (DESIGN §12): closure-index p99 at 1M tuples, and the ratio.
TARGET_INDEX_P99_US = 25.0
TARGET_SPEEDUP = 10.0


def percentiles(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50 and p99 in microseconds (nearest-rank on the sorted samples)."""
    ordered = sorted(samples_ns)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] / 1000

    return {"p50_us": rank(0.50), "p99_us": rank(0.99), "samples": len(ordered)}


def sample(call: Callable[..., object], arguments: Sequence[Any]) -> tuple[list[int], list[Any]]:
    """Time ``call(*a)`` once per argument tuple, GC paused; returns (ns per call, results).

    The first few questions run once untimed first (caches, SQLite pages, lazy imports).
    """
    for args in arguments[:20]:
        call(*args)
    timings: list[int] = []
    results: list[Any] = []
    clock = time.perf_counter_ns
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for args in arguments:
            start = clock()
            result = call(*args)
            timings.append(clock() - start)
            results.append(result)
    finally:
        if was_enabled:
            gc.enable()
    return timings, results


def _load_sqlite(path: Path, tuples: Sequence[RelationTuple]) -> Connection:
    engine = create_engine(f"sqlite:///{path}")
    TupleRow.metadata.create_all(engine, tables=[TupleRow.__table__])  # type: ignore[list-item]
    connection = engine.connect()
    rows = [dataclasses.asdict(t) for t in tuples]
    for start in range(0, len(rows), 50_000):
        connection.execute(insert(TupleRow), rows[start : start + 50_000])
    connection.commit()
    return connection


def _timed_build(build: Callable[[], Any]) -> tuple[Any, float, float]:
    """(the object, seconds, MiB allocated and still held) for one build."""
    tracemalloc.start()
    start = time.perf_counter()
    built = build()
    seconds = time.perf_counter() - start
    held, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return built, seconds, held / 2**20


def measure(size: int, *, queries: int, list_queries: int, seed: int) -> dict[str, Any]:
    """Every figure for one tuple-set size."""
    shape = GraphShape(size, seed=seed)
    start = time.perf_counter()
    tuples = generate_tuples(shape)
    generate_s = time.perf_counter() - start
    graph, graph_s, graph_mib = _timed_build(lambda: TupleGraph(tuples))
    index, index_s, index_mib = _timed_build(lambda: ClosureIndex(tuples))
    documents = sorted({t.object for t in tuples if t.object.startswith("document:")})
    users = sorted({t.subject for t in tuples if t.subject.startswith("user:")})
    rng = random.Random(seed + size)
    questions = [(rng.choice(documents), "viewer", rng.choice(users)) for _ in range(queries)]
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        connection = _load_sqlite(Path(folder) / "tuples.sqlite", tuples)
        sqlite_s = time.perf_counter() - start
        try:
            naive_ns, naive = sample(lambda o, r, u: check(graph, o, r, u), questions)
            index_ns, indexed = sample(index.check, questions)
            cte_ns, cte = sample(
                lambda o, r, u: connection.execute(check_statement(o, r, u)).first() is not None,
                questions,
            )
            if not naive == indexed == cte:
                raise AssertionError("the three check implementations disagree")
            who = [("document", "viewer", rng.choice(users)) for _ in range(list_queries)]
            memory_ns, in_memory = sample(lambda t, r, u: list_objects(graph, t, r, u), who)
            sql_ns, in_sql = sample(
                lambda t, r, u: [
                    row[0] for row in connection.execute(list_objects_statement(t, r, u))
                ],
                who,
            )
            if in_memory != in_sql:
                raise AssertionError("list_objects in memory and in SQL disagree")
        finally:
            connection.close()
    share = RelationTuple(documents[0], "viewer", users[0])
    start = time.perf_counter()
    index.add(share)
    share_us = (time.perf_counter() - start) * 1e6
    joins = RelationTuple(
        next(t.object for t in tuples if t.relation == "member"), "member", users[-1]
    )
    start = time.perf_counter()
    index.add(joins)
    membership_s = time.perf_counter() - start
    return {
        "tuples": len(tuples),
        "allowed_fraction": sum(naive) / len(naive),
        "generate_s": round(generate_s, 3),
        "build_s": {
            "graph": round(graph_s, 3),
            "closure_index": round(index_s, 3),
            "sqlite": round(sqlite_s, 3),
        },
        "memory_mib": {"graph": round(graph_mib, 1), "closure_index": round(index_mib, 1)},
        "check": {
            "naive": percentiles(naive_ns),
            "closure_index": percentiles(index_ns),
            "sql_cte": percentiles(cte_ns),
        },
        "list_objects": {"in_memory": percentiles(memory_ns), "sql_cte": percentiles(sql_ns)},
        "mean_objects_listed": statistics.fmean(len(found) for found in in_sql),
        "write_cost": {
            "share_us": round(share_us, 1),
            "membership_rebuild_s": round(membership_s, 3),
        },
    }


def run(sizes: Sequence[int], *, queries: int, list_queries: int, seed: int) -> dict[str, Any]:
    results = [
        measure(size, queries=queries, list_queries=list_queries, seed=seed) for size in sizes
    ]
    largest = results[-1]["check"]
    index_p99, naive_p99 = largest["closure_index"]["p99_us"], largest["naive"]["p99_us"]
    shape = dataclasses.asdict(GraphShape(0, seed=seed))
    del shape["tuples"]
    return {
        "command": "python -m authcourse.bench.rebac " + " ".join(sys.argv[1:]),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.system()}",
        "shape": shape,
        "queries": queries,
        "gc_paused_while_sampling": True,
        "results": results,
        "verdict": {
            "at_tuples": results[-1]["tuples"],
            "closure_index_p99_us": index_p99,
            "naive_p99_us": naive_p99,
            "speedup_p99": round(naive_p99 / index_p99, 1),
            "index_p99_within_target": index_p99 <= TARGET_INDEX_P99_US,
            "speedup_within_target": naive_p99 / index_p99 >= TARGET_SPEEDUP,
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m authcourse.bench.rebac", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--queries", type=int, default=2_000, help="check questions per size")
    parser.add_argument("--list-queries", type=int, default=50, help="list_objects calls per size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the results here")
    options = parser.parse_args(argv)
    report = run(
        options.sizes, queries=options.queries, list_queries=options.list_queries, seed=options.seed
    )
    for row in report["results"]:
        c = row["check"]
        print(
            f"{row['tuples']:>9,} tuples  check p50/p99 µs: naive {c['naive']['p50_us']:.1f}/{c['naive']['p99_us']:.1f}"
            f"  index {c['closure_index']['p50_us']:.1f}/{c['closure_index']['p99_us']:.1f}"
            f"  cte {c['sql_cte']['p50_us']:.1f}/{c['sql_cte']['p99_us']:.1f}"
            f"  index build {row['build_s']['closure_index']:.2f}s"
        )
    print("verdict:", json.dumps(report["verdict"]))
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps(report, indent=2) + "\n")
        print("wrote", options.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
