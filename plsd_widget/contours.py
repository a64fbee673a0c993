"""Per-class density contours: closed polylines at a mass level of each class's density, or at the paper's 1/N.

Marching squares with linear interpolation along cell edges over a
:class:`~plsd_widget.density.DensityGrid`, cut at each class's :func:`~plsd_widget.density.mass_level`
or at :func:`~plsd_widget.density.paper_level`;
saddle cells are resolved by the cell-centre average. The field is framed by low values
first, so every polyline is closed. :func:`pack_contours` puts them in one vertex buffer.
"""

from __future__ import annotations

import numpy as np

from plsd_widget.config import CONTOUR_LEVEL, PAPER_CONTOUR_LEVEL
from plsd_widget.density import DensityGrid, check_mass, grid_densities, mass_level, paper_level

# Marching-squares segments per case, oriented so the high side is on the left (y up).
# Corners: a=(r,c) bit 1, b=(r,c+1) bit 2, c=(r+1,c+1) bit 4, d=(r+1,c) bit 8.
# Edges: 0 bottom (a-b), 1 right (b-c), 2 top (d-c), 3 left (a-d).
_SEGMENTS = {
    1: [(0, 3)], 2: [(1, 0)], 3: [(1, 3)], 4: [(2, 1)], 6: [(2, 0)], 7: [(2, 3)],
    8: [(3, 2)], 9: [(0, 2)], 11: [(1, 2)], 12: [(3, 1)], 13: [(0, 1)], 14: [(3, 0)],
}
# Saddles (5: a and c high, 10: b and d high): (segments if the centre is high, if low).
_SADDLES = {5: ([(0, 1), (2, 3)], [(0, 3), (2, 1)]), 10: ([(3, 0), (1, 2)], [(1, 0), (3, 2)])}


def marching_squares(field, level):
    """Closed iso-lines of a 2-D field, in fractional (column, row) node coordinates.

    Parameters
    ----------
    field : ndarray of shape (n_rows, n_cols)
    level : float

    Returns
    -------
    list of ndarray of shape (k, 2)
        One closed polyline per component (last vertex repeats the first); the high
        side lies to the left when y (rows) points up. The field is framed by values
        below ``level`` so every line closes; vertices can reach one node outside.
    """
    F = np.pad(np.asarray(field, dtype=np.float64), 1, constant_values=min(level - 1.0, float(np.min(field)) - 1.0))
    H, W = F.shape
    hi = F > level
    case = (hi[:-1, :-1] * 1 + hi[:-1, 1:] * 2 + hi[1:, 1:] * 4 + hi[1:, :-1] * 8).astype(np.int8)
    rows, cols = np.nonzero((case != 0) & (case != 15))
    if rows.size == 0:
        return []
    cases = case[rows, cols]
    centre_high = (F[rows, cols] + F[rows, cols + 1] + F[rows + 1, cols] + F[rows + 1, cols + 1]) / 4 > level

    n_h = H * (W - 1)
    # Edge ids of each cell's four edges: bottom, right, top, left.
    edge_ids = np.stack([rows * (W - 1) + cols, n_h + rows * W + cols + 1,
                         (rows + 1) * (W - 1) + cols, n_h + rows * W + cols], axis=1)
    src, dst = [], []
    for code, segs in _SEGMENTS.items():
        sel = cases == code
        for a, b in segs:
            src.append(edge_ids[sel, a])
            dst.append(edge_ids[sel, b])
    for code, (if_high, if_low) in _SADDLES.items():
        for centre, segs in ((True, if_high), (False, if_low)):
            sel = (cases == code) & (centre_high == centre)
            for a, b in segs:
                src.append(edge_ids[sel, a])
                dst.append(edge_ids[sel, b])
    src, dst = np.concatenate(src), np.concatenate(dst)

    # Crossing points on every edge used (vectorised), then chain successor links into loops.
    def points(ids):
        is_h = ids < n_h
        r = np.where(is_h, ids // (W - 1), (ids - n_h) // W)
        c = np.where(is_h, ids % (W - 1), (ids - n_h) % W)
        f0 = F[r, c]
        f1 = np.where(is_h, F[r, np.minimum(c + 1, W - 1)], F[np.minimum(r + 1, H - 1), c])
        t = (level - f0) / (f1 - f0)
        return np.stack([c + np.where(is_h, t, 0.0), r + np.where(is_h, 0.0, t)], axis=1) - 1.0

    xy = points(src)
    succ = dict(zip(src.tolist(), dst.tolist()))
    where = dict(zip(src.tolist(), range(src.size)))
    lines = []
    for start in src.tolist():
        if start not in succ:
            continue
        loop = [where[start]]
        e = succ.pop(start)
        while e != start:
            loop.append(where[e])
            e = succ.pop(e)
        loop.append(loop[0])
        lines.append(xy[loop])
    return lines


def density_contours(Y, labels, *, level=CONTOUR_LEVEL, n_classes=None, grid_size=256, bandwidth="scott",
                     extent=None):
    """Per-class density contours as closed polylines in data coordinates.

    Two levels. ``level="1/N"`` is the PLSD paper's: each class's KDE, normalised to
    integrate to 1 over the plane in the data's units, cut where it equals ``1/N``, ``N``
    the number of points given of every class (the train or the test split shown; the
    paper: "a density threshold of 1/N … N is the total number of train or test
    images"). That line depends on the units of the view and moves outward as ``N``
    grows: a 50k-point train set and a 10k-point test set from the same distribution get
    different contours. A number ``level`` in (0, 1), the default 0.9, fixes instead what
    each contour *encloses*: the highest-density region holding that fraction of the
    class's mass, i.e. the largest ``t`` with ``∑_{p ≥ t} p ≥ level``. That region
    converges to the population's as ``N`` grows and does not depend on units, grid extent
    or zoom; only Scott's bandwidth ``∝ N^(−1/6)`` still depends on ``N``, which widens a
    Gaussian blob's contour by ~1 % between 10k and 50k points (pass a float ``bandwidth``
    to remove even that). For a Gaussian class of standard deviation σ, with
    ``σ_eff² = σ² + h²``, the mass contour is a circle of radius ``σ_eff·√(−2 ln(1 − level))``
    and the 1/N contour one of radius ``σ_eff·√(2 ln(N / (2π σ_eff²)))`` (none when
    ``2π σ_eff² ≥ N``: the class is too spread out ever to reach that density).

    Parameters
    ----------
    Y : array-like of shape (n_samples, 2)
    labels : array-like of shape (n_samples,)
        Integer class indices ``0..n_classes-1``.
    level : float in (0, 1) or "1/N", default=0.9
        The mass each class's contour encloses, or the paper's density threshold.
    n_classes, grid_size, bandwidth, extent
        See :func:`grid_densities`.

    Returns
    -------
    list of list of ndarray of shape (k, 2), float32
        For each class, its closed polylines (last vertex equals the first), in data
        coordinates. A class can have several (separate clusters or holes), or none when
        its density never reaches a 1/N level.
    """
    check_contour_level(level)
    grid = grid_densities(Y, labels, n_classes=n_classes, grid_size=grid_size, bandwidth=bandwidth, extent=extent)
    return grid_contours(grid, level)


def grid_contours(grid: DensityGrid, level=CONTOUR_LEVEL):
    """The contours of :func:`density_contours` from an already computed :class:`DensityGrid`."""
    level = check_contour_level(level)
    G = grid.density.shape[1]
    lo = np.array([grid.extent[0], grid.extent[2]])
    step = (np.array([grid.extent[1], grid.extent[3]]) - lo) / (G - 1)
    out = []
    for dens in grid.density:
        cut = paper_level(grid) if level == PAPER_CONTOUR_LEVEL else mass_level(dens, level)
        out.append([(line * step + lo).astype(np.float32) for line in marching_squares(dens, cut)])
    return out


def check_contour_level(level):
    """``level`` as :func:`density_contours` takes it: ``"1/N"`` or a mass strictly between 0 and 1."""
    if isinstance(level, str):
        if level.replace(" ", "").upper() != PAPER_CONTOUR_LEVEL:
            raise ValueError(f"level must be a mass fraction in (0, 1) such as 0.9, or '1/N' (the paper's "
                             f"density threshold), got {level!r}")
        return PAPER_CONTOUR_LEVEL
    try:
        return check_mass(level)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{exc}; or pass level='1/N' for the paper's density threshold") from None


def pack_contours(contours):
    """Pack per-class polylines into one vertex buffer for the widget.

    Parameters
    ----------
    contours : list of list of array-like of shape (k, 2)
        As returned by :func:`density_contours`.

    Returns
    -------
    vertices : ndarray of shape (n_vertices, 2), float32
    offsets : ndarray of shape (n_lines + 1,), uint32
        Line ``i`` is ``vertices[offsets[i]:offsets[i + 1]]``.
    classes : ndarray of shape (n_lines,), uint16
        The class of each line.
    """
    lines, classes = [], []
    for c, class_lines in enumerate(contours):
        for line in class_lines:
            arr = np.asarray(line, dtype=np.float32)
            if arr.ndim != 2 or arr.shape[1] != 2:
                raise ValueError(f"class {c} has a polyline of shape {arr.shape}; each must be (k, 2)")
            lines.append(arr)
            classes.append(c)
    sizes = np.array([len(a) for a in lines], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.uint32)
    vertices = np.concatenate(lines) if lines else np.empty((0, 2), np.float32)
    return vertices, offsets, np.asarray(classes, dtype=np.uint16)


def unpack_contours(vertices, offsets, classes, n_classes):
    """Inverse of :func:`pack_contours`: per-class lists of (k, 2) float32 polylines."""
    vertices = np.asarray(vertices, dtype=np.float32).reshape(-1, 2)
    offsets = np.asarray(offsets, dtype=np.int64)
    classes = np.asarray(classes, dtype=np.int64)
    if offsets.size != classes.size + 1 or offsets[-1] != len(vertices):
        raise ValueError(
            f"offsets ({offsets.size}) must be one longer than classes ({classes.size}) and end at "
            f"the vertex count ({len(vertices)}); pass the three arrays pack_contours returned"
        )
    out = [[] for _ in range(n_classes)]
    for i, c in enumerate(classes):
        out[c].append(vertices[offsets[i] : offsets[i + 1]])
    return out
