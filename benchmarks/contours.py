"""Contours for 60k points x 10 classes on a 256² grid: binned KDE vs scipy's exact gaussian_kde.

Targets (issue 4): ``density_contours`` ≤ 100 ms in total, and ≥ 20× faster than
``scipy.stats.gaussian_kde`` evaluated on the same grid.

The points are a fixed-seed mixture shaped like a t-SNE view: per class two
anisotropic Gaussian lobes of different sizes. Ours is timed end to end (validation,
binning, FFT, levels, marching squares, conversion to data coordinates). The reference
is charged only for evaluating the density on the grid (no level, no contouring). Its
cost is linear in the number of points, so by default it is timed on a subsample
(``--ref-fraction``) and extrapolated linearly to 60k; ``--ref-fraction 1`` times it
in full once. Both are measured in the same run; medians of ``--repeats`` runs.

Usage: ``python benchmarks/contours.py [--repeats 7] [--ref-fraction 0.05]``
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np
from scipy.stats import gaussian_kde

from plsd_widget.contours import density_contours
from plsd_widget.density import grid_densities
from timing import median_time


def make_points(n=60_000, n_classes=10, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    centres = rng.uniform(-40, 40, size=(n_classes, 2, 2))  # two lobes per class
    scales = rng.uniform(1.0, 4.0, size=(n_classes, 2, 2))
    lobe = (rng.random(n) < 0.7).astype(int)
    Y = centres[labels, lobe] + rng.normal(size=(n, 2)) * scales[labels, lobe]
    return Y.astype(np.float32), labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--ref-fraction", type=float, default=0.05)
    parser.add_argument("--grid-size", type=int, default=256)
    args = parser.parse_args()

    Y, labels = make_points()
    G = args.grid_size
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    print(f"{len(Y)} points, {labels.max() + 1} classes, grid {G}x{G}")

    density_contours(Y, labels, grid_size=G)  # warm-up (imports, FFT plans)
    ours, ours_all = median_time(lambda: density_contours(Y, labels, grid_size=G), args.repeats)
    contours = density_contours(Y, labels, grid_size=G)
    n_lines = sum(len(c) for c in contours)
    n_vertices = sum(len(line) for c in contours for line in c)
    grid_only, _ = median_time(lambda: grid_densities(Y, labels, grid_size=G), args.repeats)
    print(f"ours  density_contours: median {ours * 1e3:.1f} ms over {args.repeats} "
          f"(all: {', '.join(f'{t * 1e3:.0f}' for t in ours_all)} ms); of which the density grid "
          f"{grid_only * 1e3:.1f} ms; {n_lines} polylines, {n_vertices} vertices")

    ext = grid_densities(Y, labels, grid_size=G).extent
    xs, ys = np.linspace(ext[0], ext[1], G), np.linspace(ext[2], ext[3], G)
    grid_pts = np.vstack([np.repeat(xs, G), np.tile(ys, G)])
    rng = np.random.default_rng(1)
    sub = rng.random(len(Y)) < args.ref_fraction if args.ref_fraction < 1 else np.ones(len(Y), bool)
    n_sub = int(sub.sum())

    def reference():
        for c in range(labels.max() + 1):
            gaussian_kde(Y[sub & (labels == c)].T.astype(np.float64))(grid_pts)

    ref_repeats = 1 if args.ref_fraction >= 1 else 3
    ref_sub, ref_all = median_time(reference, ref_repeats)
    ref = ref_sub * len(Y) / n_sub
    how = "measured in full" if n_sub == len(Y) else f"measured on {n_sub} points, extrapolated linearly in n"
    print(f"scipy gaussian_kde on the grid: {ref_sub:.2f} s for {n_sub} points "
          f"(runs: {', '.join(f'{t:.2f}' for t in ref_all)} s) -> {ref:.1f} s for {len(Y)} ({how})")
    print(f"target ours <= 100 ms: {'MET' if ours <= 0.1 else 'MISSED'} ({ours * 1e3:.1f} ms)")
    print(f"target >= 20x faster than gaussian_kde: {'MET' if ref / ours >= 20 else 'MISSED'} "
          f"({ref / ours:,.0f}x)")


if __name__ == "__main__":
    main()
