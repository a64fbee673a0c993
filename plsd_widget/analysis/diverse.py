"""What to label next: diverse samples of a latent space.

:func:`select_diverse` picks ``n`` points by furthest-point sampling (each new
point is the one furthest from all points picked so far) or TypiClust-style
"typical" sampling (k-means into ``n`` clusters, the densest point of each), over
all points or split evenly across classes.

Importing this module loads neither torch nor numba and starts no thread: the CPU
kernel is compiled on first use, and torch is imported only for a device other than the
CPU (or by the exact neighbour search of ``method="typical"``).
"""

from __future__ import annotations

import functools

import numpy as np

from plsd_widget._validation import as_float_array, as_labels
from plsd_widget.config import RANDOM_STATE
from plsd_widget.neighbors import neighbors
from plsd_widget.progress import progress_bar

__all__ = ["select_diverse", "balanced_counts"]

_METHODS = ("fps", "typical")
#: Neighbours whose mean distance measures a point's density in ``method="typical"`` (TypiClust's 20).
TYPICAL_NEIGHBOURS = 20


def balanced_counts(sizes, n: int) -> np.ndarray:
    """Split ``n`` picks across classes of the given sizes as equally as possible.

    Every class gets the same share, capped at its size; what a small class cannot
    take goes to the others; a remainder goes one each to the largest classes
    (ties: lower class first).

    Parameters
    ----------
    sizes : array-like of int of shape (n_classes,)
    n : int
        At most ``sum(sizes)``.

    Returns
    -------
    counts : ndarray of shape (n_classes,), int64
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if n > sizes.sum():
        raise ValueError(f"cannot pick {n} points from {sizes.sum()}")
    # Water-filling: the largest level L with sum(min(sizes, L)) <= n.
    lo, hi = 0, int(sizes.max()) if sizes.size else 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if np.minimum(sizes, mid).sum() <= n:
            lo = mid
        else:
            hi = mid - 1
    counts = np.minimum(sizes, lo)
    left = n - int(counts.sum())
    if left:
        room = np.flatnonzero(sizes > counts)
        room = room[np.argsort(-sizes[room], kind="stable")]
        counts[room[:left]] += 1
    return counts


@functools.cache  # one dispatcher per process; numba keeps the compiled code on disk
def _fps_steps():
    """The CPU kernel: one fused pass over the points per pick, single-threaded.

    A pick's work (n_samples x n_features) is too small for a thread pool, whose hand-offs
    cost more than the pass on a busy machine. Compiled on first use (about 1 s), then
    loaded from numba's cache.
    """
    import numba

    @numba.njit(cache=True, fastmath=True)
    def steps(X, mind, picked, i0, i1):  # pragma: no cover - compiled
        # Picks i0..i1-1, given picked[:i0] and mind (squared distance to the nearest pick, -1 at picks).
        m, d = X.shape
        for i in range(i0, i1):
            j = picked[i - 1]
            best, best_k = np.float32(-1.0), 0
            for k in range(m):
                if mind[k] >= 0:
                    s = np.float32(0.0)
                    for c in range(d):
                        t = X[k, c] - X[j, c]
                        s += t * t
                    if s < mind[k]:
                        mind[k] = s
                if mind[k] > best:
                    best, best_k = mind[k], k
            picked[i] = best_k
            mind[best_k] = -1.0

    return steps


#: Picks per kernel call between progress-bar updates.
_FPS_CHUNK = 64


def _fps_cpu(X: np.ndarray, n: int, first: int, bar) -> np.ndarray:
    """Furthest-point sampling of ``n`` rows of ``X`` (float32, on the CPU) starting at row ``first``."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    mind = np.full(X.shape[0], np.inf, dtype=np.float32)
    mind[first] = -1.0
    picked = np.empty(n, dtype=np.int64)
    picked[0] = first
    bar.update(1)
    for i0 in range(1, n, _FPS_CHUNK):
        i1 = min(i0 + _FPS_CHUNK, n)
        _fps_steps()(X, mind, picked, i0, i1)
        bar.update(i1 - i0)
    return picked


def _fps(X, n: int, first: int, bar) -> np.ndarray:
    """Furthest-point sampling of ``n`` rows of the torch tensor ``X`` starting at row ``first`` (on X's device)."""
    import torch

    picked = torch.empty(n, dtype=torch.long, device=X.device)
    picked[0] = first
    # ||x - p||^2 = ||x||^2 - 2 x.p + ||p||^2: one matrix-vector product per pick. Rounding is
    # relative to the norms, negligible for the large distances furthest-point sampling compares.
    sq = (X * X).sum(1)
    mind = torch.addmv(sq, X, X[first], alpha=-2.0).add_(sq[first])
    mind[first] = -1.0
    bar.update(1)
    d = torch.empty_like(mind)
    for i in range(1, n):
        j = torch.argmax(mind)
        picked[i] = j
        torch.addmv(sq, X, X[j], alpha=-2.0, out=d).add_(sq[j])
        torch.minimum(mind, d, out=mind)
        mind[j] = -1.0  # picked points stay below every distance, even among duplicates
        bar.update(1)
    return picked.cpu().numpy()


def _typical(X: np.ndarray, n: int, seed: int) -> np.ndarray:
    """TypiClust-style: k-means into ``n`` clusters, the densest point of each."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if n == X.shape[0]:
        return np.arange(n, dtype=np.int64)
    if n <= 200:
        km = KMeans(n_clusters=n, n_init=1, random_state=seed)
    else:  # k-means++ over thousands of clusters takes minutes; TypiClust uses mini-batches too
        km = MiniBatchKMeans(n_clusters=n, n_init=1, random_state=seed, batch_size=max(1024, 3 * n))
    assign = km.fit_predict(X)
    picks = []
    for c in np.unique(assign):
        members = np.flatnonzero(assign == c)
        if members.size <= 2:
            picks.append(members[0])
            continue
        score = neighbors(X[members], k=min(TYPICAL_NEIGHBOURS, members.size - 1))[1].mean(1)
        picks.append(members[int(np.argmin(score))])
    picks = np.asarray(picks, dtype=np.int64)
    if picks.size < n:  # fewer non-empty clusters than asked (duplicate points): fill by furthest points
        rest = np.setdiff1d(np.arange(X.shape[0]), picks)
        picks = np.concatenate([picks, _fps_from(X, picks, n - picks.size, rest)])
    return picks


def _fps_from(X: np.ndarray, picked: np.ndarray, n: int, pool: np.ndarray) -> np.ndarray:
    """``n`` more points of ``pool`` by furthest-point sampling, given points already picked."""
    P = X[pool].astype(np.float64)
    mind = neighbors(X[picked], X[pool], k=1)[1][:, 0].astype(np.float64)
    out = []
    for _ in range(n):
        j = int(np.argmax(mind))
        out.append(pool[j])
        mind = np.minimum(mind, np.linalg.norm(P - P[j], axis=1))
        mind[j] = -1.0
    return np.asarray(out, dtype=np.int64)


def select_diverse(X, n, *, labels=None, balanced=False, method="fps", start=None, device="cpu",
                   random_state=RANDOM_STATE, progress=False) -> np.ndarray:
    """Pick ``n`` diverse points of ``X`` to label next.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points (e.g. a layer's activations, PCA of pixels).
    n : int
        How many to pick, 1..n_samples.
    labels : array-like of int of shape (n_samples,), optional
        True or predicted classes; needed by ``balanced=True``.
    balanced : bool, default=False
        Split ``n`` across the classes of ``labels`` as equally as possible (see
        :func:`balanced_counts`) and select within each class separately.
    method : {"fps", "typical"}, default="fps"
        ``"fps"``: furthest-point sampling (Euclidean): each new point maximises its
        distance to the nearest point picked so far. At small budgets it tends to
        pick outliers. ``"typical"`` (TypiClust, Hacohen et al. 2022): k-means into
        ``n`` clusters (mini-batch k-means above 200 clusters; on the CPU), and in
        each the point with the smallest mean distance to its 20 nearest
        neighbours in the cluster.
    start : int or None, default=None
        First point of ``"fps"`` (without ``balanced``: it is ``result[0]``); None
        draws it from ``random_state``. With ``balanced`` it starts its own class;
        the other classes start at random points.
    device : str or torch.device, default="cpu"
        Where furthest-point sampling runs ("auto" picks CUDA, then MPS, then CPU): on
        the CPU a numba kernel (one fused pass per pick), elsewhere torch (one
        matrix-vector product per pick).
    random_state : int, default=plsd_widget.config.RANDOM_STATE
    progress : bool, default=False
        Show a tqdm bar over the picks.

    Returns
    -------
    indices : ndarray of shape (n,), int64
        Distinct indices into ``X``, in the order picked (with ``balanced``, the
        classes take turns).
    """
    X = as_float_array(X, "X")
    m = X.shape[0]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= m:
        raise ValueError(f"n must be an integer in 1..{m} (the number of points), got {n!r}")
    n = int(n)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if start is not None:
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < m:
            raise ValueError(f"start must be an index in 0..{m - 1}, got {start!r}")
        start = int(start)
    if labels is not None:
        labels = as_labels(labels, m, "labels")
    if balanced and labels is None:
        raise ValueError("balanced=True needs labels (true or predicted classes, one per point)")
    rng = np.random.default_rng(random_state)
    on_cpu = isinstance(device, str) and device == "cpu"  # the numba kernel, without importing torch
    if not on_cpu:
        from plsd_widget.devices import resolve_device

        device = resolve_device(device)
        on_cpu = device.type == "cpu"
    if not balanced:
        groups = [np.arange(m)]
        counts = [n]
    else:
        classes, sizes = np.unique(labels, return_counts=True)
        counts = balanced_counts(sizes, n)
        groups = [np.flatnonzero(labels == c) for c in classes]
    per_group = []
    with progress_bar(n, enabled=progress, desc=f"select_diverse ({method})", unit="point") as bar:
        for members, count in zip(groups, counts):
            count = int(count)
            if count == 0:
                continue
            Xg = X[members]
            if method == "fps":
                if start is not None and (not balanced or labels[start] == labels[members[0]]):
                    first = int(np.searchsorted(members, start))
                else:
                    first = int(rng.integers(members.size))
                if on_cpu:
                    local = _fps_cpu(Xg, count, first, bar)
                else:
                    import torch

                    local = _fps(torch.from_numpy(Xg).to(device), count, first, bar)
            else:
                local = _typical(Xg, count, int(rng.integers(2**31 - 1)))
                bar.update(count)
            per_group.append(members[local])
    # Classes take turns so that any prefix of the result is spread over the classes too.
    order = sorted(((i, g) for g, sel in enumerate(per_group) for i in range(sel.size)))
    out = np.asarray([per_group[g][i] for i, g in order], dtype=np.int64)
    return out
