"""Numbers in a chapter's prose agree with the output they cite (issue: every sentence true).

A measured number in a Markdown cell carries a marker naming the code cell whose stored
output it cites, how to read the value there, and the range the prose may claim::

    <!-- measured: bd3e76b9 /naive:.*ratio\\s+([\\d.]+)x/ 5..200 -->

The test finds the cell by id, reads the first group of the pattern in its stored output
and checks that the value lies in the range. A figure that comes from a standard or from
facts.md rather than from this notebook says so instead::

    <!-- cited: facts.md (RS256 verify ~50 µs) -->

Every Markdown cell that states a timing or a speed ratio (µs, ms, "10×", "3x") must carry
at least one of the two markers, so a new claim cannot slip in unchecked. Timings are
claimed as ranges or orders of magnitude: stored timing outputs change at each execution.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

MEASURED = re.compile(r"<!--\s*measured:\s*(\S+)\s+/(.+?)/\s+([\d.]+)\.\.([\d.]+)\s*-->")
CITED = re.compile(r"<!--\s*cited:\s*[^>]+-->")
# A timing (12 ms, ~50 µs, 0.6 ms) or a ratio written as a factor (10×, 3x, ×9).
TIMING_OR_RATIO = re.compile(r"\d(?:[\d.,]*)\s*(?:µs|ms)\b|\d(?:\.\d+)?\s*(?:×|x(?!\w))|×\s*\d")


def _cells(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text(encoding="utf-8"))["cells"])


def _text(cell: dict[str, Any]) -> str:
    return "".join(cell["source"])


def _output_text(cell: dict[str, Any]) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append("".join(output.get("text", "")))
        parts.append("".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def _claims() -> list[tuple[str, str, str, float, float]]:
    found = []
    for path in CHAPTERS:
        for cell in _cells(path):
            if cell["cell_type"] == "markdown":
                for cell_id, pattern, low, high in MEASURED.findall(_text(cell)):
                    found.append((path.name, cell_id, pattern, float(low), float(high)))
    return found


CLAIMS = _claims()


@pytest.mark.parametrize(
    ("notebook", "cell_id", "pattern", "low", "high"),
    CLAIMS,
    ids=[f"{n}:{c}:{p}" for n, c, p, _, _ in CLAIMS],
)
def test_a_measured_claim_agrees_with_the_output_it_cites(
    notebook: str, cell_id: str, pattern: str, low: float, high: float
) -> None:
    cells = {cell.get("id"): cell for cell in _cells(ROOT / "notebooks" / notebook)}
    assert cell_id in cells, f"{notebook}: the prose cites cell {cell_id}, which does not exist"
    output = _output_text(cells[cell_id])
    match = re.search(pattern, output)
    assert match, f"{notebook}: cell {cell_id}'s output has nothing matching /{pattern}/"
    value = float(match.group(1).replace(",", ""))
    assert low <= value <= high, (
        f"{notebook}: the prose claims {low:g}..{high:g} from cell {cell_id}, whose stored"
        f" output says {value:g}: re-word the prose or re-execute the notebook"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=[path.name for path in CHAPTERS])
def test_every_timing_in_prose_names_its_source(path: Path) -> None:
    unmarked = [
        f"cell {index}: {TIMING_OR_RATIO.search(_text(cell)).group(0)!r}"  # type: ignore[union-attr]
        for index, cell in enumerate(_cells(path))
        if cell["cell_type"] == "markdown"
        and TIMING_OR_RATIO.search(_text(cell))
        and not (MEASURED.search(_text(cell)) or CITED.search(_text(cell)))
    ]
    assert not unmarked, (
        f"{path.name}: timings or ratios in prose without a measured:/cited: marker: {unmarked}"
    )


def test_the_marker_syntax_is_read_as_documented() -> None:
    marker = "<!-- measured: bd3e76b9 /naive:.*ratio\\s+([\\d.]+)x/ 5..200 -->"
    assert MEASURED.findall(marker) == [("bd3e76b9", "naive:.*ratio\\s+([\\d.]+)x", "5", "200")]
    assert TIMING_OR_RATIO.search("about 50 ms") and TIMING_OR_RATIO.search("10–15× faster")
    assert not TIMING_OR_RATIO.search("ASVS 6.2.x and 8 characters")
