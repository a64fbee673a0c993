"""Comparing saliency maps: per-sample rank correlation (the randomisation sanity check) and mean maps."""

from __future__ import annotations

import numpy as np

from plsd_widget._validation import to_numpy


def _as_maps(maps, name: str) -> np.ndarray:
    M = np.asarray(to_numpy(maps), dtype=np.float64)
    if M.ndim < 1 or M.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n_samples, ...) with at least one sample, got {M.shape}")
    if not np.isfinite(M).all():
        raise ValueError(f"{name} contains NaN or inf")
    return M.reshape(M.shape[0], -1)


def rank_correlation(maps_a, maps_b) -> np.ndarray:
    """Spearman rank correlation of each sample's flattened map in ``maps_a`` with its map in ``maps_b``.

    Ties get their average rank. A sample whose map is constant in either set (e.g.
    all zero) has no rank order, and its correlation is NaN; use ``np.nanmean`` to
    average.

    Parameters
    ----------
    maps_a, maps_b : array-like of the same shape (n_samples, ...)

    Returns
    -------
    ndarray of shape (n_samples,), float64, in [-1, 1] (or NaN)
    """
    from scipy.stats import rankdata

    A, B = _as_maps(maps_a, "maps_a"), _as_maps(maps_b, "maps_b")
    if np.shape(maps_a) != np.shape(maps_b):
        raise ValueError(f"maps_a and maps_b must have the same shape, got {np.shape(maps_a)} and "
                         f"{np.shape(maps_b)}")
    if A.shape[1] < 2:
        raise ValueError(f"maps need at least 2 values per sample to rank, got {A.shape[1]}")
    ra = rankdata(A, axis=1)
    rb = rankdata(B, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    num = (ra * rb).sum(axis=1)
    den = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return np.clip(r, -1.0, 1.0)


def mean_map(maps, *, normalize: bool = False) -> np.ndarray:
    """Average map of a selection of samples.

    Parameters
    ----------
    maps : array-like of shape (n_samples, ...)
    normalize : bool, default=False
        Divide each map by its largest absolute value first, so every sample weighs
        the same whatever its gradient's scale (all-zero maps stay zero).

    Returns
    -------
    ndarray of shape ``maps.shape[1:]``, float64
    """
    shape = np.shape(maps)
    M = _as_maps(maps, "maps")
    if normalize:
        peak = np.abs(M).max(axis=1, keepdims=True)
        M = M / np.where(peak > 0, peak, 1.0)
    return M.mean(axis=0).reshape(shape[1:])
