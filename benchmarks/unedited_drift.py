"""Do unedited classes drift? The anchor weight that holds them, measured on the demo's set-up.

For each seed: the embedded default (sklearn's digits, the demo CNN, ``default_session``),
the demo's scripted edit (``demo.scripted_edit``: contract the two most confused classes
and move them into empty space), then PLSD from the same start model for each recipe
(λ = 0.5, 3 epochs, lr 0.01), and the CE baseline for the same epochs. Recipes differ in
how unedited points are treated: free (``anchor=0``, the paper's), held by a second term
with weight ``anchor`` (the edit term is the mean over the edited points, the holding term
the mean over the others), or held like edited points in one mean (``edited_only=False``).

Per recipe, mean ± sd over seeds:

* **drift**: mean distance the unedited training points moved, in units of the
  embedding's scale (the CE baseline's drift for reference);
* **distance to target**: of the edited points, same units (before fine-tuning: the
  edit's length);
* **kNN purity** and **mean contour overlap** (:mod:`plsd_widget.declutter`) of the
  training points and of the held-out split;
* **F1**: support-weighted over the two edited classes and over the others, on the
  held-out split, PLSD − CE.

``--data mnist`` runs the same on a setting the anchor was not chosen on: ``--n-train``
MNIST training images drawn per seed (and 2,000 test images), a CNN for 28×28 images trained
for one epoch (so that some classes are still confused), the same scripted edit.

Usage::

    python benchmarks/unedited_drift.py --seeds 0 1 2 3 4
    PLSD_MNIST=path/to/mnist python benchmarks/unedited_drift.py --data mnist --seeds 0 1 2 \
        --recipes "free (anchor 0, paper)" "anchor 3"
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from plsd_widget.demo import default_session, scripted_edit
from plsd_widget.metrics import group_average
from plsd_widget.session import Session

RECIPES = {
    "free (anchor 0, paper)": {"anchor": 0.0},
    "anchor 0.3": {"anchor": 0.3},
    "anchor 1": {"anchor": 1.0},
    "anchor 3": {"anchor": 3.0},
    "all held (edited_only=False)": {"edited_only": False},
}
MEASURES = ("drift", "distance", "purity train", "purity test", "overlap train", "overlap test",
            "ΔF1 edited (PLSD − CE)", "ΔF1 others (PLSD − CE)")


def measure(session, start: np.ndarray, unedited: np.ndarray, edited_classes) -> dict:
    """The recipe's figures from a session after ``finetune`` and ``run_baseline``."""
    table = session.declutter
    plsd_train, plsd_test = table.scores[("PLSD", "train")], table.scores[("PLSD", "test")]
    others = [c for c in range(len(session.class_names)) if c not in edited_classes]
    f1 = {run: (group_average(session.reports[run], edited_classes)["f1"],
                group_average(session.reports[run], others)["f1"]) for run in ("baseline (CE)", "PLSD")}
    return {
        "drift": float(np.linalg.norm(session.positions[unedited] - start[unedited], axis=1).mean()
                       / session.embedding_scale),
        "distance": plsd_train["distance"],
        "purity train": plsd_train["purity"], "purity test": plsd_test["purity"],
        "overlap train": plsd_train["overlap"], "overlap test": plsd_test["overlap"],
        "ΔF1 edited (PLSD − CE)": f1["PLSD"][0] - f1["baseline (CE)"][0],
        "ΔF1 others (PLSD − CE)": f1["PLSD"][1] - f1["baseline (CE)"][1],
    }


def mnist_session(n_train: int, seed: int) -> Session:
    """A session on ``n_train`` MNIST training images (2,000 test images), a CNN trained for one epoch."""
    from plsd_widget.datasets import load_mnist
    from plsd_widget.models import seeded_model, train_classifier

    train, test = load_mnist("train"), load_mnist("test")
    rng = np.random.default_rng(seed)
    picked, held = rng.choice(len(train.labels), n_train, replace=False), rng.choice(len(test.labels), 2000,
                                                                                      replace=False)
    x, y = train.images[picked], train.labels[picked]
    model = train_classifier(seeded_model(image_size=28, random_state=seed), x, y, epochs=1, lr=3e-3,
                             random_state=seed)
    return Session(model, "latent", x, y, x_test=test.images[held], y_test=test.labels[held], random_state=seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lam", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write every number to this file")
    parser.add_argument("--data", choices=("digits", "mnist"), default="digits")
    parser.add_argument("--n-train", type=int, default=3000, help="MNIST training images per seed (--data mnist)")
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}, load {os.getloadavg()}")
    t0 = time.perf_counter()
    recipes = {name: RECIPES[name] for name in args.recipes}
    results = {name: [] for name in ["before", "baseline (CE)", *recipes]}
    for seed in args.seeds:
        session = default_session(random_state=seed) if args.data == "digits" else mnist_session(args.n_train, seed)
        scripted_edit(session)
        start = session.positions.copy()
        edited = np.isfinite(session.targets).all(axis=1)
        edited_classes = sorted(set(session.y[edited].tolist()))
        before = session.declutter.scores
        results["before"].append({"drift": 0.0, "distance": before[("before", "train")]["distance"],
                                  "purity train": before[("before", "train")]["purity"],
                                  "purity test": before[("before", "test")]["purity"],
                                  "overlap train": before[("before", "train")]["overlap"],
                                  "overlap test": before[("before", "test")]["overlap"]})
        for name, options in recipes.items():
            session.rollback(0)
            options = {"lam": args.lam} | options
            session.finetune(epochs=args.epochs, block=True, **options)
            session.run_baseline(block=True)
            results[name].append(measure(session, start, ~edited, edited_classes))
        base = session.declutter.scores[("baseline (CE)", "train")]
        base_test = session.declutter.scores[("baseline (CE)", "test")]
        # the baseline's positions come from run_baseline, which does not depend on the recipe
        results["baseline (CE)"].append({
            "drift": float(np.linalg.norm(session.baseline_positions[~edited] - start[~edited], axis=1).mean()
                           / session.embedding_scale),
            "distance": base["distance"], "purity train": base["purity"], "purity test": base_test["purity"],
            "overlap train": base["overlap"], "overlap test": base_test["overlap"]})
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    lines = ["| recipe | " + " | ".join(MEASURES) + " |", "|---|" + "---|" * len(MEASURES)]
    for name, runs in results.items():
        cells = []
        for m in MEASURES:
            v = np.array([r.get(m, np.nan) for r in runs], dtype=float)
            cells.append("—" if not np.isfinite(v).all() else f"{v.mean():+.3f} ± {v.std(ddof=1):.3f}"
                         if m.startswith("Δ") else f"{v.mean():.3f} ± {v.std(ddof=1):.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(f"\n{args.data}, {len(args.seeds)} seeds, λ={args.lam}, {args.epochs} epochs\n{table}\n"
          f"total {time.perf_counter() - t0:.0f} s, load {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "results": results, "markdown": table}, fh, indent=1)
    return results


if __name__ == "__main__":
    main()
