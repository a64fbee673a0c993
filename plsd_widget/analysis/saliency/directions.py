"""Directions in the 2-D view: between two classes, or toward a target (e.g. where a drag put points)."""

from __future__ import annotations

import numpy as np

from plsd_widget._validation import to_numpy


def _check_positions(positions, name: str = "positions") -> np.ndarray:
    try:
        P = np.asarray(to_numpy(positions),
                       dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array of shape (n_points, 2), got {type(positions).__name__}") \
            from exc
    if P.ndim != 2 or P.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n_points, 2), got {P.shape}")
    if P.shape[0] == 0:
        raise ValueError(f"{name} is empty; pass at least one point")
    if not np.isfinite(P).all():
        raise ValueError(f"{name} contains NaN or inf")
    return P


def _centre(P: np.ndarray, center: str) -> np.ndarray:
    if center == "mean":
        return P.mean(axis=0)
    if center == "median":
        return np.median(P, axis=0)
    raise ValueError(f"center must be 'mean' or 'median', got {center!r}")


def _unit(v: np.ndarray, what: str) -> np.ndarray:
    norm = float(np.hypot(*v))
    if not np.isfinite(norm) or norm == 0:
        raise ValueError(f"{what} coincide, so there is no direction between them")
    return v / norm


def direction_between(positions, labels, a, b, *, center: str = "mean") -> np.ndarray:
    """Unit 2-vector from the centre of class ``a``'s points to the centre of class ``b``'s.

    Parameters
    ----------
    positions : array-like of shape (n_points, 2)
        Points in the 2-D view (e.g. ``ParametricTSNE.transform`` of the activations).
    labels : array-like of shape (n_points,)
        Class (or cluster) of each point; any values comparable with ``a`` and ``b``.
    a, b
        The classes to go from and to.
    center : {"mean", "median"}, default="mean"
        Centroid, or the coordinate-wise median (robust to outliers).

    Returns
    -------
    ndarray of shape (2,)
        Unit vector, float64.
    """
    P = _check_positions(positions)
    labels = np.asarray(to_numpy(labels))
    if labels.shape != (P.shape[0],):
        raise ValueError(f"labels must have shape ({P.shape[0]},), one per point; got {labels.shape}")
    centres = []
    for name, cls in (("a", a), ("b", b)):
        mask = labels == cls
        if not np.any(mask):
            present = np.unique(labels)
            shown = ", ".join(map(repr, present[:20].tolist())) + (", ..." if present.size > 20 else "")
            raise ValueError(f"class {name}={cls!r} has no points; classes present: {shown}")
        centres.append(_centre(P[mask], center))
    return _unit(centres[1] - centres[0], f"the centres of classes {a!r} and {b!r}")


def direction_towards(positions, target, *, center: str = "mean", per_point: bool = False) -> np.ndarray:
    """Unit direction(s) from a selection of points toward a target point of the 2-D view.

    For a drag: "what would move these points toward where the user dropped them".

    Parameters
    ----------
    positions : array-like of shape (n_points, 2)
        The selected points.
    target : array-like of shape (2,)
        The target point, e.g. where the selection was dragged to.
    center : {"mean", "median"}, default="mean"
        Centre of the selection the single direction starts from.
    per_point : bool, default=False
        ``False``: one unit vector from the selection's centre to ``target`` (a drag
        moves the selection as a whole). ``True``: one unit vector per point, from
        the point to ``target``, for ``directional_saliency``'s per-sample directions.

    Returns
    -------
    ndarray of shape (2,), or (n_points, 2) with ``per_point=True``
        Unit vectors, float64.
    """
    P = _check_positions(positions)
    t = np.asarray(to_numpy(target), dtype=np.float64)
    if t.shape != (2,) or not np.isfinite(t).all():
        raise ValueError(f"target must be a finite 2-D point of shape (2,), got {target!r}")
    if not per_point:
        return _unit(t - _centre(P, center), "the selection's centre and the target")
    V = t - P
    norms = np.hypot(V[:, 0], V[:, 1])
    if (norms == 0).any():
        raise ValueError(f"point(s) {np.flatnonzero(norms == 0)[:5].tolist()} lie on the target, so they have "
                         "no direction toward it; leave them out")
    return V / norms[:, None]


# ---------------------------------------------------------- comparing maps
