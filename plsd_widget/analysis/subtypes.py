"""Subtypes inside one class: k-means in a layer's activation space, tested against a Gaussian.

A class the classifier lumps together can hold several kinds of images (two writing
styles of a digit, two scanners, two views of an organ). :func:`find_subtypes` looks
for them in the class's activations ``H`` of one layer:

1. **Candidates.** k-means (scikit-learn :class:`~sklearn.cluster.KMeans`) on the
   class's points for every ``k`` in ``2..k_max``; each clustering is scored by its
   mean silhouette (Euclidean).
2. **Best k.** The ``k`` with the highest silhouette.
3. **Null test.** k-means always splits a class, and even one Gaussian blob gets a
   silhouette of 0.2 to 0.4 (more in few dimensions, for a long thin blob). So the same
   procedure is run on ``n_reference`` draws from a Gaussian with the class's own mean
   and covariance (the same number of points, capped at ``sample_size``), and the class
   gets ``k`` subtypes only if its silhouette beats the reference's mean silhouette at
   that ``k`` by at least ``min_gain``; otherwise it is one blob: ``k = 1``. This is the
   silhouette analogue of the gap statistic (Tibshirani, Walther & Hastie 2001) with a
   Gaussian rather than a uniform reference, so that a class merely elongated along
   some direction is not called two subtypes.
4. **Large classes.** The silhouette costs ``O(n²)``; above ``sample_size`` points it is
   computed on a random sample of ``sample_size`` points (scikit-learn's
   ``silhouette_score(..., sample_size=...)``; the same sample for every ``k``), while
   k-means itself always uses every point.

:func:`subtype_outlines` draws each subtype's density contour in the 2-D embedding, in
the format of :func:`plsd_widget.contours.density_contours` (so
:func:`~plsd_widget.contours.pack_contours` packs them for the widget).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plsd_widget._validation import as_float_array, as_labels, check_positive_int
from plsd_widget.progress import progress_bar

__all__ = ["Subtypes", "find_subtypes", "find_all_subtypes", "subtype_outlines"]

MIN_GAIN = 0.04  # see benchmarks/subtypes.py: one-blob classes stay below it, two-blob classes far above
MIN_POINTS_PER_CLUSTER = 3  # a class needs at least this many points per cluster of the largest k


@dataclass(frozen=True)
class Subtypes:
    """Subtypes found inside one class (see :func:`find_subtypes`).

    Attributes
    ----------
    cls : int
        The class.
    indices : ndarray of shape (n_points,), int64
        Indices (rows of ``H``) of the class's points, ascending.
    labels : ndarray of shape (n_points,), int64
        Subtype of each of those points, ``0..k-1`` (all 0 when ``k == 1``). Subtype 0
        is the largest, then by decreasing size.
    k : int
        Number of subtypes; 1 when the class is one blob.
    silhouette : dict of int to float
        Mean silhouette of the k-means clustering for every ``k`` tried (``2..k_max``).
    reference : dict of int to float
        Mean silhouette of the same procedure on Gaussian draws with the class's mean and
        covariance, per ``k``.
    gain : float
        ``silhouette[best] - reference[best]`` for the ``best`` (highest-silhouette)
        ``k``, whether or not it passed ``min_gain``.
    best_k : int
        The highest-silhouette ``k`` (the candidate; ``k`` is it or 1).
    centroids : ndarray of shape (k, n_features), float32
        Mean activation of each subtype, in the units of ``H``.
    """

    cls: int
    indices: np.ndarray
    labels: np.ndarray
    k: int
    silhouette: dict
    reference: dict
    gain: float
    best_k: int
    centroids: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        """Points per subtype, shape (k,)."""
        return np.bincount(self.labels, minlength=self.k)


def _check_k_max(k_max) -> int:
    if isinstance(k_max, bool) or not isinstance(k_max, (int, np.integer)) or k_max < 2:
        raise ValueError(f"k_max must be an integer >= 2 (subtypes are looked for among k = 2..k_max), got {k_max!r}")
    return int(k_max)


def _check_min_gain(min_gain) -> float:
    try:
        v = float(min_gain)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"min_gain must be a number (a silhouette difference, e.g. {MIN_GAIN}), got {min_gain!r}") from exc
    if not np.isfinite(v):
        raise ValueError(f"min_gain must be finite, got {min_gain!r}")
    return v


def _gaussian_like(X, n, rng):
    """``n`` draws from the Gaussian with ``X``'s mean and (possibly singular) covariance."""
    mu = X.mean(axis=0, dtype=np.float64)
    Xc = X - mu
    cov = Xc.T.astype(np.float64) @ Xc / max(len(X) - 1, 1)
    w, V = np.linalg.eigh(cov)
    scale = np.sqrt(np.clip(w, 0, None))
    return (mu + (rng.standard_normal((n, len(w))) * scale) @ V.T).astype(np.float32)


def _silhouettes(X, ks, n_init, sample_size, seed, bar):
    """k-means labels and mean silhouette per k (NaN when k-means left a cluster empty)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    sample = sample_size if len(X) > sample_size else None
    fits, scores = {}, {}
    for k in ks:
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(X)
        fits[k] = km.labels_
        if len(np.unique(km.labels_)) < 2:
            scores[k] = float("nan")
        else:
            scores[k] = float(silhouette_score(X, km.labels_, sample_size=sample, random_state=seed))
        bar.update(1)
    return fits, scores


def _class_indices(labels: np.ndarray, cls, k_max: int) -> tuple[int, np.ndarray]:
    """``cls`` as an int and the indices of its points, checked to be enough for ``k_max`` subtypes."""
    if isinstance(cls, bool) or not isinstance(cls, (int, np.integer)):
        raise TypeError(f"cls must be an integer class index, got {cls!r}")
    cls = int(cls)
    indices = np.flatnonzero(labels == cls)
    if indices.size == 0:
        present = np.unique(labels).tolist()
        raise ValueError(f"class {cls} has no points in labels; classes present: {present}")
    need = MIN_POINTS_PER_CLUSTER * k_max
    if indices.size < need:
        raise ValueError(
            f"class {cls} has {indices.size} points but k_max={k_max} needs at least "
            f"{MIN_POINTS_PER_CLUSTER} * k_max = {need}; lower k_max or pass more points of the class"
        )
    return cls, indices


def _by_size(raw: np.ndarray, k: int) -> np.ndarray:
    """Cluster labels renumbered by decreasing size, so that subtype 0 is the largest (stable across seeds)."""
    order = np.argsort(-np.bincount(raw, minlength=k), kind="stable")
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    return rank[raw]


def find_subtypes(H, labels, cls, *, k_max=6, min_gain=MIN_GAIN, standardise=False, n_init=4, n_reference=3,
                  sample_size=2000, random_state=0, progress=False) -> Subtypes:
    """Look for subtypes (clusters) inside one class, in the activations of a layer.

    See the module docstring for the procedure: k-means for ``k = 2..k_max``, the ``k``
    with the best silhouette is kept only if that silhouette beats a Gaussian with the
    class's own mean and covariance by ``min_gain``; else ``k = 1``.

    Parameters
    ----------
    H : array-like of shape (n_samples, n_features)
        Activations of one layer (:func:`plsd_widget.activations.extract_activations`),
        raw pixels, or a 2-D embedding.
    labels : array-like of shape (n_samples,)
        Integer class of every row of ``H``.
    cls : int
        The class to split.
    k_max : int, default=6
        Largest number of subtypes tried (at least 2).
    min_gain : float, default=0.04
        How far the best silhouette must beat the Gaussian reference's at the same ``k``.
        Measured in ``benchmarks/subtypes.py``; raise it to call fewer classes split.
    standardise : bool, default=False
        Scale every feature of the class to unit variance first (features with no
        variance are left alone). Off by default: the layer's own geometry is what the
        classifier sees. The reference is drawn in the same (scaled) space.
    n_init : int, default=4
        k-means restarts per ``k``.
    n_reference : int, default=3
        Gaussian draws averaged for the reference silhouette.
    sample_size : int, default=2000
        Above this many points the silhouette is computed on a random sample of this size
        (and each Gaussian draw has this many points); k-means always uses all points.
    random_state : int, default=0
        Seed for k-means, the silhouette sample and the Gaussian draws.
    progress : bool, default=False
        Show a tqdm bar over the k-means fits.

    Returns
    -------
    Subtypes

    Raises
    ------
    ValueError
        If ``cls`` has no points, fewer than ``3 * k_max`` points, ``H`` holds NaN or inf,
        ``labels`` does not match ``H`` in length, or ``k_max < 2``.
    """
    k_max = _check_k_max(k_max)
    min_gain = _check_min_gain(min_gain)
    n_init = check_positive_int(n_init, "n_init")
    n_reference = check_positive_int(n_reference, "n_reference")
    sample_size = check_positive_int(sample_size, "sample_size")
    if sample_size < 2 * k_max:
        raise ValueError(f"sample_size must be at least 2 * k_max = {2 * k_max}, got {sample_size}; 2000 is a good default")
    H = as_float_array(H, "H")
    labels = as_labels(labels, len(H), "labels")
    cls, indices = _class_indices(labels, cls, k_max)

    X = H[indices]
    if standardise:
        sd = X.std(axis=0)
        X = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    rng = np.random.default_rng(random_state)
    seed = int(rng.integers(2**31 - 1))
    ks = list(range(2, k_max + 1))
    with progress_bar(len(ks) * (1 + n_reference), enabled=progress, desc=f"subtypes of class {cls}",
                      unit="fit") as bar:
        fits, silhouette = _silhouettes(X, ks, n_init, sample_size, seed, bar)
        n_ref = min(len(X), sample_size)
        ref_scores = {k: [] for k in ks}
        for _ in range(n_reference):
            R = _gaussian_like(X, n_ref, rng)
            _, scores = _silhouettes(R, ks, n_init, sample_size, int(rng.integers(2**31 - 1)), bar)
            for k in ks:
                ref_scores[k].append(scores[k])
    reference = {k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for k, v in ref_scores.items()}

    valid = [k for k in ks if np.isfinite(silhouette[k])]
    if not valid:  # every clustering collapsed: the class's points are (nearly) identical
        best, gain = 2, float("nan")
    else:
        best = max(valid, key=lambda k: silhouette[k])
        gain = silhouette[best] - reference[best]
    k = best if np.isfinite(gain) and gain >= min_gain else 1
    sub = np.zeros(len(indices), dtype=np.int64) if k == 1 else _by_size(fits[best], best)
    centroids = np.stack([H[indices[sub == j]].mean(axis=0) for j in range(k)]).astype(np.float32)
    return Subtypes(cls=cls, indices=indices, labels=sub, k=k, silhouette=silhouette, reference=reference,
                    gain=float(gain), best_k=best, centroids=centroids)


def find_all_subtypes(H, labels, *, classes=None, progress=False, **kwargs) -> dict:
    """Run :func:`find_subtypes` on every class.

    Parameters
    ----------
    H : array-like of shape (n_samples, n_features)
    labels : array-like of shape (n_samples,)
    classes : iterable of int, optional
        The classes to look into; default every class present in ``labels``.
    progress : bool, default=False
        Show a tqdm bar over the classes.
    **kwargs
        Passed to :func:`find_subtypes` (``k_max``, ``min_gain``, ``random_state``, ...).

    Returns
    -------
    dict of int to Subtypes
        Keyed by class, in ascending order.
    """
    H = as_float_array(H, "H")
    labels = as_labels(labels, len(H), "labels")
    classes = np.unique(labels).tolist() if classes is None else [int(c) for c in classes]
    kwargs.pop("progress", None)
    out = {}
    with progress_bar(len(classes), enabled=progress, desc="subtypes", unit="class") as bar:
        for c in classes:
            out[c] = find_subtypes(H, labels, c, **kwargs)
            bar.update()
    return out


def subtype_outlines(positions, subtypes: Subtypes, *, mass=0.8, grid_size=128, bandwidth="scott", extent=None):
    """Density contours of each subtype of a class in the 2-D embedding.

    Parameters
    ----------
    positions : array-like of shape (n_samples, 2)
        Embedded positions of *all* points (the rows ``H`` had), e.g. ``session.positions``
        or ``embedding.transform(H)``; the class's rows are picked by ``subtypes.indices``.
    subtypes : Subtypes
        From :func:`find_subtypes` on the same rows.
    mass : float in (0, 1), default=0.8
        Probability mass each subtype's contour encloses.
    grid_size : int, default=128
        KDE grid nodes per axis (:func:`plsd_widget.density.grid_densities`).
    bandwidth : "scott" or float, default="scott"
    extent : tuple of float, optional
        Grid extent; default the class's points' bounding box, padded.

    Returns
    -------
    list of list of ndarray of shape (m, 2), float32
        For each subtype ``0..k-1``, its closed polylines in data coordinates (last vertex
        equals the first), exactly like :func:`plsd_widget.contours.density_contours`, so
        ``plsd_widget.contours.pack_contours(outlines)`` gives the widget's vertex buffer,
        offsets and per-line subtype ids.
    """
    from plsd_widget.contours import density_contours

    if not isinstance(subtypes, Subtypes):
        raise TypeError(f"subtypes must be a Subtypes from find_subtypes, got {type(subtypes).__name__}")
    Y = as_float_array(positions, "positions")
    if Y.shape[1] != 2:
        raise ValueError(f"positions must have shape (n_samples, 2), got {Y.shape}; pass the 2-D embedding")
    if subtypes.indices.size and subtypes.indices.max() >= len(Y):
        raise ValueError(
            f"subtypes index rows up to {subtypes.indices.max()} but positions has {len(Y)} rows; "
            "pass the positions of the same points find_subtypes saw"
        )
    return density_contours(Y[subtypes.indices], subtypes.labels, level=mass, n_classes=subtypes.k,
                            grid_size=grid_size, bandwidth=bandwidth, extent=extent)
