"""The grader's HTML page: ``python -m authcourse grade ... --html report.html``.

One self-contained file an instructor opens offline: the grade table, the pass rate of each
exercise (which ones the room struggles with), the distribution of total scores and each
learner's notes. Charts are matplotlib SVG inlined in the page; there is no script, no
stylesheet or font from elsewhere, and no URL at all.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from authcourse import charts
from authcourse.grading.model import Grade
from authcourse.grading.output import exercise_ids

PASSED = "passed"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.passed { background: #e8f5e9; }
figure { margin: 1em 0; }
"""


@dataclass(frozen=True)
class PassRate:
    """How many of the submissions that have an exercise pass it completely."""

    id: str
    passed: int
    attempted: int

    @property
    def rate(self) -> float:
        return self.passed / self.attempted if self.attempted else 0.0


def pass_rates(rows: Sequence[Grade]) -> list[PassRate]:
    """One :class:`PassRate` per exercise id, in course order."""
    rates = []
    for id in exercise_ids(rows):
        found = [ex for row in rows for ex in row.exercises if ex.id == id]
        rates.append(PassRate(id, sum(ex.status == PASSED for ex in found), len(found)))
    return rates


def percentages(rows: Sequence[Grade]) -> list[float]:
    """Each graded submission's total as a percentage of its maximum (ungraded rows left out)."""
    return [100 * row.score / row.max_score for row in rows if row.max_score]


def render(rows: Sequence[Grade], *, title: str = "Grades") -> str:
    """The whole page as one HTML string."""
    rates = pass_rates(rows)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(rows)} submission{'s' if len(rows) != 1 else ''}, "
        f"{len(rates)} exercise{'s' if len(rates) != 1 else ''}.</p>",
        '<h2 id="table">Table</h2>',
        _table(rows),
        '<h2 id="pass-rates">Pass rate per exercise</h2>',
        _pass_rate_section(rates),
        '<h2 id="distribution">Score distribution</h2>',
        _distribution_section(rows),
        '<h2 id="notes">Notes</h2>',
        _notes_section(rows),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write(rows: Sequence[Grade], target: Path, *, title: str = "Grades") -> None:
    target.write_text(render(rows, title=title), encoding="utf-8")


def _table(rows: Sequence[Grade]) -> str:
    ids = exercise_ids(rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["learner", "chapter", *ids, "total"])
    lines = [f'<table class="grades"><thead><tr>{head}</tr></thead><tbody>']
    for row in rows:
        scores = {exercise.id: exercise for exercise in row.exercises}
        cells = [f"<td>{html.escape(row.learner)}</td><td>{html.escape(row.chapter or '-')}</td>"]
        for id in ids:
            ex = scores.get(id)
            if ex is None:
                cells.append("<td></td>")
            else:
                css = "num passed" if ex.status == PASSED else "num"
                cells.append(
                    f'<td class="{css}" title="{html.escape(ex.status)}">'
                    f"{ex.score:g}/{ex.max_score}</td>"
                )
        cells.append(f'<td class="num">{row.score:g}/{row.max_score}</td>')
        lines.append(f"<tr>{''.join(cells)}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _pass_rate_section(rates: Sequence[PassRate]) -> str:
    if not rates:
        return "<p>No exercise was graded.</p>"
    chart = charts.bar_chart(
        [rate.id for rate in rates],
        [rate.rate for rate in rates],
        title="Submissions passing every case",
        xlabel="share of submissions",
    )
    items = "".join(
        f"<li>{html.escape(rate.id)}: {rate.passed} of {rate.attempted} passed</li>"
        for rate in rates
    )
    return f'<figure class="chart" id="pass-rate-chart">{chart}</figure><ul>{items}</ul>'


def _distribution_section(rows: Sequence[Grade]) -> str:
    values = percentages(rows)
    if not values:
        return "<p>No submission was graded.</p>"
    chart = charts.histogram(
        values,
        bins=list(range(0, 101, 10)),
        title="Total score of each submission",
        xlabel="score (% of the maximum)",
    )
    mean = sum(values) / len(values)
    return (
        f'<figure class="chart" id="distribution-chart">{chart}</figure>'
        f"<p>Mean {mean:.0f}%, lowest {min(values):.0f}%, highest {max(values):.0f}%.</p>"
    )


def _notes_section(rows: Sequence[Grade]) -> str:
    noted = [row for row in rows if row.notes]
    if not noted:
        return "<p>No notes: every submission ran as expected.</p>"
    parts = ['<dl class="notes">']
    for row in noted:
        parts.append(f"<dt>{html.escape(row.learner)} — {html.escape(row.path)}</dt>")
        parts.extend(f"<dd>{html.escape(note)}</dd>" for note in row.notes)
    parts.append("</dl>")
    return "".join(parts)
