"""Tables of pre-formatted cells, as aligned plain text (terminal) or escaped HTML (Jupyter)."""

from __future__ import annotations

import html
from collections.abc import Sequence


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
    """The same table as HTML, every cell escaped, for ``_repr_html_``."""
    head = "".join(f"<th>{html.escape(header)}</th>" for header in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
