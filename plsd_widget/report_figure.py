"""The report's Figure 2: before / baseline (CE) / PLSD side by side, train and test, with per-class contours.

Every panel shares one square frame, so a point's place can be compared across panels,
and the frame holds everything drawn: the points, the edit targets the "before" panel
joins them to, the contours. Contours are drawn at the paper's level by default, a
density of 1/N with N the points of the split (:func:`plsd_widget.contours.density_contours`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from plsd_widget.config import PAPER_CONTOUR_LEVEL
from plsd_widget.contours import check_contour_level, density_contours
from plsd_widget.report import drawn_bounds, scatter_svg

RUNS = ("before", "baseline (CE)", "PLSD")
PANEL_SIZE = 300
CAPTIONS = {"before": "before: the start model", "baseline (CE)": "baseline: cross-entropy only",
            "PLSD": "after PLSD fine-tuning"}


@dataclass(frozen=True)
class SplitRuns:
    """Where each run puts one split's points.

    Attributes
    ----------
    name : str
        "train" or "test".
    labels : ndarray of shape (n_samples,)
    runs : dict of str to ndarray of shape (n_samples, 2)
        Positions by run, in the order of :data:`RUNS`; a run not done is absent.
    targets : ndarray of shape (n_samples, 2), optional
        Edit targets (NaN where unedited), drawn as arrows from the "before" positions.
    """

    name: str
    labels: np.ndarray
    runs: dict = field(default_factory=dict)
    targets: np.ndarray | None = None


def session_splits(session) -> list[SplitRuns]:
    """The train split (and the test split, if any) of a session, with every run it has done.

    "before" is where the edits were made (the start model's embedding), "baseline (CE)"
    the baseline while it has as many epochs as PLSD, "PLSD" the current model's once it
    has fine-tuned an epoch.
    """
    baseline, epochs = session.baseline_snapshot, len(session.checkpoints) - 1
    train = {"before": session.edits.positions}
    if baseline is not None:
        train["baseline (CE)"] = baseline.positions
    if epochs:
        train["PLSD"] = session.positions
    splits = [SplitRuns("train", session.y, train, session.targets)]
    if session.y_test is not None:
        test = {"before": session.start_snapshot.test_positions}
        if baseline is not None:
            test["baseline (CE)"] = baseline.test_positions
        if epochs:
            test["PLSD"] = session.test_positions
        splits.append(SplitRuns("test", session.y_test, test))
    return splits


def level_caption(level) -> str:
    """What a contour ``level`` draws, in words."""
    if level == PAPER_CONTOUR_LEVEL:
        return "contours at a density of 1/N, N the points of the split (the paper's level)"
    return f"contours around {level:.0%} of each class's mass"


def figure_html(splits, colors, *, level=PAPER_CONTOUR_LEVEL, marks=None, size: int = PANEL_SIZE):
    """One row of panels a split, in one square frame; returns ``(html, bounds)``.

    Parameters
    ----------
    splits : list of SplitRuns
    colors : list of str
        One CSS colour a class.
    level : float in (0, 1) or "1/N", default="1/N"
        The contours' level (:func:`plsd_widget.contours.density_contours`).
    marks : dict, optional
        ``{(split name, run): [(x, y, text, color), ...]}``: rings with labels on those panels.
    size : int
        Side of one panel in pixels.
    """
    level = check_contour_level(level)
    n_classes = len(colors)
    contours = {(split.name, run): density_contours(Y, split.labels, level=level, n_classes=n_classes)
                for split in splits for run, Y in split.runs.items()}
    lines = [line for panel in contours.values() for class_lines in panel for line in class_lines]
    lines += [np.array([[x, y]]) for panel_marks in (marks or {}).values() for x, y, _, _ in panel_marks]
    everything = np.concatenate([Y for split in splits for Y in split.runs.values()])
    targets = np.concatenate([s.targets for s in splits if s.targets is not None] or [np.empty((0, 2))])
    bounds = square(drawn_bounds(everything, targets=targets, lines=lines))
    rows = []
    for split in splits:
        figures = []
        for run in (r for r in RUNS if r in split.runs):
            svg = scatter_svg(split.runs[run], split.labels, colors, bounds=bounds, size=size,
                              targets=split.targets if run == "before" else None,
                              contours=contours[split.name, run], marks=(marks or {}).get((split.name, run)),
                              title=f"{split.name}: {run}")
            arrows = ", the edits as arrows to their targets" if run == "before" and split.targets is not None else ""
            caption = f"{split.name} ({len(split.labels)}): {CAPTIONS[run]}{arrows}"
            figures.append(f'<figure class="panel" data-split="{split.name}" data-run="{html.escape(run)}" '
                           f'style="width:{size}px">{svg}'
                           f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        rows.append(f'<div class="panels">{"".join(figures)}</div>')
    note = (f'<p class="notes">One frame for every panel; {html.escape(level_caption(level))}. '
            "A run not done is left out: the baseline needs <code>session.run_baseline()</code>.</p>")
    return "\n".join(rows) + "\n" + note, bounds


def square(bounds) -> tuple[float, float, float, float]:
    """The smallest square around ``bounds`` with the same centre, so no panel is distorted."""
    x0, x1, y0, y1 = bounds
    half = max(x1 - x0, y1 - y0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - half, cx + half, cy - half, cy + half)
