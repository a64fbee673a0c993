"""Nearest neighbours: the package's one k-nearest-neighbour engine.

:class:`NeighborIndex` indexes points (a layer's activations, an embedding, raw pixels)
and answers k-nearest-neighbour queries; :func:`neighbors` is the one-call form. The
t-SNE affinities, the latent-space neighbours, the offsets of new points, the embedding
metrics, the declutter measures and the edit planner all search through it.
``method="auto"`` picks the search by dimension and size:

- up to :data:`TREE_MAX_FEATURES` features (2-D embeddings): a k-d tree (scipy), exact;
- more, while ``n_queries * n_samples * n_features <= EXACT_MAX_WORK``: exact search by a
  chunked matrix product with torch, on the CPU or a CUDA device;
- above that budget: pynndescent (approximate).

The exact search (:mod:`plsd_widget._exact_neighbors`) ranks candidates by a float32
matrix product and picks the nearest by float64 distances from the coordinate
differences; it gives the neighbours of a float64 brute-force search.

Every search returns neighbours nearest first, ties broken by index. Importing this
module loads neither torch nor numba: the exact search imports torch, the approximate
one pynndescent.
"""

from __future__ import annotations

import numpy as np

from plsd_widget._validation import as_float_array, check_positive_int, first_rows
from plsd_widget.config import RANDOM_STATE

__all__ = ["EXACT_MAX_WORK", "METHODS", "NeighborIndex", "TREE_MAX_FEATURES", "check_k", "neighbors"]

#: Exact search while ``n_queries * n_samples * n_features`` stays within this budget,
#: pynndescent above: about 89,000 points of 50 features searching each other. All 60,000
#: MNIST PCA-50 points' 150 neighbours (1.8e11) took 23 s on the busy 2-core machine
#: (``benchmarks/knn_engine.py``), while pynndescent pays 30-50 s of numba compilation the
#: first time it runs in a process.
EXACT_MAX_WORK = 4e11
#: Data with at most this many features is searched with a k-d tree (exact). All 60,000
#: points' 10 neighbours on the busy 2-core machine: 0.27 s by the tree at 2-D; at 6-D
#: 2.2-2.7 s by the tree and 5.5-6.5 s by the matrix product; at 8-D they are even.
TREE_MAX_FEATURES = 6
#: Axes whose variance is below this fraction of the largest are dropped by
#: ``whiten=True`` (whitening them would blow rounding noise up).
WHITEN_RTOL = 1e-6
METHODS = ("auto", "exact", "pynndescent")
METRICS = ("euclidean", "cosine")


def check_k(k, n_samples: int) -> int:
    """``k`` as an int, checked to leave every point ``k`` others: ``1 <= k < n_samples``."""
    k = check_positive_int(k, "k")
    if k >= n_samples:
        raise ValueError(f"k={k} needs at least {k + 1} samples, got {n_samples}; lower k")
    return k


def _leaves_one_out(exclude) -> int:
    """1 when some query leaves a point out of its list, else 0."""
    return int(exclude is not None and bool((exclude >= 0).any()))


def _select(candidates: np.ndarray, sq_distances: np.ndarray, k: int, exclude):
    """The ``k`` nearest of each row's candidates, sorted by (distance, index).

    Negative, excluded and repeated candidates (pynndescent can repeat one) are dropped.
    """
    order = np.argsort(candidates, axis=1, kind="stable")
    candidates = np.take_along_axis(candidates, order, 1)
    sq_distances = np.take_along_axis(sq_distances, order, 1)
    invalid = candidates < 0
    if exclude is not None:
        invalid |= candidates == exclude[:, None]
    invalid[:, 1:] |= candidates[:, 1:] == candidates[:, :-1]
    sq_distances[invalid] = np.inf
    order = np.argsort(sq_distances, axis=1, kind="stable")[:, :k]  # stable: ties stay in index order
    sq_distances = np.take_along_axis(sq_distances, order, 1)
    if np.isinf(sq_distances).any():
        raise RuntimeError("pynndescent returned fewer than k distinct neighbours for some queries; "
                           "pass method='exact' to search exactly")
    return np.take_along_axis(candidates, order, 1), sq_distances


class NeighborIndex:
    """An index of points for k-nearest-neighbour queries.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points to index (finite values only).
    metric : {"euclidean", "cosine"}, default="euclidean"
        ``"cosine"`` ranks by cosine distance ``1 - cos(q, x)``: rows are scaled to
        unit length (after any PCA/whitening); an all-zero row (in ``X`` or in a
        query) raises a ``ValueError``, since its direction is undefined.
    whiten : bool, default=False
        PCA-whiten: centre on the mean of ``X``, rotate onto its principal axes and
        scale each to unit variance (fitted on ``X``, applied to queries). Axes with
        variance below ``WHITEN_RTOL`` times the largest are dropped.
    n_components : int or None, default=None
        Keep only the first ``n_components`` principal axes (whitened or not); the
        neighbours are then exact in that subspace.
    method : {"auto", "exact", "pynndescent"}, default="auto"
        ``"exact"``: a k-d tree up to :data:`TREE_MAX_FEATURES` features, else the
        chunked matrix product; ``"pynndescent"``: approximate; ``"auto"``: exact
        within the work budget ``exact_max``, pynndescent above.
    exact_max : float or None, default=None
        Budget of ``method="auto"``: exact while ``n_queries * n_samples * n_features
        <= exact_max``; None is :data:`EXACT_MAX_WORK`, ``0`` always pynndescent
        (above :data:`TREE_MAX_FEATURES` features), ``float("inf")`` never.
    device : str, torch.device or None, default=None
        A CUDA device runs the exact search there (the same neighbours); anything
        else, or None, the CPU. Checked at once, not when the search starts.
    random_state : int or numpy.random.Generator, default=plsd_widget.config.RANDOM_STATE
        Seed for pynndescent.
    progress : bool, default=False
        Show a progress bar over the exact search's query chunks (and pynndescent's log).

    Attributes
    ----------
    n_samples_, n_features_in_ : int
        Shape of ``X``.
    data_ : ndarray of shape (n_samples, n_components)
        The indexed points after the transform; distances are measured between these.

    Examples
    --------
    >>> index = NeighborIndex(H)                          # doctest: +SKIP
    >>> idx, dist = index.query(k=5)                      # each point's 5 neighbours, itself excluded
    >>> idx, dist = index.query(H_new, k=5)               # neighbours of new points
    """

    def __init__(self, X, *, metric="euclidean", whiten=False, n_components=None, method="auto",
                 exact_max=None, device=None, random_state=RANDOM_STATE, progress=False):
        X = as_float_array(X, "X")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if not isinstance(whiten, (bool, np.bool_)):
            raise TypeError(f"whiten must be True or False, got {whiten!r}")
        n, d = X.shape
        if n_components is not None:
            n_components = check_positive_int(n_components, "n_components")
            if n_components > d:
                raise ValueError(f"n_components={n_components} exceeds the {d} features of X; use at most {d}")
        if exact_max is not None:
            number = isinstance(exact_max, (int, float, np.number)) and not isinstance(exact_max, bool)
            if not number or not exact_max >= 0:  # NaN is not >= 0
                raise ValueError(f"exact_max must be a number >= 0 (or inf), or None, got {exact_max!r}")
            exact_max = float(exact_max)
        self.metric, self.whiten, self.n_components, self.method = metric, bool(whiten), n_components, method
        self.exact_max, self.random_state, self.progress = exact_max, random_state, bool(progress)
        self.device = device
        self._device = None if device is None else _cuda_or_none(device)
        self.n_samples_, self.n_features_in_ = n, d
        self._mean = self._proj = None  # PCA / whitening: centre (d,) and projection (d, c), float64
        if self.whiten or n_components is not None:
            self._mean = X.astype(np.float64).mean(axis=0)
            self._proj = self._fit_projection(X)
        self.data_ = self._transform(X, "X")
        self._tree = self._nnd = None
        self._nnd_k = 0

    # ------------------------------------------------------------------ transforms
    def _fit_projection(self, X: np.ndarray) -> np.ndarray:
        """The principal axes to keep, scaled to unit variance if whitening."""
        Xc = X.astype(np.float64) - self._mean
        evals, evecs = np.linalg.eigh(Xc.T @ Xc / max(len(X) - 1, 1))
        order = np.argsort(evals)[::-1]
        evals, evecs = evals[order], evecs[:, order]
        keep = X.shape[1] if self.n_components is None else self.n_components
        if not self.whiten:
            return evecs[:, :keep]
        ok = evals > WHITEN_RTOL * max(evals[0], 0.0)
        if not ok.any():
            raise ValueError("X has no variance (all rows are equal); whiten=True is undefined for it")
        keep = min(keep, int(ok.sum()))
        return evecs[:, :keep] / np.sqrt(evals[:keep])

    def _transform(self, A: np.ndarray, name: str) -> np.ndarray:
        if self._proj is not None:
            A = ((A.astype(np.float64) - self._mean) @ self._proj).astype(np.float32)
        if self.metric == "cosine":
            norms = np.linalg.norm(A.astype(np.float64), axis=1)
            if (norms == 0).any():
                rows = np.flatnonzero(norms == 0)
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
        Q : array-like of shape (n_queries, n_features_in)

        Returns
        -------
        ndarray of shape (n_queries, n_components), float32
        """
        Q = as_float_array(Q, "Q")
        if Q.shape[1] != self.n_features_in_:
            raise ValueError(
                f"Q has {Q.shape[1]} features but the index was built on {self.n_features_in_}; "
                "pass points of the same space (e.g. activations of the same layer)"
            )
        return self._transform(Q, "Q")

    # ------------------------------------------------------------------ queries
    def query(self, Q=None, k=10, *, exclude_self=None, squared=False):
        """Return the ``k`` nearest indexed points of each query, nearest first.

        Parameters
        ----------
        Q : array-like of shape (n_queries, n_features_in) or None, default=None
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
        squared : bool, default=False
            Return squared Euclidean distances (``metric="euclidean"`` only).

        Returns
        -------
        indices : ndarray of shape (n_queries, k), int64
        distances : ndarray of shape (n_queries, k), float32
            Euclidean distances (in the transformed space), squared if asked, or
            cosine distances ``1 - cos`` for ``metric="cosine"``; ascending, ties
            broken by index.
        """
        if squared and self.metric != "euclidean":
            raise ValueError("squared=True is for metric='euclidean'; cosine distances are returned as 1 - cos")
        Qt = self.data_ if Q is None else self.transform(Q)
        exclude = self._exclusions(exclude_self, Q is None, len(Qt))
        n = self.n_samples_
        k = check_positive_int(k, "k")
        limit = n - _leaves_one_out(exclude)
        if k > limit:
            why = " (each query leaves one point out)" if limit < n else ""
            raise ValueError(f"k={k} is too large for an index of {n} points{why}; use at most {limit}")
        if len(Qt) == 0:
            return np.empty((0, k), np.int64), np.empty((0, k), np.float32)
        search = {"tree": self._tree_search, "exact": self._exact_search,
                  "pynndescent": self._approximate_search}[self._method(len(Qt))]
        indices, sq_distances = search(Qt, k, exclude)
        if squared:
            distances = sq_distances
        else:
            distances = sq_distances / 2 if self.metric == "cosine" else np.sqrt(sq_distances)
        return indices.astype(np.int64, copy=False), distances.astype(np.float32)

    def _exclusions(self, exclude_self, self_query: bool, m: int):
        """``exclude_self`` as an int64 array of shape (m,) (-1: none left out), or None."""
        n = self.n_samples_
        if exclude_self is None:
            exclude_self = self_query
        if isinstance(exclude_self, (bool, np.bool_)):
            if exclude_self and m != n:
                raise ValueError(
                    f"exclude_self=True needs one query per indexed point ({n}), got {m} queries; pass an int "
                    "array with the index to leave out of each query's list (-1 for none) instead"
                )
            return np.arange(n, dtype=np.int64) if exclude_self else None
        exclude = np.asarray(exclude_self)
        if exclude.shape != (m,) or not np.issubdtype(exclude.dtype, np.integer):
            raise ValueError(f"exclude_self must be a bool or an int array of shape ({m},), got "
                             f"{type(exclude_self).__name__} of shape {exclude.shape}")
        if exclude.size and (exclude.min() < -1 or exclude.max() >= n):
            raise ValueError(f"exclude_self indices must be in [-1, {n - 1}], got values in "
                             f"[{exclude.min()}, {exclude.max()}]")
        return exclude.astype(np.int64)

    def _method(self, n_queries: int) -> str:
        """The search for ``n_queries`` queries: "tree", "exact" or "pynndescent"."""
        n_features = self.data_.shape[1]
        if self.method == "pynndescent":
            return "pynndescent"
        if n_features <= TREE_MAX_FEATURES:
            return "tree"
        budget = EXACT_MAX_WORK if self.exact_max is None else self.exact_max
        if self.method == "exact" or float(n_queries) * self.n_samples_ * n_features <= budget:
            return "exact"
        return "pynndescent"

    def _tree_search(self, Qt: np.ndarray, k: int, exclude):
        from scipy.spatial import cKDTree

        if self._tree is None:
            self._tree = cKDTree(self.data_.astype(np.float64))
        n, m = self.n_samples_, len(Qt)
        indices, sq_distances = np.empty((m, k), np.int64), np.empty((m, k))
        rows = np.arange(m)
        n_candidates = min(n, k + 2)  # the point itself, and one more to see a tie coming
        while rows.size:
            dist, cand = self._tree.query(Qt[rows].astype(np.float64), k=n_candidates, workers=-1)
            dist, cand = dist.reshape(rows.size, -1), cand.reshape(rows.size, -1)
            found = _select(cand.astype(np.int64), dist**2, k, None if exclude is None else exclude[rows])
            indices[rows], sq_distances[rows] = found
            if n_candidates == n:
                break
            # The k-th neighbour as far as the furthest candidate: a tie beyond may have a lower index.
            rows = rows[found[1][:, -1] >= dist[:, -1] ** 2]
            n_candidates = min(n, 2 * n_candidates)
        return indices, sq_distances

    def _exact_search(self, Qt: np.ndarray, k: int, exclude):
        from plsd_widget._exact_neighbors import exact_neighbors

        return exact_neighbors(self.data_, Qt, k, exclude, device=self._device, progress=self.progress)

    def _approximate_search(self, Qt: np.ndarray, k: int, exclude):
        from pynndescent import NNDescent

        n = self.n_samples_
        n_candidates = min(n, k + _leaves_one_out(exclude))
        self_query = Qt is self.data_
        if self._nnd is None or (self_query and self._nnd_k < n_candidates):
            self._nnd_k = max(n_candidates, 15) if n > 15 else n_candidates
            seed = int(np.random.default_rng(self.random_state).integers(2**31 - 1))
            self._nnd = NNDescent(self.data_, metric="euclidean", n_neighbors=self._nnd_k, random_state=seed,
                                  verbose=self.progress)
        if self_query:  # the graph built with the index already holds every point's neighbours
            cand, dist = (a[:, :n_candidates] for a in self._nnd.neighbor_graph)
        else:
            cand, dist = self._nnd.query(Qt, k=n_candidates)
        return _select(np.asarray(cand, np.int64), np.asarray(dist, np.float64) ** 2, k, exclude)


def _cuda_or_none(device):
    """``device`` as a torch CUDA device, or None (the CPU) for any other device."""
    from plsd_widget.devices import resolve_device

    device = resolve_device(device)
    return device if device.type == "cuda" else None


def neighbors(X, Q=None, k=10, **kw):
    """The ``k`` nearest neighbours in ``X`` of the queries ``Q`` (or of every point of ``X``).

    Builds a :class:`NeighborIndex` of ``X`` and queries it once.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    Q : array-like of shape (n_queries, n_features) or None, default=None
        None: each point of ``X`` is a query and is left out of its own list.
    k : int, default=10
    **kw
        ``exclude_self`` and ``squared`` go to :meth:`NeighborIndex.query`; everything
        else (``metric``, ``whiten``, ``n_components``, ``method``, ``exact_max``,
        ``device``, ``random_state``, ``progress``) to :class:`NeighborIndex`.

    Returns
    -------
    indices : ndarray of shape (n_queries, k), int64
    distances : ndarray of shape (n_queries, k), float32
    """
    query = {key: kw.pop(key) for key in ("exclude_self", "squared") if key in kw}
    return NeighborIndex(X, **kw).query(Q, k, **query)
