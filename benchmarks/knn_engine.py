"""Benchmark: the one kNN engine (``plsd_widget.neighbors``) against the searches it replaced.

Before the engine, the t-SNE affinities searched exactly on the CPU with scikit-learn's
brute force (``NearestNeighbors(algorithm="brute")``) and the embedding metrics with
scikit-learn's ``NearestNeighbors`` (a k-d tree in 2-D); both are run here as "old".

(a) the affinities' kNN: all points' 150 neighbours (perplexity 50) of MNIST PCA-50 at
    20,000 and 60,000 points; the neighbour sets and the affinity matrix ``P`` are compared
    too (the old ``P`` is ``joint_probabilities`` with the old kNN in place of the engine);
(b) the metrics' kNN: all points' 10 neighbours in a 2-D layout of 60,000 points (the
    first two principal components of MNIST).

Old and new runs alternate; each figure is the minimum of ``--repeats`` runs (default 3).
Without MNIST (``PLSD_MNIST`` or the ``data`` extra) the data are PCA-50 of 10 Gaussian
clusters in 784-D.

    PLSD_MNIST=path/to/mnist python benchmarks/knn_engine.py [--repeats 3]
"""
import argparse
import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from plsd_widget.embedding import affinity
from plsd_widget.neighbors import NeighborIndex
from timing import load


def mnist_like(n=60_000, seed=0) -> np.ndarray:
    """MNIST's training images (or Gaussian clusters) as float32 of shape (n, 784)."""
    try:
        from plsd_widget.datasets import load_mnist

        return load_mnist("train").images[:n].reshape(n, -1)
    except (FileNotFoundError, ImportError, ValueError) as exc:
        print(f"no MNIST ({exc}); using 10 Gaussian clusters in 784-D")
        rng = np.random.default_rng(seed)
        centres = rng.normal(scale=3.0, size=(10, 784))
        return (centres[rng.integers(10, size=n)] + rng.normal(size=(n, 784))).astype(np.float32)


def old_affinity_knn(X, n_neighbors, **_):
    """The affinities' exact CPU search before the engine: scikit-learn's brute force."""
    distances, indices = NearestNeighbors(n_neighbors=n_neighbors, algorithm="brute").fit(X).kneighbors()
    return indices.astype(np.int64), distances.astype(np.float64) ** 2


def new_affinity_knn(X, n_neighbors):
    return affinity.nearest_neighbors(X, n_neighbors, method="exact")


def old_metrics_knn(Y, k):
    return NearestNeighbors(n_neighbors=k).fit(Y).kneighbors(return_distance=False)


def new_metrics_knn(Y, k):
    return NeighborIndex(Y, method="exact").query(k=k)[0]


def alternate(old, new, repeats):
    """Minimum times of ``old()`` and ``new()`` run in turn, and their last results."""
    times = {"old": [], "new": []}
    results = {}
    for _ in range(repeats):
        for name, fn in (("old", old), ("new", new)):
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return min(times["old"]), min(times["new"]), results


def same_sets(a, b) -> float:
    """Share of rows whose neighbour sets are identical."""
    return float(np.mean((np.sort(a, axis=1) == np.sort(b, axis=1)).all(axis=1)))


def affinity_figures(X, n, repeats):
    X = np.ascontiguousarray(X[:n])
    t_old, t_new, knn = alternate(lambda: old_affinity_knn(X, 150), lambda: new_affinity_knn(X, 150), repeats)
    (i_old, sq_old), (i_new, sq_new) = knn["old"], knn["new"]
    sq_gap = np.abs(np.sort(sq_old, 1) - np.sort(sq_new, 1)).max() / sq_old.max()
    P_new = affinity.joint_probabilities(X, 50, method="exact")
    engine, affinity.nearest_neighbors = affinity.nearest_neighbors, old_affinity_knn
    try:
        P_old = affinity.joint_probabilities(X, 50, method="exact")
    finally:
        affinity.nearest_neighbors = engine
    print(f"(a) affinities' kNN, {n} x {X.shape[1]}, k=150: old {t_old:.2f} s, new {t_new:.2f} s, "
          f"new/old {t_new / t_old:.2f} ({load()})")
    print(f"    identical neighbour sets in {same_sets(i_old, i_new):.5f} of the rows; squared distances "
          f"within {sq_gap:.1e} of the largest; P: nnz {P_new.nnz} vs {P_old.nnz}, "
          f"max |difference| {abs(P_new - P_old).max() / P_old.max():.1e} of max P, "
          f"sum {abs(P_new - P_old).sum():.1e}", flush=True)


def metrics_figures(Y, repeats):
    t_old, t_new, knn = alternate(lambda: old_metrics_knn(Y, 10), lambda: new_metrics_knn(Y, 10), repeats)
    print(f"(b) metrics' kNN, {len(Y)} x 2, k=10: old {t_old:.3f} s, new {t_new:.3f} s, "
          f"new/old {t_new / t_old:.2f}; identical neighbour sets in {same_sets(knn['old'], knn['new']):.5f} "
          f"of the rows ({load()})", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 60_000])
    args = parser.parse_args()
    images = mnist_like()
    X = PCA(50, random_state=0).fit_transform(images).astype(np.float32)
    print(f"data: {X.shape} PCA-50 ({load()})", flush=True)
    for n in args.sizes:
        affinity_figures(X, n, args.repeats)
    metrics_figures(np.ascontiguousarray(X[:, :2]), args.repeats)


if __name__ == "__main__":
    main()
