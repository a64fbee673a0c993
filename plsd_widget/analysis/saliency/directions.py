"""Directions in the 2-D view: between two classes or selections, or toward a target (e.g. where a drag put points).

Every direction points *from* its first argument *to* its second (from ``a``'s centre
to ``b``'s, from a selection to its target), so the directional saliency along it is
positive for what moves a point toward ``b`` (see
:func:`~plsd_widget.analysis.saliency.directional_saliency`).
"""

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


def _selection(selection, n: int, name: str) -> np.ndarray:
    """``selection`` (indices or a boolean mask over ``n`` points) as a boolean mask; refused when empty."""
    sel = np.asarray(to_numpy(selection))
    if sel.dtype == bool:
        if sel.shape != (n,):
            raise ValueError(f"{name} as a boolean mask must have shape ({n},), one per point; got {sel.shape}")
        mask = sel
    else:
        if sel.size == 0:
            raise ValueError(f"{name} is an empty selection; select at least one point")
        if sel.ndim != 1 or not np.issubdtype(sel.dtype, np.integer):
            raise ValueError(f"{name} must be a 1-D array of point indices or a boolean mask of shape ({n},), "
                             f"got {sel.dtype} of shape {sel.shape}")
        if sel.min() < 0 or sel.max() >= n:
            raise ValueError(f"{name} holds indices outside [0, {n - 1}]")
        mask = np.zeros(n, bool)
        mask[sel] = True
    if not mask.any():
        raise ValueError(f"{name} is an empty selection; select at least one point")
    return mask


def direction_between(positions, labels, a, b, *, center: str = "mean") -> np.ndarray:
    """Unit 2-vector from the centre of class ``a``'s points to the centre of class ``b``'s.

    Passed to :func:`~plsd_widget.analysis.saliency.directional_saliency`, it gives
    what moves a point *from a toward b*: positive values are features whose increase
    moves the point toward ``b`` (the gradient of ``<Y, c_b - c_a>``, ``c`` the centres).

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

    Raises
    ------
    ValueError
        For ``a == b``, a class with no points (the message lists those present), or two
        classes whose centres coincide.

    See Also
    --------
    direction_between_selections : the same between two selections of points.
    """
    P = _check_positions(positions)
    labels = np.asarray(to_numpy(labels))
    if labels.shape != (P.shape[0],):
        raise ValueError(f"labels must have shape ({P.shape[0]},), one per point; got {labels.shape}")
    if np.array_equal(a, b):
        raise ValueError(f"a and b are the same class ({a!r}); pass two different classes")
    centres = []
    for name, cls in (("a", a), ("b", b)):
        mask = labels == cls
        if not np.any(mask):
            present = np.unique(labels)
            shown = ", ".join(map(repr, present[:20].tolist())) + (", ..." if present.size > 20 else "")
            raise ValueError(f"class {name}={cls!r} has no points; classes present: {shown}")
        centres.append(_centre(P[mask], center))
    return _unit(centres[1] - centres[0], f"the centres of classes {a!r} and {b!r}")


def direction_between_selections(positions, a, b, *, center: str = "mean") -> np.ndarray:
    """Unit 2-vector from the centre of selection ``a`` to the centre of selection ``b``.

    For two groups that are not classes: two clusters picked by hand, two subtypes,
    the misclassified and the correct points of a class. Same sign as
    :func:`direction_between`: from ``a`` toward ``b``.

    Parameters
    ----------
    positions : array-like of shape (n_points, 2)
        Points in the 2-D view.
    a, b : array-like of int of shape (k,), or of bool of shape (n_points,)
        The selections to go from and to: point indices or boolean masks.
    center : {"mean", "median"}, default="mean"
        Centroid, or the coordinate-wise median.

    Returns
    -------
    ndarray of shape (2,)
        Unit vector, float64.

    Raises
    ------
    ValueError
        For an empty selection, indices outside the points, two identical selections,
        or two selections whose centres coincide.
    """
    P = _check_positions(positions)
    mask_a, mask_b = _selection(a, P.shape[0], "a"), _selection(b, P.shape[0], "b")
    if np.array_equal(mask_a, mask_b):
        raise ValueError("a and b select the same points; pass two different selections")
    return _unit(_centre(P[mask_b], center) - _centre(P[mask_a], center), "the centres of selections a and b")


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

