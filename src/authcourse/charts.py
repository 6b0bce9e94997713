"""Small matplotlib charts as inline SVG text: no files, no scripts, no external references.

The learner's ``progress()`` and the instructor's HTML report both embed their charts in
HTML that must work offline, so every chart is rendered here to one self-contained
``<svg>`` element (text kept as text, no metadata block, no namespace URLs).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

#: The colours of the course's charts: passed, not passed.
GREEN = "#2e7d32"
GREY = "#9e9e9e"


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    xlabel: str,
    xmax: float = 1.0,
    percent: bool = True,
) -> str:
    """Horizontal bars, one per label (top to bottom in the given order), as ``<svg>``."""
    from matplotlib.figure import Figure

    height = 0.9 + 0.32 * max(1, len(labels))
    figure = Figure(figsize=(6.0, height))
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    colours = [GREEN if value >= xmax else GREY for value in values]
    axes.barh(positions, list(values), color=colours)
    axes.set_yticks(positions, list(labels))
    axes.invert_yaxis()  # the first label at the top, like a table
    axes.set_xlim(0, xmax)
    axes.set_xlabel(xlabel)
    axes.set_title(title)
    for position, value in zip(positions, values, strict=True):
        text = f"{value:.0%}" if percent else f"{value:g}"
        axes.text(min(value, xmax * 0.88) + xmax * 0.01, position, text, va="center")
    if percent:
        axes.xaxis.set_major_formatter(lambda x, _: f"{x:.0%}")
    figure.tight_layout()
    return to_svg(figure)


def histogram(values: Sequence[float], *, bins: Sequence[float], title: str, xlabel: str) -> str:
    """How many values fall in each bin, as ``<svg>`` (the last bin includes its right edge)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6.0, 2.6))
    axes = figure.add_subplot()
    axes.hist(list(values), bins=list(bins), color=GREY, edgecolor="white")
    axes.set_xlabel(xlabel)
    axes.set_ylabel("submissions")
    axes.set_title(title)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # whole submissions only
    figure.tight_layout()
    return to_svg(figure)


def to_svg(figure: object) -> str:
    """The figure as one ``<svg>`` element fit for inline HTML."""
    import matplotlib

    buffer = io.StringIO()
    # No Creator/Date/... metadata: the RDF block would carry namespace URLs and a timestamp.
    metadata = {"Creator": None, "Date": None, "Format": None, "Type": None}
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "authcourse"}):
        figure.savefig(buffer, format="svg", metadata=metadata)  # type: ignore[attr-defined]
    text = buffer.getvalue()
    svg = text[text.index("<svg") :]
    # Inline SVG in HTML needs no namespace declarations; dropping them leaves no URL at all.
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg, count=0)
