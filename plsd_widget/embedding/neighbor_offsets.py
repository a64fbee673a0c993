"""Placing new points with the network plus the offset of a training neighbour.

With scheme "distil" the training points sit at the t-SNE layout, ``E(x_i) + o_i``,
not exactly where the network ``E`` puts them. A new point ``x`` is placed at
``E(x) + o_j``, where ``j`` is its nearest training point in input space among the
``N_CANDIDATES`` training points whose network positions ``E(x_i)`` are nearest to
``E(x)``. The network narrows the search to a few candidates (a 2-D k-d tree query by
:class:`~plsd_widget.neighbors.NeighborIndex`), so this costs ``N_CANDIDATES *
n_features`` operations per point, not a kNN search of the training set; a training
point finds itself, so it lands on its layout position.

Why: the network alone puts some new points in a region of the wrong class that
their input-space neighbours are not in. On MNIST (PCA-50, ``benchmarks/RESULTS.md``)
borrowing the offset lifted the 10-NN accuracy of the 10,000 embedded test images
from 0.928-0.935 (the network alone) to 0.940-0.941 at 20,000 training points
(openTSNE's transform: 0.946-0.947) and from 0.962 to 0.966 at 60,000 (openTSNE:
0.962), for about 20 ms per 10,000 points on 2 CPU cores.
"""

from __future__ import annotations

import numpy as np

from plsd_widget.embedding.lazy_kernel import LazyKernel
from plsd_widget.neighbors import NeighborIndex

__all__ = ["N_CANDIDATES", "OffsetLookup", "warm_up"]

#: Training points (nearest to ``E(x)`` in the embedding) searched for ``x``'s nearest one.
#: Exploring on 20k MNIST points (three seeds): 8 gave a test accuracy of 0.942-0.945, 16 gave
#: 0.943-0.945 and 32 no more, while the k-d tree query took 10, 14 and 30 ms per 10,000 points.
N_CANDIDATES = 16


def _compile():
    import numba

    @numba.njit(parallel=True, cache=True)
    def kernel(X_query, X_ref, candidates, out):  # pragma: no cover - compiled
        for q in numba.prange(X_query.shape[0]):
            best = candidates[q, 0]
            best_d = np.inf
            for m in range(candidates.shape[1]):
                c = candidates[q, m]
                d = 0.0
                for f in range(X_query.shape[1]):
                    diff = X_query[q, f] - X_ref[c, f]
                    d += diff * diff
                if d < best_d:
                    best_d = d
                    best = c
            out[q] = best

    return kernel


#: Compiled (or loaded from numba's cache) on first use, or ahead of it by
#: :mod:`~plsd_widget.embedding.warm_up`.
_kernel = LazyKernel(_compile)


def _kernel_arguments(X_query, X_ref, candidates) -> tuple:
    """The kernel's arguments, the output array included, as numpy arrays in the layout it is compiled for."""
    return (np.ascontiguousarray(X_query, dtype=np.float32), X_ref,
            np.ascontiguousarray(candidates, dtype=np.int64), np.empty(len(X_query), dtype=np.int64))


def warm_up() -> None:
    """Compile the kernel for the arrays :meth:`OffsetLookup.nearest` passes, or load it from numba's cache."""
    X = np.zeros((1, 1), dtype=np.float32)
    _kernel.compile_for(*_kernel_arguments(X, X, np.zeros((1, 1))))


class OffsetLookup:
    """Borrow training points' offsets for new points (see the module docstring).

    Parameters
    ----------
    X_ref : ndarray of shape (n_ref, n_features)
        The training points' inputs.
    Y_ref : ndarray of shape (n_ref, n_components)
        Where the network puts them, ``E(X_ref)``.
    offsets : ndarray of shape (n_ref, n_components)
        Their offsets: their shown positions minus ``Y_ref``.
    n_candidates : int, default=N_CANDIDATES
        How many training points, nearest to a new point's ``E(x)``, are compared
        with it in input space.
    """

    def __init__(self, X_ref: np.ndarray, Y_ref: np.ndarray, offsets: np.ndarray,
                 n_candidates: int = N_CANDIDATES):
        if not len(X_ref) == len(Y_ref) == len(offsets):
            raise ValueError(f"X_ref, Y_ref and offsets need one row per training point, got "
                             f"{len(X_ref)}, {len(Y_ref)} and {len(offsets)} rows")
        self.X_ref = np.ascontiguousarray(X_ref, dtype=np.float32)
        self.offsets = np.asarray(offsets, dtype=np.float32)
        self.n_candidates = int(min(n_candidates, len(X_ref)))
        self._index = NeighborIndex(Y_ref)

    def nearest(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Index of each new point's nearest training point among its candidates, shape (n,)."""
        candidates, _ = self._index.query(Y, self.n_candidates, exclude_self=False)
        X, X_ref, candidates, out = _kernel_arguments(X, self.X_ref, candidates)
        _kernel(X, X_ref, candidates, out)
        return out

    def __call__(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Positions ``Y + offsets[nearest]`` of new points with inputs ``X`` and network positions ``Y``."""
        return (Y + self.offsets[self.nearest(X, Y)]).astype(np.float32)
