"""What ``make bench`` prints: the side-by-side tables, then one verdict per budget.

A :class:`Row` is a budget with its measurement (or a reference number without a
budget); its verdict follows from the numbers, unless the row says why there are none.
:class:`Report` renders the whole run as text, HTML or JSON, and its ``exit_code`` is 1
when a budget is missed or something that must be measured was not.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

from authcourse.bench.budgets import Budget
from authcourse.bench.compare import Comparison
from authcourse.bench.tables import render_html, render_text


class Verdict(enum.StrEnum):
    WITHIN = "within"
    OVER = "OVER"
    REFERENCE = "reference"
    #: It should have been measured and could not be (e.g. the peer's environment): fails.
    NOT_MEASURED = "not measured"
    SKIPPED = "skipped"
    ERROR = "error"


#: The verdicts that make the run fail.
FAILING = frozenset({Verdict.OVER, Verdict.NOT_MEASURED, Verdict.ERROR})


@dataclass(frozen=True)
class Row:
    """One line of the verdict table."""

    group: str
    name: str
    budget: Budget | None
    #: In the budget's unit; seconds for a reference row without a budget.
    value: float | None
    measured: str
    note: str = ""
    #: Set when there is no verdict to compute (skipped, not measured, error...).
    status: Verdict | None = None

    @property
    def verdict(self) -> Verdict:
        if self.status is not None:
            return self.status
        if self.value is None:
            return Verdict.ERROR
        if self.budget is None:
            return Verdict.REFERENCE
        return Verdict.WITHIN if self.budget.holds(self.value) else Verdict.OVER

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "name": self.name,
            "budget": str(self.budget) if self.budget else None,
            "limit": self.budget.limit if self.budget else None,
            "unit": self.budget.unit if self.budget else ("s" if self.value is not None else None),
            "value": self.value,
            "measured": self.measured,
            "verdict": self.verdict.value,
            "note": self.note,
        }


def error_row(group: str, name: str, error: BaseException, budget: Budget | None = None) -> Row:
    """A row for a measurement that failed: the run fails, the other rows still show."""
    return Row(
        group,
        name,
        budget,
        None,
        "could not measure",
        f"{type(error).__name__}: {error}",
        Verdict.ERROR,
    )


@dataclass
class Report:
    """Every row of one run, the tables they come from, and where it ran."""

    rows: list[Row]
    mode: str = "full"
    machine: dict[str, Any] = field(default_factory=dict)
    #: Side-by-side tables shown above the verdicts (in-process, loopback, the peer).
    comparisons: list[Comparison] = field(default_factory=list)
    #: How long the run took, in seconds (None until it is over).
    seconds: float | None = None

    HEADERS = ("group", "measurement", "budget", "measured", "verdict", "note")

    @property
    def exit_code(self) -> int:
        return 1 if any(row.verdict in FAILING for row in self.rows) else 0

    def table_rows(self, note_limit: int | None = None) -> list[list[str]]:
        """The rows as text cells; notes cut to ``note_limit`` characters if given."""
        return [
            [
                row.group,
                row.name,
                str(row.budget) if row.budget else "",
                row.measured,
                row.verdict.value,
                _shorten(row.note, note_limit),
            ]
            for row in self.rows
        ]

    def summary(self) -> str:
        counts = {verdict: 0 for verdict in Verdict}
        for row in self.rows:
            counts[row.verdict] += 1
        shown = ", ".join(f"{count} {verdict.value}" for verdict, count in counts.items() if count)
        outcome = (
            "some budgets are missed or not measured"
            if self.exit_code
            else "every measured budget holds"
        )
        took = f" ({self.seconds:.0f} s)" if self.seconds is not None else ""
        return f"{outcome}: {shown}{took}"

    def text(self) -> str:
        parts = [f"authcourse bench ({self.mode}) on {describe_machine(self.machine)}"]
        if warning := busy_warning(self.machine):
            parts.append(warning)
        for comparison in self.comparisons:
            parts += ["", comparison.text()]
        # Long notes (a failing case's message) are cut here; --json carries them whole.
        parts += ["", render_text(self.HEADERS, self.table_rows(note_limit=110))]
        parts += ["", self.summary()]
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        tables = "".join(comparison._repr_html_() for comparison in self.comparisons)
        return tables + render_html(self.HEADERS, self.table_rows(), caption=self.summary())

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "machine": self.machine,
            "seconds": self.seconds,
            "exit_code": self.exit_code,
            "comparisons": [comparison.as_dict() for comparison in self.comparisons],
            "rows": [row.as_dict() for row in self.rows],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)


def describe_machine(machine: dict[str, Any]) -> str:
    if not machine:
        return "an unknown machine"
    text = f"{machine.get('cpus')} CPUs, Python {machine.get('python')}, {machine.get('platform')}"
    for key in ("load_before", "load_after"):
        if machine.get(key):
            text += f"; {key.replace('_', ' ')} {' '.join(map(str, machine[key]))}"
    return text


def busy_warning(machine: dict[str, Any]) -> str:
    """A caveat when more was runnable than there are CPUs, before or after the run."""
    cpus = machine.get("cpus") or 0
    loads = [load[0] for load in (machine.get("load_before"), machine.get("load_after")) if load]
    if not cpus or not loads or max(loads) <= cpus:
        return ""
    return (
        f"warning: the machine was busy (1-minute load up to {max(loads):g} on {cpus} CPUs):"
        " routes that wait on a thread (aiosqlite) queue behind other processes, so their"
        " ratios are pessimistic; compare runs made under similar load"
    )


def _shorten(text: str, limit: int | None) -> str:
    text = " ".join(text.split())  # one line per row, whatever a message contains
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"
