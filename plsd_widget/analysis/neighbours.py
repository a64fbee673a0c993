"""Similar images: the k nearest neighbours of points in a latent space.

:class:`NeighbourIndex` indexes a set of points (activations of a layer, an
embedding, raw pixels) and answers k-nearest-neighbour queries, exactly by a
chunked matrix product up to a work budget (:data:`EXACT_MAX_WORK`) and with
pynndescent above it. :func:`neighbours` is the one-call convenience.

The exact search computes ``||x||^2 - 2 q.x`` for a chunk of queries against all
points with one float32 matrix product (the query's own norm is constant along a
row and does not change the ranking), on data centred on the indexed points' mean
so the norms stay small. It then keeps the candidates without sorting whole rows:
the columns of a row are split into ``g`` strided groups, the groups with the
smallest minima are found first (the k smallest values of a row always lie in the
k groups with the smallest minima), and only those groups' members are ranked.
The few surviving candidates (``k`` plus a margin) get their distances recomputed
directly from the coordinate differences, so the ``||q||^2 + ||x||^2 - 2 q.x``
cancellation never reaches the returned distances or their order.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

from plsd_widget._validation import as_float_array, check_positive_int, first_rows
from plsd_widget.progress import progress_bar

__all__ = ["EXACT_MAX_WORK", "NeighbourIndex", "neighbours"]

logger = logging.getLogger(__name__)

#: Exact search is used while ``n_queries * n_samples * n_features`` stays within
#: this budget, pynndescent above. Exact search of 10,000 queries against 60,000
#: points of 32 features (1.9e10) takes about 0.5 s on an idle 2-core CPU, so the
#: budget is about 10-20 s of exact search; pynndescent pays 30-50 s of numba
#: compilation the first time it runs in a fresh install (see
#: ``plsd_widget.embedding.affinity.EXACT_KNN_MAX_WORK``, the same budget).
EXACT_MAX_WORK = 4e11
#: Rows whose variance along a principal axis is below this fraction of the largest
#: are dropped by ``whiten=True`` (whitening them would blow rounding noise up).
WHITEN_RTOL = 1e-6
#: Float32 entries of one chunk of the query-by-points distance matrix (64 MB).
_CHUNK_ENTRIES = 16_000_000
_METRICS = ("euclidean", "cosine")


def _margin(k: int) -> int:
    """Extra candidates kept before the exact re-ranking (guards against rounding)."""
    return max(4, k // 2)


def _group_size(n: int, kc: int) -> int:
    """Strided group size: balances the group-minimum top-k against the candidates ranked."""
    return int(min(32, max(1, math.isqrt(max(1, n // max(kc, 1))))))


class NeighbourIndex:
    """An index of points for k-nearest-neighbour queries.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points to index (finite values only).
    metric : {"euclidean", "cosine"}, default="euclidean"
        ``"cosine"`` ranks by cosine distance ``1 - cos(q, x)``: rows are scaled to
        unit length (after any PCA/whitening), and a row that is all zeros (in ``X``
        or in a query) raises a ``ValueError``, since its direction is undefined.
    whiten : bool, default=False
        PCA-whiten: centre on the mean of ``X``, rotate onto its principal axes and
        scale each axis to unit variance (fitted on ``X``, applied to queries). Axes
        with variance below ``WHITEN_RTOL`` times the largest are dropped.
    n_components : int or None, default=None
        Keep only the first ``n_components`` principal axes (whitened or not). The
        neighbours are then exact in that subspace.
    exact_max : float, default=EXACT_MAX_WORK
        Exact search while ``n_queries * n_samples * n_features <= exact_max``,
        pynndescent above. ``0`` always uses pynndescent, ``float("inf")`` never.
    random_state : int, default=0
        Seed for pynndescent.
    progress : bool, default=False
        Show a tqdm bar over the query chunks (and pynndescent's log).

    Attributes
    ----------
    n_samples_, n_features_in_ : int
        Shape of ``X``.
    data_ : ndarray of shape (n_samples, n_components_)
        The indexed points after the transform (centred, rotated, whitened or
        normalised as asked); distances are measured between these.

    Examples
    --------
    >>> index = NeighbourIndex(H)                         # doctest: +SKIP
    >>> idx, dist = index.query(k=5)                      # each point's 5 neighbours, itself excluded
    >>> idx, dist = index.query(H_new, k=5)               # neighbours of new points
    """

    def __init__(self, X, *, metric="euclidean", whiten=False, n_components=None, exact_max=EXACT_MAX_WORK,
                 random_state=0, progress=False):
        X = as_float_array(X, "X")
        if metric not in _METRICS:
            raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}")
        if not isinstance(whiten, (bool, np.bool_)):
            raise TypeError(f"whiten must be True or False, got {whiten!r}")
        n, d = X.shape
        if n_components is not None:
            n_components = check_positive_int(n_components, "n_components")
            if n_components > d:
                raise ValueError(f"n_components={n_components} exceeds the {d} features of X; use at most {d}")
        try:
            exact_max = float(exact_max)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"exact_max must be a number >= 0, got {exact_max!r}") from exc
        if math.isnan(exact_max) or exact_max < 0:
            raise ValueError(f"exact_max must be a number >= 0 (or inf), got {exact_max!r}")
        self.metric, self.whiten, self.n_components = metric, bool(whiten), n_components
        self.exact_max, self.random_state, self.progress = exact_max, random_state, bool(progress)
        self.n_samples_, self.n_features_in_ = n, d
        self._mean = X.astype(np.float64).mean(axis=0)
        self._proj = None  # (d, c) float64 projection after centring, or None
        if self.whiten or n_components is not None:
            Xc = X.astype(np.float64) - self._mean
            cov = Xc.T @ Xc / max(n - 1, 1)
            evals, evecs = np.linalg.eigh(cov)
            order = np.argsort(evals)[::-1]
            evals, evecs = evals[order], evecs[:, order]
            keep = d if n_components is None else n_components
            if self.whiten:
                ok = evals > WHITEN_RTOL * max(evals[0], 0.0)
                if not ok.any():
                    raise ValueError("X has no variance (all rows are equal); whiten=True is undefined for it")
                keep = min(keep, int(ok.sum()))
                evecs = evecs[:, :keep] / np.sqrt(evals[:keep])
            else:
                evecs = evecs[:, :keep]
            self._proj = evecs
        self.data_ = self._transform(X, "X")
        # Centre once more so the norms in ||x||^2 - 2 q.x stay small (no-op when already centred).
        self._centre = self.data_.astype(np.float64).mean(axis=0).astype(np.float32)
        self._nnd = None
        self._nnd_k = 0

    # ------------------------------------------------------------------ transforms
    def _transform(self, A: np.ndarray, name: str) -> np.ndarray:
        if self._proj is not None:
            A = ((A.astype(np.float64) - self._mean) @ self._proj).astype(np.float32)
        if self.metric == "cosine":
            norms = np.linalg.norm(A.astype(np.float64), axis=1)
            zero = norms == 0
            if zero.any():
                rows = np.flatnonzero(zero)
                raise ValueError(
                    f"{name} has {rows.size} all-zero row(s) (rows {first_rows(rows)}) after the transform; "
                    "cosine distance is undefined for them: drop those rows or use metric='euclidean'"
                )
            A = (A / norms[:, None]).astype(np.float32)
        return np.ascontiguousarray(A, dtype=np.float32)

    def transform(self, Q) -> np.ndarray:
        """Map query points into the indexed space (PCA/whitening, unit rows for cosine).

        Parameters
        ----------
        Q : array-like of shape (n_queries, n_features_in_)

        Returns
        -------
        ndarray of shape (n_queries, n_components_), float32
        """
        Q = as_float_array(Q, "Q")
        if Q.shape[1] != self.n_features_in_:
            raise ValueError(
                f"Q has {Q.shape[1]} features but the index was built on {self.n_features_in_}; "
                "pass activations of the same layer"
            )
        return self._transform(Q, "Q")

    # ------------------------------------------------------------------ queries
    def query(self, Q=None, k=10, *, exclude_self=None):
        """Return the ``k`` nearest indexed points of each query, nearest first.

        Parameters
        ----------
        Q : array-like of shape (n_queries, n_features_in_) or None, default=None
            Query points; None queries the indexed points themselves.
        k : int, default=10
            Neighbours per query: at most ``n_samples`` (``n_samples - 1`` when a
            point is excluded from its own list).
        exclude_self : bool, array-like of int of shape (n_queries,) or None, default=None
            None means True when ``Q`` is None, False otherwise. True leaves indexed
            point ``i`` out of query ``i``'s list (by index, so exact duplicates of
            it are still found); with ``Q`` given that needs ``n_queries ==
            n_samples``. An int array gives, for each query, the index of the point
            to leave out (-1 for none), e.g. when the queries are indexed points.

        Returns
        -------
        indices : ndarray of shape (n_queries, k), int64
        distances : ndarray of shape (n_queries, k), float32
            Euclidean distances (in the transformed space), or cosine distances
            ``1 - cos`` for ``metric="cosine"``; ascending, ties broken by index.
        """
        n = self.n_samples_
        Qt = self.data_ if Q is None else self.transform(Q)
        m = Qt.shape[0]
        if exclude_self is None:
            exclude_self = Q is None
        if isinstance(exclude_self, (bool, np.bool_)):
            if exclude_self and m != n:
                raise ValueError(
                    f"exclude_self=True needs one query per indexed point ({n}), got {m} queries; pass an int "
                    "array with the index to leave out of each query's list (-1 for none) instead"
                )
            excl = np.arange(n, dtype=np.int64) if exclude_self else None
        else:
            excl = np.asarray(exclude_self)
            if excl.shape != (m,) or not np.issubdtype(excl.dtype, np.integer):
                raise ValueError(
                    f"exclude_self must be a bool or an int array of shape ({m},), got "
                    f"{type(exclude_self).__name__} of shape {excl.shape}"
                )
            if excl.size and (excl.min() < -1 or excl.max() >= n):
                raise ValueError(f"exclude_self indices must be in [-1, {n - 1}], got values in "
                                 f"[{excl.min()}, {excl.max()}]")
            excl = excl.astype(np.int64)
        k = check_positive_int(k, "k")
        limit = n - 1 if excl is not None and (excl >= 0).any() else n
        if k > limit:
            why = " (each query leaves one point out)" if limit < n else ""
            raise ValueError(f"k={k} is too large for an index of {n} points{why}; use at most {limit}")
        if m == 0:
            return np.empty((0, k), np.int64), np.empty((0, k), np.float32)
        work = float(m) * n * Qt.shape[1]
        if work <= self.exact_max:
            cand = self._exact_candidates(Qt, k, excl)
        else:
            cand = self._ann_candidates(Qt, k, excl)
        return self._rerank(Qt, cand, k, excl)

    def _exact_candidates(self, Qt: np.ndarray, k: int, excl) -> np.ndarray:
        n, d = self.data_.shape
        m = Qt.shape[0]
        n_excl = 1 if excl is not None else 0
        kc = min(n - n_excl, k + _margin(k)) if n - n_excl >= k else k
        g = _group_size(n, kc)
        ng = -(-n // g)
        n_pad = ng * g
        X = torch.from_numpy(self.data_ - self._centre)
        Xa = torch.zeros(n_pad, d + 1)
        Xa[:n, :d] = X * -2.0
        Xa[:n, d] = (X * X).sum(1)
        Xa[n:, d] = float("inf")  # padding never wins
        XaT = Xa.T  # a transposed view: BLAS reads Xa row-major (3x faster than a contiguous copy here)
        Q = torch.from_numpy(Qt - self._centre)
        cs = int(max(1, min(256, _CHUNK_ENTRIES // n_pad)))
        buf = torch.empty(cs, n_pad)
        qa = torch.ones(cs, d + 1)
        out = np.empty((m, kc), np.int64)
        offsets = torch.arange(g) * ng
        ex = None if excl is None else torch.from_numpy(excl)
        with progress_bar(m, enabled=self.progress, desc="NeighbourIndex (exact)", unit="query") as bar:
            for s in range(0, m, cs):
                e = min(m, s + cs)
                r = e - s
                qa[:r, :d] = Q[s:e]
                D = buf[:r]
                torch.mm(qa[:r], XaT, out=D)
                if ex is not None:
                    rows = torch.nonzero(ex[s:e] >= 0).flatten()
                    D[rows, ex[s:e][rows]] = float("inf")
                if g > 1:
                    gmin = D.view(r, g, ng).amin(1)  # group j = columns {j + ng * t}
                    gi = torch.topk(gmin, min(kc, ng), 1, largest=False, sorted=False).indices
                    cand = (gi[:, :, None] + offsets).reshape(r, -1)
                    cv = torch.gather(D, 1, cand)
                    j = torch.topk(cv, kc, 1, largest=False, sorted=False).indices
                    cand = torch.gather(cand, 1, j)
                else:
                    cand = torch.topk(D, kc, 1, largest=False, sorted=False).indices
                out[s:e] = cand.numpy()
                bar.update(r)
        return out

    def _ann_candidates(self, Qt: np.ndarray, k: int, excl) -> np.ndarray:
        from pynndescent import NNDescent

        n = self.n_samples_
        kq = min(n, k + _margin(k) + (1 if excl is not None else 0))
        same = Qt is self.data_
        if self._nnd is None or (same and self._nnd_k < kq):
            seed = int(np.random.default_rng(self.random_state).integers(2**31 - 1))
            self._nnd = NNDescent(self.data_, metric="euclidean", n_neighbors=max(kq, 15 if n > 15 else kq),
                                  random_state=seed, verbose=self.progress)
            self._nnd_k = max(kq, 15 if n > 15 else kq)
        if same:  # the graph built with the index already holds every point's neighbours
            idx = self._nnd.neighbor_graph[0][:, :kq]
        else:
            idx = self._nnd.query(Qt, k=kq)[0]
        return np.asarray(idx, dtype=np.int64)

    def _rerank(self, Qt: np.ndarray, cand: np.ndarray, k: int, excl):
        """Exact distances of the candidates, computed from differences; sorted by (distance, index)."""
        cand = cand.copy()
        valid = (cand >= 0) & (cand < self.n_samples_)
        if excl is not None:
            valid &= cand != excl[:, None]
        # Duplicate candidates (pynndescent can repeat one) count once.
        order = np.argsort(cand, axis=1, kind="stable")
        cand = np.take_along_axis(cand, order, 1)
        valid = np.take_along_axis(valid, order, 1)
        valid[:, 1:] &= cand[:, 1:] != cand[:, :-1]
        safe = np.where(valid, cand, 0)
        d2 = np.empty(cand.shape, np.float32)
        step = max(1, 4_000_000 // (cand.shape[1] * Qt.shape[1] + 1))
        for s in range(0, len(cand), step):
            diff = self.data_[safe[s:s + step]] - Qt[s:s + step, None, :]
            d2[s:s + step] = np.einsum("ijk,ijk->ij", diff, diff)
        d2[~valid] = np.inf
        order = np.argsort(d2, axis=1, kind="stable")[:, :k]  # candidates are sorted by index: ties by index
        idx = np.take_along_axis(cand, order, 1)
        d2 = np.take_along_axis(d2, order, 1)
        if np.isinf(d2).any():
            raise RuntimeError("pynndescent returned fewer than k distinct neighbours for some queries; "
                               "raise exact_max to search exactly")
        dist = d2 / 2 if self.metric == "cosine" else np.sqrt(d2)
        return idx.astype(np.int64), dist.astype(np.float32)


def neighbours(X, Q=None, k=10, **kw):
    """The ``k`` nearest neighbours in ``X`` of the queries ``Q`` (or of every point of ``X``).

    Builds a :class:`NeighbourIndex` of ``X`` and queries it once.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    Q : array-like of shape (n_queries, n_features) or None, default=None
        None: each point of ``X`` is a query and is left out of its own list.
    k : int, default=10
    **kw
        ``exclude_self`` goes to :meth:`NeighbourIndex.query`; everything else
        (``metric``, ``whiten``, ``n_components``, ``exact_max``, ``random_state``,
        ``progress``) to :class:`NeighbourIndex`.

    Returns
    -------
    indices : ndarray of shape (n_queries, k), int64
    distances : ndarray of shape (n_queries, k), float32
    """
    exclude_self = kw.pop("exclude_self", None)
    return NeighbourIndex(X, **kw).query(Q, k, exclude_self=exclude_self)
