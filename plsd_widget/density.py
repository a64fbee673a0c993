"""Per-class densities on a grid: a binned Gaussian KDE, its mass levels and the crowding checks.

How it works
------------
1. **Grid.** One ``G × G`` grid of nodes spans the same ``extent`` for every class
   (by default the data's bounding box widened by four of the largest bandwidths, so
   the density has fallen to ~0 at the border).
2. **Linear binning.** Each point spreads unit mass over the four nodes around it in
   proportion to the bilinear weights (Wand & Jones 1995, *Kernel Smoothing*, §D.2).
3. **Gaussian kernel by FFT.** The binned counts are convolved with a Gaussian of
   per-axis bandwidths ``(h_x, h_y)`` by multiplying their zero-padded 2-D FFT with the
   Gaussian's transfer function; the padding is at least four bandwidths, so nothing
   wraps around. Cost: ``O(n + C·G² log G)``, independent of ``n`` after binning
   (exact KDE is ``O(n·G²)``).
4. **Bandwidth.** Scott's rule per class and axis, ``h = σ·n_c^(−1/6)``; in two
   dimensions Silverman's rule ``(4/(d+2))^(1/(d+4))·σ·n^(−1/(d+4))`` is the very same
   number. A bandwidth below one grid spacing is raised to one spacing (the grid could
   not resolve it). A float ``bandwidth`` fixes ``h`` in data units for every class.
5. **Level.** :func:`mass_level`: the density whose super-level set holds a fraction
   ``mass`` of the class; or the paper's "1/N" (:func:`paper_level`), the node mass of a
   density of ``1/N`` per unit area, ``N`` the number of points of every class (see
   :func:`plsd_widget.contours.density_contours` for the difference).

The contour lines themselves are :mod:`plsd_widget.contours`. Only numpy and scipy are
used (no contourpy, scikit-image or matplotlib).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from plsd_widget._validation import as_float_array, as_labels, check_fraction

_TRUNCATE = 4.0  # bandwidths of padding: beyond 4σ a Gaussian holds < 1e-4 of its mass per axis

@dataclass
class DensityGrid:
    """Per-class densities on a shared grid.

    Attributes
    ----------
    density : ndarray of shape (n_classes, grid_size, grid_size)
        Probability mass per grid node; each class sums to 1. Row index is y, column x.
    extent : tuple of float
        ``(xmin, xmax, ymin, ymax)``: the coordinates of the first and last nodes.
    bandwidths : ndarray of shape (n_classes, 2)
        Kernel standard deviations ``(h_x, h_y)`` in data units.
    counts : ndarray of shape (n_classes,)
        Points per class that fell inside ``extent``.
    n_samples : int
        Points given, of every class, inside ``extent`` or not (the paper's ``N``).
    """

    density: np.ndarray
    extent: tuple
    bandwidths: np.ndarray
    counts: np.ndarray
    n_samples: int

    @property
    def cell_area(self) -> float:
        """Area of one grid cell in data units squared: node mass = density x ``cell_area``."""
        G = self.density.shape[1]
        return (self.extent[1] - self.extent[0]) * (self.extent[3] - self.extent[2]) / (G - 1) ** 2


def _check_grid_size(grid_size) -> int:
    if isinstance(grid_size, bool) or not isinstance(grid_size, (int, np.integer)) or grid_size < 8:
        raise ValueError(f"grid_size must be an integer >= 8, got {grid_size!r}; 128 to 512 suits a scatter view")
    return int(grid_size)


def _scott_bandwidths(Y, labels, counts):
    """Scott's (= Silverman's, in 2-D) per-class, per-axis bandwidths, shape (n_classes, 2)."""
    n_classes = len(counts)
    Yc = Y - Y.mean(axis=0)  # centred, so the one-pass variance below loses no precision
    s1 = np.stack([np.bincount(labels, Yc[:, j], n_classes) for j in range(2)], axis=1)
    s2 = np.stack([np.bincount(labels, Yc[:, j] ** 2, n_classes) for j in range(2)], axis=1)
    n = counts[:, None].astype(np.float64)
    var = np.where(n > 1, (s2 - s1**2 / n) / np.maximum(n - 1, 1), 0.0)
    return np.sqrt(np.maximum(var, 0.0)) * n ** (-1.0 / 6.0)


def _linear_binning(u: np.ndarray, labels: np.ndarray, n_classes: int, G: int) -> tuple[np.ndarray, np.ndarray]:
    """Every class's points (``u`` in grid-node units) spread over their four nearest nodes: (n_classes, G, G).

    Also returns the labels of the points inside the grid.
    """
    inside = (u >= 0).all(axis=1) & (u <= G - 1).all(axis=1)
    u, lab = u[inside], labels[inside]
    i0 = np.minimum(np.floor(u).astype(np.int64), G - 2)
    f = u - i0
    base = lab * G * G + i0[:, 1] * G + i0[:, 0]
    fx, fy = f[:, 0], f[:, 1]
    corners = np.concatenate([base, base + 1, base + G, base + G + 1])
    weights = np.concatenate([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
    return np.bincount(corners, weights, n_classes * G * G).reshape(n_classes, G, G).astype(np.float32), lab


def _gaussian_smoothing(binned: np.ndarray, h_nodes: np.ndarray) -> np.ndarray:
    """The binned counts convolved with each class's Gaussian (bandwidths ``h_nodes`` in nodes), by FFT
    with zero padding wide enough that nothing wraps; each class normalised to mass 1."""
    G = binned.shape[1]
    r = np.ceil(_TRUNCATE * h_nodes).astype(int).max(axis=0)
    L = (sfft.next_fast_len(G + int(r[1]), real=True), sfft.next_fast_len(G + int(r[0]), real=True))
    spec = sfft.rfft2(binned, s=L, workers=-1)
    ky = sfft.fftfreq(L[0])[:, None]  # cycles per node
    kx = sfft.rfftfreq(L[1])[None, :]
    sx, sy = h_nodes[:, 0], h_nodes[:, 1]
    # The Gaussian's transfer function is separable: an outer product of two 1-D ones.
    tx = np.exp(-2 * np.pi**2 * sx[:, None, None] ** 2 * kx**2).astype(np.float32)
    ty = np.exp(-2 * np.pi**2 * sy[:, None, None] ** 2 * ky**2).astype(np.float32)
    spec *= tx
    spec *= ty
    density = sfft.irfft2(spec, s=L, workers=-1)[:, :G, :G].astype(np.float64)
    np.maximum(density, 0, out=density)  # FFT round-off can dip a hair below zero
    density /= density.sum(axis=(1, 2), keepdims=True)
    return density


def grid_densities(Y, labels, *, n_classes=None, grid_size=256, bandwidth="scott", extent=None) -> DensityGrid:
    """Binned Gaussian KDE of every class on one shared grid.

    Parameters
    ----------
    Y : array-like of shape (n_samples, 2)
        Embedded points.
    labels : array-like of shape (n_samples,)
        Integer class indices ``0..n_classes-1``.
    n_classes : int, optional
        Number of classes; default ``labels.max() + 1``. Every class must have points.
    grid_size : int, default=256
        Nodes per axis ``G`` (at least 8).
    bandwidth : "scott" or float, default="scott"
        Scott's rule per class and axis (equal to Silverman's in 2-D), or one kernel
        standard deviation in data units for every class and axis.
    extent : tuple of float, optional
        ``(xmin, xmax, ymin, ymax)`` of the grid. Pass the same extent for two point
        sets whose contours you compare. Points outside it are dropped.

    Returns
    -------
    DensityGrid
    """
    Y = as_float_array(Y, "Y").astype(np.float64)
    if Y.shape[1] != 2:
        raise ValueError(f"Y must have shape (n_samples, 2), got {Y.shape}; embed to 2-D first")
    labels = as_labels(labels, len(Y), "labels")
    G = _check_grid_size(grid_size)
    if n_classes is None:
        n_classes = int(labels.max()) + 1
    elif labels.max() >= n_classes:
        raise ValueError(f"labels go up to {labels.max()} but n_classes={n_classes}; raise n_classes")
    counts = np.bincount(labels, minlength=n_classes)
    if (counts == 0).any():
        empty = np.flatnonzero(counts == 0).tolist()
        raise ValueError(f"class(es) {empty} have no points; drop them from labels or lower n_classes")

    if isinstance(bandwidth, str):
        if bandwidth != "scott":
            raise ValueError(f"bandwidth must be 'scott' or a positive number, got {bandwidth!r}")
        h = _scott_bandwidths(Y, labels, counts)
    else:
        b = float(bandwidth)
        if not np.isfinite(b) or b <= 0:
            raise ValueError(f"bandwidth must be 'scott' or a positive number, got {bandwidth!r}")
        h = np.full((n_classes, 2), b)

    if extent is None:
        pad = _TRUNCATE * h.max(axis=0)
        lo, hi = Y.min(axis=0) - pad, Y.max(axis=0) + pad
        span = np.maximum(hi - lo, 1e-6)
        hi = lo + span
        extent = (lo[0], hi[0], lo[1], hi[1])
    extent = tuple(float(v) for v in extent)
    if len(extent) != 4 or not np.isfinite(extent).all() or extent[1] <= extent[0] or extent[3] <= extent[2]:
        raise ValueError(f"extent must be finite (xmin, xmax, ymin, ymax) with xmin < xmax and ymin < ymax, got {extent}")
    lo = np.array([extent[0], extent[2]])
    step = (np.array([extent[1], extent[3]]) - lo) / (G - 1)
    h = np.maximum(h, step)  # the grid cannot resolve a narrower kernel

    binned, lab = _linear_binning((Y - lo) / step, labels, n_classes, G)
    return DensityGrid(_gaussian_smoothing(binned, h / step), extent, h, np.bincount(lab, minlength=n_classes),
                       len(Y))


def mass_level(density, mass):
    """Density value whose super-level set holds ``mass`` of the probability.

    Parameters
    ----------
    density : ndarray of shape (grid_size, grid_size)
        Non-negative masses summing to 1.
    mass : float in (0, 1)

    Returns
    -------
    float
        The largest ``t`` with ``sum(density[density >= t]) >= mass``.
    """
    flat = np.sort(density, axis=None)[::-1]
    k = int(np.searchsorted(np.cumsum(flat), mass))
    return float(flat[min(k, flat.size - 1)])


def paper_level(grid: DensityGrid) -> float:
    """The paper's contour level, a density of ``1/N`` per unit area, as a node mass of ``grid``.

    Each class's density integrates to 1 over the plane, in the data's units (the view's
    coordinates); ``N`` is ``grid.n_samples``, the number of points of every class (the
    train or the test split shown). The level is the same for every class.
    """
    return grid.cell_area / grid.n_samples


def check_mass(mass) -> float:
    """``mass``, the probability inside a contour, as a float strictly between 0 and 1 (else a ValueError)."""
    mass = check_fraction(mass, "mass")
    if not 0 < mass < 1:
        raise ValueError(f"mass must be strictly between 0 and 1, got {mass}; 0.9 is a good default")
    return mass


def grid_cells(grid: DensityGrid, points) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the grid node nearest to each point (outside the grid: out of range).

    Parameters
    ----------
    grid : DensityGrid
    points : ndarray of shape (n, 2)

    Returns
    -------
    row, col : ndarray of int64, shape (n,)
    """
    G = grid.density.shape[1]
    x0, x1, y0, y1 = grid.extent
    col = np.rint((points[:, 0] - x0) / (x1 - x0) * (G - 1)).astype(np.int64)
    row = np.rint((points[:, 1] - y0) / (y1 - y0) * (G - 1)).astype(np.int64)
    return row, col


def _target_cells(grid: DensityGrid, labels, targets, mass):
    """Checked inputs plus the grid cells of the edited points' targets (shared by the crowding checks)."""
    mass = check_mass(mass)
    targets = np.asarray(targets, dtype=np.float64)
    labels = as_labels(labels, len(targets), "labels")
    if targets.ndim != 2 or targets.shape[1] != 2:
        raise ValueError(f"targets must have shape (n_samples, 2) like the labels, got {targets.shape}")
    edited = np.isfinite(targets).all(axis=1)
    G = grid.density.shape[1]
    row, col = grid_cells(grid, targets[edited])
    on_grid = (col >= 0) & (col < G) & (row >= 0) & (row < G)  # off the grid every density is ~0
    return mass, labels, edited, row, col, on_grid


def crowded_points(grid: DensityGrid, labels, targets, *, classes=None, mass=0.9) -> np.ndarray:
    """Which edited points have their target inside the dense region of another class.

    Same test as :func:`crowded_targets`, per point: True where the target lies inside
    the ``mass`` contour of at least one class other than the point's own.

    Returns
    -------
    ndarray of shape (n_samples,), bool
        False for points without a target.
    """
    mass, labels, edited, row, col, on_grid = _target_cells(grid, labels, targets, mass)
    classes = np.arange(len(grid.density)) if classes is None else np.asarray(classes)
    out = np.zeros(len(labels), dtype=bool)
    owners = labels[edited][on_grid]
    hit = np.zeros(owners.size, dtype=bool)
    for b, dens in zip(classes, grid.density):
        hit |= (dens[row[on_grid], col[on_grid]] >= mass_level(dens, mass)) & (owners != b)
    idx = np.flatnonzero(edited)[on_grid]
    out[idx] = hit
    return out


def crowded_targets(grid: DensityGrid, labels, targets, *, classes=None, n_classes=None, mass=0.9):
    """Count edited points whose target lies inside another class's dense region.

    The paper's guideline for edits: decluttering needs empty space near the target. A
    target counts as crowded by class ``b`` when it falls where ``b``'s density is above
    the level of ``b``'s ``mass`` contour, i.e. inside the contour drawn for ``b``.

    Parameters
    ----------
    grid : DensityGrid
        Densities of the current positions (:func:`grid_densities`), computed once and
        reused for every edit.
    labels : array-like of shape (n_samples,)
        Class of each point.
    targets : array-like of shape (n_samples, 2)
        Edit targets, NaN for points no edit touched.
    classes : array-like of shape (n_grid_classes,), optional
        The class of each density in ``grid`` (default ``0, 1, ...``), for grids built
        on the classes present only.
    n_classes : int, optional
    mass : float in (0, 1), default=0.9

    Returns
    -------
    ndarray of shape (n_classes, n_classes), int
        ``counts[a, b]``: edited points of class ``a`` whose target is inside ``b``'s
        region (``b != a``; the diagonal is zero). A target inside two other classes'
        regions counts for both; :func:`crowded_points` counts points.
    """
    mass, labels, edited, row, col, on_grid = _target_cells(grid, labels, targets, mass)
    classes = np.arange(len(grid.density)) if classes is None else np.asarray(classes)
    n_classes = int(max(labels.max(), classes.max())) + 1 if n_classes is None else n_classes
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    if not edited.any():
        return counts
    owners = labels[edited][on_grid]
    for b, dens in zip(classes, grid.density):
        inside = dens[row[on_grid], col[on_grid]] >= mass_level(dens, mass)
        counts[:, b] += np.bincount(owners[inside & (owners != b)], minlength=n_classes)[:n_classes]
    return counts
