"""The audit's report: an HTML table in Jupyter, a text table in a terminal, JSON for CI."""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import asdict, dataclass

from authcourse.audit.framework import GROUPS, Result, Status

_MARK = {Status.PASS: "✅", Status.FAIL: "❌", Status.NOT_APPLICABLE: "➖", Status.ERROR: "💥"}


@dataclass(frozen=True)
class Report:
    name: str
    results: list[Result]
    seconds: float

    def __getitem__(self, probe_id: str) -> Result:
        for result in self.results:
            if result.id == probe_id:
                return result
        raise KeyError(probe_id)

    @property
    def counts(self) -> dict[str, int]:
        tally = Counter(result.status.value for result in self.results)
        return {status.value: tally.get(status.value, 0) for status in Status}

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if r.status in (Status.FAIL, Status.ERROR)]

    @property
    def exit_code(self) -> int:
        """1 when any probe failed (or crashed), else 0: what CI should gate on."""
        return 1 if self.failures else 0

    def by_status(self, status: Status) -> list[str]:
        return [r.id for r in self.results if r.status is status]

    def headline(self) -> str:
        counts = self.counts
        return (
            f"audit of {self.name}: {counts['pass']} passed, {counts['fail']} failed,"
            f" {counts['n/a']} not applicable, {counts['error']} crashed"
            f" ({len(self.results)} probes, {self.seconds:.1f} s)"
        )

    def grouped(self) -> list[Result]:
        """The results in checklist order (the run order puts destructive probes last)."""
        rank = {group: index for index, group in enumerate(GROUPS)}
        return sorted(self.results, key=lambda r: rank[r.group])

    def text(self, *, evidence: bool = True) -> str:
        """A terminal table, then the evidence of every failure."""
        width = max((len(r.id) for r in self.results), default=10)
        lines = [self.headline(), ""]
        group = None
        for result in self.grouped():
            if result.group != group:
                group = result.group
                lines.append(f"== {GROUPS[group]}")
            lines.append(
                f"  {result.status.value:5} {result.id:{width}}  {result.summary}"
                + (f"  [{'; '.join(result.refs)}]" if result.refs else "")
            )
        if evidence:
            for result in self.failures:
                lines += ["", f"--- {result.id}: {result.title}", *result.evidence]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "seconds": round(self.seconds, 3),
            "counts": self.counts,
            "exit_code": self.exit_code,
            "results": [
                {**asdict(r), "status": r.status.value, "seconds": round(r.seconds, 4)}
                for r in self.results
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def _repr_html_(self) -> str:
        rows = []
        for result in self.grouped():
            details = ""
            if result.evidence:
                shown = html.escape("\n\n".join(result.evidence))
                details = (
                    "<details><summary>evidence</summary>"
                    f"<pre style='white-space:pre-wrap'>{shown}</pre></details>"
                )
            rows.append(
                "<tr>"
                f"<td>{_MARK[result.status]}</td>"
                f"<td><code>{html.escape(result.id)}</code><br>{html.escape(result.title)}</td>"
                f"<td>{html.escape(result.summary)}{details}</td>"
                f"<td>{html.escape('; '.join(result.refs))}</td>"
                "</tr>"
            )
        return (
            f"<p><b>{html.escape(self.headline())}</b></p>"
            "<table><thead><tr><th></th><th>probe</th><th>result</th><th>enforces</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>"
        )
