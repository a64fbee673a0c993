"""Tables as text, HTML and Markdown: the rendering shared by the metrics and declutter tables.

A table is a list of rows of strings, the first row the header. The number formats are
the tables' own: three decimals, an explicit sign for changes, "—" where a value is
missing, "mean ± sd" over seeds.
"""

from __future__ import annotations

import html
import re

import numpy as np

__all__ = ["html_table", "markdown_table", "mean_sd", "number", "signed", "text_table"]

_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?")


def number(value: float) -> str:
    """``value`` with 3 decimals; "—" when it is NaN or infinite."""
    return f"{value:.3f}" if np.isfinite(value) else "—"


def signed(value: float) -> str:
    """``value`` with an explicit sign and 3 decimals; a change that rounds to 0 reads "+0.000"."""
    if not np.isfinite(value):
        return "—"
    return f"{round(value, 3) + 0.0:+.3f}"  # + 0.0 turns -0.0 into 0.0


def mean_sd(values, *, with_sign: bool = False) -> str:
    """``"mean ± sd"`` (sample sd) of ``values``, the mean with its sign for changes; "—" if any is missing."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or not np.isfinite(values).all():
        return "—"
    sd = values.std(ddof=1) if values.size > 1 else 0.0
    mean = signed(values.mean()) if with_sign else f"{values.mean():.3f}"
    return f"{mean} ± {sd:.3f}"


def text_table(rows: list[list[str]], sections=frozenset()) -> str:
    """Right-aligned columns; a rule of dashes above each row index in ``sections``."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, r in enumerate(rows):
        if i in sections:
            lines.append("  ".join("-" * w for w in widths))
        lines.append("  ".join(cell.rjust(w) for cell, w in zip(r, widths)))
    return "\n".join(lines)


def html_table(rows: list[list[str]], css_class: str, sections=frozenset(), bold=frozenset()) -> str:
    """An HTML table; cells under a header starting with Δ are green when positive, red when negative.

    Rows in ``sections`` start a section (a rule above them); rows in ``bold`` are bold.
    """
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = []
    for i, r in enumerate(rows[1:], start=1):
        cells = []
        for h, c in zip(rows[0], r):
            style = ""
            match = _NUMBER.match(c) if h.startswith("Δ") else None
            if match:
                value = float(match.group(0))
                style = ' style="color:#1a7f37"' if value > 0 else (' style="color:#cf222e"' if value < 0 else "")
            cells.append(f"<td{style}>{html.escape(c)}</td>")
        styles = (["border-top:2px solid #888"] if i in sections else []) + (["font-weight:600"] if i in bold else [])
        row_style = f' style="{";".join(styles)}"' if styles else ""
        body.append(f"<tr{row_style}>" + "".join(cells) + "</tr>")
    return (f'<table class="{css_class}"><thead><tr>' + head + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table>")


def markdown_table(rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table; the first row is the header."""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)
