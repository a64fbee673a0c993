"""A self-contained HTML report of a session: embeddings before/after, the metrics and declutter tables.

The file has inline SVG and CSS only, so it opens in any browser without a kernel.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from plsd_widget.palette import class_colors


def scatter_svg(positions, labels, colors, *, targets=None, outlines=None, bounds=None, size: int = 420,
                title: str = "") -> str:
    """An SVG scatter of ``positions`` coloured by ``labels``; edit targets drawn as arrows.

    ``outlines``, if given, is a list of ``(polylines, color)``: closed 2-D polylines in data
    coordinates (e.g. one subtype of :func:`plsd_widget.analysis.subtypes.subtype_outlines`),
    drawn dashed over the points.
    """
    pos = np.asarray(positions, dtype=np.float64)
    if bounds is None:
        bounds = (pos[:, 0].min(), pos[:, 0].max(), pos[:, 1].min(), pos[:, 1].max())
    x0, x1, y0, y1 = bounds
    pad = 12

    def sx(v):
        return pad + (v - x0) / max(x1 - x0, 1e-12) * (size - 2 * pad)

    def sy(v):
        return size - pad - (v - y0) / max(y1 - y0, 1e-12) * (size - 2 * pad)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
             f'viewBox="0 0 {size} {size}" role="img" aria-label="{html.escape(title)}">',
             f'<rect width="{size}" height="{size}" fill="#fff" stroke="#ccc"/>']
    if targets is not None:
        tgt = np.asarray(targets, dtype=np.float64)
        moved = np.flatnonzero(np.isfinite(tgt).all(axis=1))
        parts += [f'<line x1="{sx(pos[i, 0]):.1f}" y1="{sy(pos[i, 1]):.1f}" x2="{sx(tgt[i, 0]):.1f}" '
                  f'y2="{sy(tgt[i, 1]):.1f}" stroke="#888" stroke-opacity="0.25" stroke-width="0.6"/>'
                  for i in moved]
    for i, (x, y) in enumerate(pos):
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="1.8" fill="{colors[labels[i]]}" fill-opacity="0.75"/>')
    for polylines, color in outlines or ():
        for line in polylines:
            points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in np.asarray(line, dtype=np.float64))
            parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.5" '
                         'stroke-dasharray="4 3"/>')
    parts.append("</svg>")
    return "".join(parts)


def legend_html(class_names, colors) -> str:
    items = "".join(f'<span class="key"><i style="background:{c}"></i>{html.escape(n)}</span>'
                    for n, c in zip(class_names, colors))
    return f'<div class="legend">{items}</div>'


def write_report(path, *, before, after, labels, class_names, targets, metrics, summary: str = "",
                 declutter=None) -> Path:
    """Write the report to ``path`` and return it.

    Parameters
    ----------
    path : str or Path
    before, after : ndarray of shape (n, 2)
        Embedding before and after fine-tuning (same frame).
    labels : ndarray of shape (n,)
    class_names : list of str
    targets : ndarray of shape (n, 2)
        Edit targets, NaN where unedited.
    metrics : MetricsTable
    summary : str
        A line describing the run (the edit, λ, epochs).
    declutter : DeclutterTable, optional
        Shown under "Decluttering" with a line per column saying what it means.
    """
    colors = class_colors(len(class_names))
    both = np.vstack([before, after, targets[np.isfinite(targets).all(axis=1)]])
    span = both.max(axis=0) - both.min(axis=0)
    lo, hi = both.min(axis=0) - 0.03 * span, both.max(axis=0) + 0.03 * span
    bounds = (lo[0], hi[0], lo[1], hi[1])
    figs = [("Before: edits as arrows to their targets", scatter_svg(before, labels, colors, targets=targets, bounds=bounds)),
            ("After PLSD fine-tuning", scatter_svg(after, labels, colors, bounds=bounds))]
    decluttering = ""
    if declutter is not None:
        legend = "".join(f"<li>{html.escape(line)}</li>" for line in declutter.legend())
        decluttering = f"<h2>Decluttering</h2>\n{declutter.to_html()}\n<ul class=\"notes\">{legend}</ul>"
    figures = "".join(f"<figure>{svg}<figcaption>{html.escape(cap)}</figcaption></figure>" for cap, svg in figs)
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>plsd_widget report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
figure {{ display: inline-block; margin: 0 1.5rem 1rem 0; }}
figcaption {{ text-align: center; font-size: 0.9rem; }}
.legend .key {{ margin-right: 1rem; font-size: 0.9rem; }}
.legend i {{ display: inline-block; width: 0.8rem; height: 0.8rem; border-radius: 50%; margin-right: 0.3rem; vertical-align: middle; }}
table.plsd-metrics, table.plsd-declutter {{ border-collapse: collapse; font-size: 0.85rem; margin-top: 1rem; }}
table.plsd-metrics th, table.plsd-metrics td, table.plsd-declutter th, table.plsd-declutter td {{
  border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: right; }}
.notes {{ font-size: 0.85rem; color: #555; }}
</style></head><body>
<h1>Projective Latent Space Decluttering</h1>
<p>{html.escape(summary)}</p>
{legend_html(class_names, colors)}
{figures}
<h2>Per-class metrics</h2>
{metrics.to_html()}
{decluttering}
</body></html>
"""
    path = Path(path)
    path.write_text(doc, encoding="utf-8")
    return path
