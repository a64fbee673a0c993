"""Benchmark: which MNIST training images to label, at budgets of 1-10 % of the training set.

Methods: random, FPS, balanced FPS and typical (TypiClust-style), in two selection spaces:
(a) PCA-50 of the pixels; (b) the latent layer of a CNN trained on a 1 % random seed set
(seed 0). balanced FPS splits the budget over the classes *predicted* by that seed-set CNN
(true labels are not known before labelling). Each selection trains the demo CNN
(SmallCNN(image_size=28)) for a fixed number of gradient steps (batch 64), so small sets
are not under-trained; the table gives MNIST test accuracy, mean +- sd over seeds.

    python benchmarks/label_next.py [--quick] [--steps N]
        [--methods "fps,balanced fps,typical"] [--spaces pca50,latent]

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



def train_steps(x, y, steps, seed, batch=64, lr=1e-3):
    model = seeded_model(image_size=28, random_state=seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(x), (min(batch, len(x)),), generator=gen)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    return model.eval()


def accuracy(model, test):
    with torch.no_grad():
        pred = torch.cat([model(torch.as_tensor(test.images[s:s + 2000])).argmax(1)
                          for s in range(0, len(test), 2000)])
    return float((pred.numpy() == test.labels).mean())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1 seed, budgets 1 and 5 %%")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--methods", default="fps,balanced fps,typical",
                        help="comma-separated, besides random: fps, balanced fps, typical")
    parser.add_argument("--spaces", default="pca50,latent", help="comma-separated: pca50, latent")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (1 on a busy machine: a 2-thread pool stalls when cores are shared)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    methods, wanted = args.methods.split(","), args.spaces.split(",")
    seeds = [0] if args.quick else [0, 1, 2]
    budgets = [0.01, 0.05] if args.quick else [0.01, 0.02, 0.05, 0.10]
    steps = args.steps or (300 if args.quick else 1000)
    t0 = time.perf_counter()
    train, test = load_mnist("train"), load_mnist("test")
    n = len(train)
    flat = train.images.reshape(n, -1)
    from sklearn.decomposition import PCA

    spaces = {}
    if "pca50" in wanted:
        spaces["pca50"] = PCA(50, random_state=0).fit_transform(flat).astype(np.float32)
    seed_set = np.random.default_rng(0).choice(n, int(0.01 * n), replace=False)
    seed_model = train_steps(train.images[seed_set], train.labels[seed_set], steps, 0)
    if "latent" in wanted:
        spaces["latent(seed-1%)"] = extract_activations(seed_model, "latent", train.images)
    with torch.no_grad():
        predicted = torch.cat([seed_model(torch.as_tensor(train.images[s:s + 2000])).argmax(1)
                               for s in range(0, n, 2000)]).numpy()
    print(f"seed-set CNN: test accuracy {accuracy(seed_model, test):.4f}; setup {time.perf_counter() - t0:.0f} s")
    results = {}
    for budget in budgets:
        m = int(budget * n)
        for seed in seeds:
            runs = [("random", "-", np.random.default_rng(seed + 100).choice(n, m, replace=False))]
            for space, X in spaces.items():
                if "fps" in methods:
                    runs.append(("fps", space, select_diverse(X, m, random_state=seed)))
                if "balanced fps" in methods:
                    runs.append(("balanced fps", space, select_diverse(X, m, labels=predicted, balanced=True,
                                                                       random_state=seed)))
                if "typical" in methods:
                    runs.append(("typical", space, select_diverse(X, m, method="typical", random_state=seed)))
            for method, space, sel in runs:
                acc = accuracy(train_steps(train.images[sel], train.labels[sel], steps, seed), test)
                results.setdefault((method, space, budget), []).append(acc)
                print(f"{budget:.0%} seed {seed} {method:13s} {space:16s} acc {acc:.4f} "
                      f"(t={time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.2f})", flush=True)
    print(f"\n{steps} steps of batch 64 per model; {len(seeds)} seed(s); total {time.perf_counter() - t0:.0f} s\n")
    print("| method | space | " + " | ".join(f"{b:.0%}" for b in budgets) + " |")
    print("|---|---|" + "---|" * len(budgets))
    for method, space in dict.fromkeys((k[0], k[1]) for k in results):
        cells = []
        for b in budgets:
            a = np.array(results.get((method, space, b), [np.nan]))
            cells.append(f"{a.mean():.3f} ± {a.std(ddof=1) if a.size > 1 else 0:.3f}")
        print(f"| {method} | {space} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
