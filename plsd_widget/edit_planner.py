"""Plan edits that move classes into empty space of the embedding (the paper's guideline, automated)."""

from __future__ import annotations

import numpy as np

from plsd_widget.edits import EditLog, make_edit
from plsd_widget.neighbors import neighbors


def plan_edits(positions, labels, classes, *, kappa=0.5, shift=True, shift_factor=1.0, margin=0.05,
               grid=120):
    """Contract each class by ``kappa`` and shift it to the nearest empty spot of the embedding.

    The paper's guideline for edits, automated: separate confused classes by moving them
    into empty space, not on top of other classes. Used by the headless demo's scripted
    edit and by ``benchmarks/paper_table.py``.

    For each class in turn: its radius after contraction ``r`` is the 90th percentile of
    its points' distances to the centroid times ``1 − kappa``; candidate centroids lie on
    a ``grid × grid`` lattice over the embedding's bounding box grown by 15 % per side;
    a candidate is free when no point of another class (edited or not: a class stays
    where it is until fine-tuning moves it, and the view's crowding warning reads it
    there), and no target already placed, lies within ``r + margin · extent``. The
    nearest free candidate wins (the one with most clearance if none is free).
    ``shift_factor`` scales the shift.

    Parameters
    ----------
    positions : array-like of shape (n_samples, 2)
    labels : array-like of shape (n_samples,)
    classes : sequence of int
        The classes to move, placed in this order.
    kappa : float, default=0.5
        Contraction toward each class's centroid (Eq. 2); 0 contracts nothing.
    shift : bool, default=True
        False: contract only.
    shift_factor : float, default=1.0
    margin : float, default=0.05
        Extra clearance, as a share of the embedding's extent.
    grid : int, default=120
        Candidate destinations per axis.

    Returns
    -------
    log : EditLog
    description : list of dict
        Per class: ``class``, ``kappa``, ``delta``, ``clearance_ok``.
    """
    Y = np.asarray(positions, dtype=np.float64)
    labels = np.asarray(labels)
    n = len(Y)
    extent = np.ptp(Y, axis=0)
    lo, hi = Y.min(0) - 0.15 * extent, Y.max(0) + 0.15 * extent
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid))
    candidates = np.c_[gx.ravel(), gy.ravel()]
    log = EditLog(positions)
    placed = np.zeros(n, dtype=bool)
    description = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        occupied = np.vstack([Y[labels != c], log.targets()[placed & (labels != c)]])
        pts = Y[idx]
        centre = pts.mean(0)
        if kappa:
            log.add(make_edit("contract", idx, n, kappa=kappa, label=str(c)))
        delta = np.zeros(2)
        ok = True
        if shift:
            radius = np.quantile(np.linalg.norm(pts - centre, axis=1), 0.9) * (1 - kappa)
            clearance = (neighbors(occupied, candidates, k=1)[1][:, 0] if len(occupied)
                         else np.full(len(candidates), np.inf))  # a single class: all of it is free
            free = clearance >= radius + margin * extent.max()
            ok = bool(free.any())
            dest = (candidates[free][np.argmin(np.linalg.norm(candidates[free] - centre, axis=1))] if ok
                    else candidates[np.argmax(clearance)])
            delta = (dest - centre) * shift_factor
            log.add(make_edit("shift", idx, n, delta=tuple(delta), label=str(c)))
        placed[idx] = True
        description.append({"class": int(c), "kappa": float(kappa), "delta": [round(float(d), 2) for d in delta],
                            "clearance_ok": ok})
    return log, description
