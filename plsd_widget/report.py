"""A self-contained HTML report of a session: Figure 2's panels, the metrics, the gallery, the declutter table.

The panels (before / baseline (CE) / PLSD, train and test, with contours) are
:mod:`plsd_widget.report_figure`'s; the "fixed by PLSD" gallery :mod:`plsd_widget.report_gallery`'s.

The file has inline SVG, CSS and PNG data URIs only, so it opens in any browser without a kernel.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from plsd_widget.config import PAPER_CONTOUR_LEVEL
from plsd_widget.palette import class_colors


def drawn_bounds(positions, *, targets=None, lines=(), margin: float = 0.03) -> tuple[float, float, float, float]:
    """``(xmin, xmax, ymin, ymax)`` holding ``positions``, the finite ``targets`` and every polyline of ``lines``.

    Each side is widened by ``margin`` of the span, so nothing drawn (an edit arrow's head,
    a contour) runs off the plot's edge.
    """
    parts = [np.asarray(positions, dtype=np.float64).reshape(-1, 2)]
    if targets is not None:
        tgt = np.asarray(targets, dtype=np.float64).reshape(-1, 2)
        parts.append(tgt[np.isfinite(tgt).all(axis=1)])
    parts += [np.asarray(line, dtype=np.float64).reshape(-1, 2) for line in lines]
    every = np.concatenate(parts)
    if not len(every):
        return (-1.0, 1.0, -1.0, 1.0)
    lo, hi = every.min(axis=0), every.max(axis=0)
    pad = margin * np.maximum(hi - lo, 1e-9)
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1]))


def scatter_svg(positions, labels, colors, *, targets=None, outlines=None, contours=None, marks=None, bounds=None,
                size: int = 420, title: str = "") -> str:
    """An SVG scatter of ``positions`` coloured by ``labels``; edit targets drawn as arrows.

    ``outlines``, if given, is a list of ``(polylines, color)``: closed 2-D polylines in data
    coordinates (e.g. one subtype of :func:`plsd_widget.analysis.subtypes.subtype_outlines`),
    drawn dashed over the points. ``contours``, if given, is one list of closed polylines a
    class (:func:`plsd_widget.contours.density_contours`), drawn solid in the class's colour.
    ``marks`` is a list of ``(x, y, text, color)``: a ring at a point with a short label.
    ``bounds`` ``(xmin, xmax, ymin, ymax)`` defaults to :func:`drawn_bounds` of all of these
    (the plot's 12-pixel padding is the only margin then).
    """
    pos = np.asarray(positions, dtype=np.float64)
    outline_lines = [line for polylines, _ in outlines or () for line in polylines]
    contour_lines = [line for class_lines in contours or () for line in class_lines]
    if bounds is None:
        mark_points = [np.array([[x, y]]) for x, y, _, _ in marks or ()]
        bounds = drawn_bounds(pos, targets=targets, lines=outline_lines + contour_lines + mark_points, margin=0)
    x0, x1, y0, y1 = bounds
    pad = 12

    def sx(v):
        return pad + (v - x0) / max(x1 - x0, 1e-12) * (size - 2 * pad)

    def sy(v):
        return size - pad - (v - y0) / max(y1 - y0, 1e-12) * (size - 2 * pad)

    def polyline(line, color, style):
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in np.asarray(line, dtype=np.float64))
        return f'<polyline points="{points}" fill="none" stroke="{color}" {style}/>'

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
    for c, class_lines in enumerate(contours or ()):
        parts += [polyline(line, colors[c], 'stroke-width="1.2" stroke-opacity="0.8" class="contour"')
                  for line in class_lines]
    for polylines, color in outlines or ():
        parts += [polyline(line, color, 'stroke-width="1.5" stroke-dasharray="4 3"') for line in polylines]
    for x, y, text, color in marks or ():
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4.5" fill="none" stroke="{color}" '
                     f'stroke-width="1.5" class="mark"/><text x="{sx(x) + 5:.1f}" y="{sy(y) - 5:.1f}" '
                     f'font-size="9" fill="{color}">{html.escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def legend_html(class_names, colors) -> str:
    items = "".join(f'<span class="key"><i style="background:{c}"></i>{html.escape(n)}</span>'
                    for n, c in zip(class_names, colors))
    return f'<div class="legend">{items}</div>'


def distance_closed(declutter) -> str:
    """How far the edited points went toward their targets under PLSD, in one sentence, or ``""``.

    Reads the training split's distance to the targets (:func:`plsd_widget.declutter.target_distance`,
    in units of the embedding's scale) of the "before" and "PLSD" runs of ``declutter``
    (a :class:`~plsd_widget.declutter.DeclutterTable`); ``""`` without both or without edits.
    """
    scores = {run: declutter.scores.get((run, "train"), {}).get("distance", np.nan)
              for run in ("before", "baseline (CE)", "PLSD")}
    before, after = scores["before"], scores["PLSD"]
    if not (np.isfinite(before) and np.isfinite(after) and before > 0):
        return ""
    line = (f"After PLSD fine-tuning the edited training points closed {1 - after / before:.0%} of their distance "
            f"to the targets ({before:.2f} → {after:.2f} of the embedding's scale)")
    if np.isfinite(scores["baseline (CE)"]):
        line += f"; the baseline (CE), which does not see the edit, ends at {scores['baseline (CE)']:.2f}"
    return line + "."


def write_report(path, *, before, after, labels, class_names, targets, metrics, summary: str = "",
                 declutter=None, splits=None, fixed=None, fixed_images=None, contour_level=PAPER_CONTOUR_LEVEL) -> Path:
    """Write the report to ``path`` and return it: one self-contained HTML file.

    Parameters
    ----------
    path : str or Path
    before, after : ndarray of shape (n, 2)
        Embedding of the training points before and after fine-tuning (same frame); the
        panels when ``splits`` is not given.
    labels : ndarray of shape (n,)
    class_names : list of str
    targets : ndarray of shape (n, 2)
        Edit targets, NaN where unedited.
    metrics : MetricsTable
    summary : str
        A line describing the run (the edit, λ, epochs).
    declutter : DeclutterTable, optional
        Shown under "Decluttering" with a line per column saying what it means; under the
        panels, how far the edited points went toward their targets (:func:`distance_closed`).
    splits : list of SplitRuns, optional
        The panels of Figure 2 (:func:`plsd_widget.report_figure.session_splits`): before /
        baseline (CE) / PLSD, train and test; by default the train split's ``before`` and
        ``after``.
    fixed : FixedAndBroken, optional
        The "fixed by PLSD" gallery (:func:`plsd_widget.fixed_by.session_fixed_by`).
    fixed_images : array-like, optional
        The inputs of ``fixed.split``, for the gallery's thumbnails.
    contour_level : float in (0, 1) or "1/N", default="1/N"
        The panels' contours: the paper's density of 1/N (the default, since these panels
        are its Figure 2), or the mass fraction each contour encloses (the widget's default,
        which does not depend on the split's size).
    """
    from plsd_widget.report_figure import SplitRuns, figure_html
    from plsd_widget.report_gallery import gallery_html, gallery_marks

    colors = class_colors(len(class_names))
    if splits is None:
        splits = [SplitRuns("train", np.asarray(labels), {"before": before, "PLSD": after}, targets)]
    marks = gallery_marks(fixed) if fixed is not None else None
    panels, bounds = figure_html(splits, colors, level=contour_level, marks=marks)
    gallery = ""
    if fixed is not None:
        gallery = f"<h2>Fixed by PLSD</h2>\n{gallery_html(fixed, fixed_images, class_names, colors, bounds)}"
    decluttering = moved = ""
    if declutter is not None:
        moved = distance_closed(declutter)
        moved = f'<p class="moved">{html.escape(moved, quote=False)}</p>' if moved else ""
        legend = "".join(f"<li>{html.escape(line)}</li>" for line in declutter.legend())
        decluttering = f"<h2>Decluttering</h2>\n{declutter.to_html()}\n<ul class=\"notes\">{legend}</ul>"
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>plsd_widget report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
figure {{ display: inline-block; margin: 0 1.5rem 1rem 0; vertical-align: top; }}
figcaption {{ text-align: center; font-size: 0.9rem; }}
.panels figure {{ margin-right: 0.8rem; }}
.gallery figure.card {{ margin: 0 0.6rem 0.8rem 0; width: 10.5rem; }}
.gallery img {{ image-rendering: pixelated; border: 1px solid #ccc; vertical-align: top; margin-right: 0.3rem; }}
.gallery figcaption {{ text-align: left; font-size: 0.75rem; }}
.gallery .xy {{ color: #666; }}
.legend .key {{ margin-right: 1rem; font-size: 0.9rem; }}
.legend i {{ display: inline-block; width: 0.8rem; height: 0.8rem; border-radius: 50%; margin-right: 0.3rem; vertical-align: middle; }}
table.plsd-metrics, table.plsd-declutter {{ border-collapse: collapse; font-size: 0.85rem; margin-top: 1rem; }}
table.plsd-metrics th, table.plsd-metrics td, table.plsd-declutter th, table.plsd-declutter td {{
  border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: right; }}
.notes {{ font-size: 0.85rem; color: #555; }}
.moved {{ font-weight: 600; }}
</style></head><body>
<h1>Projective Latent Space Decluttering</h1>
<p>{html.escape(summary)}</p>
{legend_html(class_names, colors)}
<h2>Embeddings: before, baseline (CE), PLSD</h2>
{panels}
{moved}
<h2>Per-class metrics</h2>
{metrics.to_html()}
{gallery}
{decluttering}
</body></html>
"""
    path = Path(path)
    path.write_text(doc, encoding="utf-8")
    return path


def write_session_report(path, session, *, summary: str = "", declutter=None,
                         contour_level=PAPER_CONTOUR_LEVEL) -> Path:
    """:func:`write_report` of a session: Figure 2's panels of every run it has done, and the gallery.

    The gallery needs the baseline (``session.run_baseline()`` after the last ``finetune``);
    it reads the test split, or the training split (and says so) without one. ``declutter``
    defaults to ``session.declutter`` once the session has fine-tuned.
    """
    from plsd_widget.report_figure import session_splits

    fixed = images = None
    if session.baseline_snapshot is not None and len(session.checkpoints) > 1:
        split = "test" if session.y_test is not None else "train"
        fixed = session.fixed_by_plsd(split)
        images = session.x_test if split == "test" else session.x
    if declutter is None and len(session.checkpoints) > 1:
        declutter = session.declutter
    return write_report(path, before=session.edits.positions, after=session.positions, labels=session.y,
                        class_names=session.class_names, targets=session.targets, metrics=session.metrics,
                        summary=summary, declutter=declutter, splits=session_splits(session), fixed=fixed,
                        fixed_images=images, contour_level=contour_level)
