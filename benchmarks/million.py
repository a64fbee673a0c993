"""A million points: fitting the parametric t-SNE on 1M activations on this CPU (issue 14).

Data: a mixture of 10 Gaussian clusters in 32-d (anisotropic, unequal sizes), the shape
of a trained classifier's latent layer, ``--n`` points (default 1,000,000). Above the
exact-search budget the kNN is pynndescent's (its first-call compilation is numba's,
cached on disk after the first run). Printed: the fit's stages as ``verbose`` reports them,
the fit's wall time, the transform of 10k new points, the kNN accuracy of the layout
(10-NN label agreement on a sample), and the peak resident memory (target < 16 GB).

Usage: ``python benchmarks/million.py [--n 1000000] [--threads 2]``
"""

import argparse
import os
import resource
import threading
import time

import numpy as np
import torch

from plsd_widget.embedding import ParametricTSNE
from timing import load


def mixture(n, d=32, k=10, seed=0):
    """``n`` points of a 10-cluster Gaussian mixture in ``d`` dimensions, and their cluster labels."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 5.0))
    labels = rng.choice(k, size=n, p=weights)
    centres = rng.normal(scale=4.0, size=(k, d))
    scales = rng.uniform(0.5, 1.5, size=(k, d))
    X = np.empty((n, d), np.float32)
    for c in range(k):
        rows = np.flatnonzero(labels == c)
        X[rows] = centres[c] + rng.normal(size=(rows.size, d)).astype(np.float32) * scales[c]
    return X, labels


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def watch_memory(stop, every=0.5):
    """Print each new resident-memory high (10 % steps) with the time since start: where the peak comes."""
    start, high = time.perf_counter(), 0.0
    while not stop.wait(every):
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**3
        if rss > high * 1.1:
            high = rss
            print(f"\n[memory] {rss:.2f} GB at {time.perf_counter() - start:.0f} s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{os.cpu_count()} CPUs, {args.threads} torch threads, {load()}", flush=True)
    X, labels = mixture(args.n + 10_000)
    X_new, X = X[args.n:], X[:args.n]
    labels = labels[:args.n]
    print(f"data {X.shape}, {X.nbytes / 1e6:.0f} MB; peak RSS {peak_rss_gb():.2f} GB", flush=True)
    stop = threading.Event()
    threading.Thread(target=watch_memory, args=(stop,), daemon=True).start()
    start = time.perf_counter()
    model = ParametricTSNE(random_state=0, device="cpu", verbose=True).fit(X)
    fit = time.perf_counter() - start
    stop.set()
    print(f"fit of {args.n:,} points: {fit:.0f} s ({load()}); peak RSS {peak_rss_gb():.2f} GB", flush=True)
    start = time.perf_counter()
    model.transform(X_new)
    print(f"transform of 10,000 new points: {time.perf_counter() - start:.2f} s", flush=True)
    Y = model.embedding_
    sample = np.random.default_rng(1).choice(args.n, 5000, replace=False)
    from plsd_widget.neighbors import NeighborIndex

    nearest, _ = NeighborIndex(Y).query(Y[sample], k=11)
    agree = (labels[nearest[:, 1:]] == labels[sample, None]).mean()
    print(f"10-NN label agreement of the layout (5,000 sampled points): {agree:.3f}")
    print(f"peak RSS {peak_rss_gb():.2f} GB (target < 16 GB); {load()}")


if __name__ == "__main__":
    main()
