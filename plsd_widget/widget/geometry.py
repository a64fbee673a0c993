"""What the widget computes from positions for the view: square bounds, per-class density
contours, and the warning when an edit lands inside another class."""

from __future__ import annotations

import numpy as np

from plsd_widget.config import CONTOUR_LEVEL
from plsd_widget.contours import grid_contours, pack_contours
from plsd_widget.density import crowded_targets, grid_densities

BOUNDS_MARGIN = 1.15
CONTOUR_GRID = 128  # plenty for a few hundred pixels; 4x cheaper than 256
CROWDED_SHARE = 0.2  # warn when this share of a class's edited points lands in another class


def square_bounds(positions: np.ndarray) -> list[float]:
    """``[xmin, xmax, ymin, ymax]``: a square around the points with a margin, so the view is undistorted."""
    if len(positions) == 0:
        return [-1.0, 1.0, -1.0, 1.0]
    lo, hi = positions.min(axis=0), positions.max(axis=0)
    centre = (lo + hi) / 2
    half = max(float((hi - lo).max()) / 2 * BOUNDS_MARGIN, 1e-6)
    return [float(centre[0] - half), float(centre[0] + half), float(centre[1] - half), float(centre[1] + half)]


def class_grid(positions: np.ndarray, labels: np.ndarray):
    """Densities of the classes present in ``labels`` and those classes (the grid's rows)."""
    present, codes = np.unique(labels, return_inverse=True)
    return grid_densities(positions, codes, n_classes=len(present), grid_size=CONTOUR_GRID), present


def class_contours(positions: np.ndarray, labels: np.ndarray, level=CONTOUR_LEVEL):
    """Packed density contours of the classes present in ``labels`` (see ``contours.pack_contours``).

    ``level`` is a mass fraction in (0, 1) or ``"1/N"``, N the points given
    (:func:`plsd_widget.contours.density_contours`).
    """
    return packed_contours(*class_grid(positions, labels), level=level)


def packed_contours(grid, present, level=CONTOUR_LEVEL):
    """Contours of a ``class_grid`` at ``level`` as one vertex buffer, offsets and class ids for the view."""
    vertices, offsets, classes = pack_contours(grid_contours(grid, level))
    return vertices, offsets, present[classes].astype(np.uint16)


def crowding_warning(grid, present, labels, targets, class_names) -> str:
    """A warning naming edits whose targets land inside another class's contour, or ``""``."""
    counts = crowded_targets(grid, labels, targets, classes=present, n_classes=len(class_names))
    edited = np.bincount(labels[np.isfinite(targets).all(axis=1)], minlength=len(class_names))
    parts = []
    for a, b in zip(*np.nonzero(counts)):
        if counts[a, b] >= max(1, CROWDED_SHARE * edited[a]):
            parts.append(f"{counts[a, b]} of {edited[a]} edited '{class_names[a]}' points land inside "
                         f"'{class_names[b]}'")
    if not parts:
        return ""
    return "; ".join(parts) + ". Decluttering works best when the target region is empty."
