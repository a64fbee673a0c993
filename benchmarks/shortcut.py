"""Fix a shortcut with an edit: PLSD against CE, JTT-style reweighting and the oracle, on real MNIST.

Setting (per seed; the seed redraws the subsample, the marks, the CNN's initial weights
and batch order, the embedding and the fine-tuning batch order):

* **Training set**: ``--per-class`` (300) images of every digit from the MNIST training
  split (:func:`plsd_widget.datasets.load_mnist`, the ``data`` extra). A **corner mark**
  (a bright 4×4 square, :mod:`plsd_widget.shortcut`) is on 95 % of the images of the
  *marked* classes (``--marked``, default 4 and 7) and on 5 % of all others: an
  acquisition artefact that goes with some classes in the training data only.
* **Test sets**: the full MNIST test split twice: *unshifted* (marked as in training) and
  *shifted* (the mark on 50 % of every class, independent of the class).
* **Classifier**: ``SmallCNN(image_size=28)``, 2 epochs of Adam (lr 1e-3). It learns
  the mark as a cue: on the shifted test set the marked classes lose F1.
* **Embedding**: ``ParametricTSNE(perplexity=30, n_epochs=150)`` of the ``latent`` layer
  (``--layer features``: the convolutional features before it, where the mark is a
  feature of its own and the split is sharper).
  Every class shows stray points away from its cluster: its minority (unmarked 4s and
  7s, marked images of the other digits) sits where the mark, not the digit, puts it.
* **Edit** (:func:`plsd_widget.shortcut.gather_strays`, what a user does with a class
  that shows up split): for every class, the points outside the class's own 90 %
  density contour are pulled κ = 0.8 of the way to the centroid of the class's core.
  It uses the picture only: nothing in it knows about the mark.
* **Fine-tuning**, from the same start model for the same epochs (5) and batch order,
  SGD Nesterov 0.9, lr 0.01, batch 64:
  - **baseline (CE)**: cross-entropy only;
  - **JTT (CE, errors ×20)**: cross-entropy with the training images the start model
    gets wrong weighted 20× ("just train twice": a reweighting that needs no artefact
    labels either; class-balanced weights would be all ones here, the classes are balanced);
  - **CE, edited ×5**: cross-entropy with the points the edit moved weighted 5×: the
    edit used as a reweighting only, without the embedding term (an ablation: is the
    information in *which* points the edit picks, or in the pull?);
  - **oracle (mark randomised)**: cross-entropy with the mark set or cleared at random
    on every batch: knows the artefact, an upper bound PLSD does not need;
  - **PLSD**: Eq. 3 with λ = 0.5 on the edited points (``--edit-weight w``: and their
    cross-entropy weighted w×, the edit used as a reweighting as well).
* **Evaluation**: support-weighted F1 of the *marked* classes (targeted group) and of the
  other classes, on both test sets; decluttering figures (kNN purity, contour overlap,
  distance of the edited points to their targets) on the training points and the
  shifted test set.

Usage::

    python benchmarks/shortcut.py                       # 5 seeds
    python benchmarks/shortcut.py --seeds 0 1 --per-class 100 --json out.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from plsd_widget.activations import extract_activations
from plsd_widget.datasets import ImageSplit, load_mnist
from plsd_widget.declutter import declutter_scores, seeds_markdown
from plsd_widget.embedding import ParametricTSNE
from plsd_widget.finetune import PLSDTrainer, embedding_scale
from plsd_widget.metrics import SeedTable, class_report, group_average
from plsd_widget.models import seeded_model, train_classifier
from plsd_widget.session import embed_through
from plsd_widget.shortcut import add_shortcut, gather_strays, randomise_mark, shortcut_test_sets

LAYER = "latent"
CLASS_NAMES = [str(i) for i in range(10)]
RUNS = ("before", "baseline (CE)", "JTT (CE, errors ×20)", "CE, edited ×5", "oracle (mark randomised)", "PLSD")


@dataclass
class Setting:
    """What a seed's runs share: the marked training set, the test sets, start model and embedding."""

    seed: int
    layer: str
    train: ImageSplit
    marked: np.ndarray
    tests: dict
    model: torch.nn.Module
    tsne: ParametricTSNE
    positions: np.ndarray
    scale: float


def prepare(seed: int, *, marked_classes, layer: str = LAYER, per_class: int = 300, cnn_epochs: int = 2,
            tsne_epochs: int = 150, train=None, test=None) -> Setting:
    """The seed's marked training subset, its two test sets, the start CNN and the embedding."""
    train = load_mnist("train") if train is None else train
    test = load_mnist("test") if test is None else test
    rng = np.random.default_rng(seed)
    idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(train.labels == c), per_class, replace=False)
                                  for c in range(10)]))
    subset = ImageSplit(train.images[idx], train.labels[idx], train.class_names)
    marked_train, marked = add_shortcut(subset, marked_classes, random_state=rng)
    tests = shortcut_test_sets(test, marked_classes, random_state=rng)
    model = train_classifier(seeded_model(image_size=28, random_state=seed), marked_train.images,
                             marked_train.labels, epochs=cnn_epochs, lr=1e-3, random_state=seed)
    H = extract_activations(model, layer, marked_train.images)
    tsne = ParametricTSNE(perplexity=30, n_epochs=tsne_epochs, random_state=seed, device="cpu").fit(H)
    Y = tsne.embedding_.astype(np.float32)
    scale = embedding_scale(Y)
    return Setting(seed, layer, marked_train, marked, tests, model, tsne, Y, scale)


def predict(model, x, batch: int = 2000) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(x[i:i + batch])).argmax(1) for i in range(0, len(x), batch)]).numpy()


def finetune(setting: Setting, targets, *, lam: float, epochs: int, lr: float = 0.01, sample_weight=None,
             **options):
    """A copy of the start model fine-tuned from the same state with the same batch order.

    ``options`` are fine-tuning options (``edit_weight``, ``transform``, ...); unedited points
    are free (anchor 0), the paper's loss these figures were measured with.
    """
    model = copy.deepcopy(setting.model)
    PLSDTrainer(model, setting.layer, setting.tsne.encoder_, lam=lam, lr=lr, epochs=epochs,
                **{"anchor": 0.0, **options}, scale=setting.scale, device="cpu", random_state=setting.seed).fit(
        setting.train.images, setting.train.labels, targets, positions=setting.positions,
        offsets=setting.tsne.offsets_, sample_weight=sample_weight)
    return model


def run_seed(setting: Setting, marked_classes, *, lam: float = 0.5, kappa: float = 0.8, epochs: int = 5,
             jtt_weight: float = 20.0, edit_weight: float = 1.0):
    """Every run's model for one seed, the edit's targets and how many points it moved."""
    n = len(setting.train.labels)
    idx, tgt = gather_strays(setting.positions, setting.train.labels, kappa=kappa)
    targets = np.full((n, 2), np.nan, np.float32)
    targets[idx] = tgt
    free = np.full((n, 2), np.nan, np.float32)
    errors = predict(setting.model, setting.train.images) != setting.train.labels
    models = {
        "before": setting.model,
        "baseline (CE)": finetune(setting, free, lam=0.0, epochs=epochs),
        "JTT (CE, errors ×20)": finetune(setting, free, lam=0.0, epochs=epochs,
                                         sample_weight=np.where(errors, jtt_weight, 1.0)),
        "CE, edited ×5": finetune(setting, targets, lam=0.0, epochs=epochs, edit_weight=5.0),
        "oracle (mark randomised)": finetune(setting, free, lam=0.0, epochs=epochs,
                                             transform=randomise_mark(setting.seed)),
        "PLSD": finetune(setting, targets, lam=lam, epochs=epochs, edit_weight=edit_weight),
    }
    minority = np.isin(setting.train.labels, marked_classes) != setting.marked
    facts = {"edited_points": int(idx.size), "start_training_errors": int(errors.sum()),
             "minority_points": int(minority.sum()), "minority_edited": int(minority[idx].sum())}
    return models, targets, facts


def reports_for(setting: Setting, models: dict) -> dict:
    """``{test_set: {run: ClassReport}}`` on the unshifted and shifted test sets."""
    return {name: {run: class_report(split.labels, predict(model, split.images), 10) for run, model in models.items()}
            for name, (split, _) in setting.tests.items()}


def declutter_for(setting: Setting, models: dict, targets) -> dict:
    """``{(run, split): declutter_scores}`` for every run, on the training points and the shifted test set."""
    out = {}
    shifted = setting.tests["shifted"][0]
    for run, model in models.items():
        Y, Y_test = embed_through(model, setting.layer, setting.tsne, setting.train.images, setting.tsne.offsets_,
                                  shifted.images)
        out[(run, "train")] = declutter_scores(Y, setting.train.labels, targets, scale=setting.scale, n_classes=10)
        out[(run, "test")] = declutter_scores(Y_test, shifted.labels, n_classes=10)
    return out


def group_f1(reports: dict, groups: dict) -> dict:
    return {run: {g: group_average(r, codes)["f1"] for g, codes in groups.items()} for run, r in reports.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--marked", type=int, nargs="+", default=[4, 7])
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--layer", default=LAYER, help="layer to embed and edit (default: latent)")
    parser.add_argument("--lam", type=float, default=0.5)
    parser.add_argument("--kappa", type=float, default=0.8)
    parser.add_argument("--edit-weight", type=float, default=1.0,
                        help="PLSD's cross-entropy weight of the edited points (default 1: the paper's loss)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a shared machine)")
    parser.add_argument("--json", help="write every number to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"load {os.getloadavg()}")
    groups = {"marked": list(args.marked), "other": [c for c in range(10) if c not in args.marked]}
    train, test = load_mnist("train"), load_mnist("test")
    t_start = time.perf_counter()
    per_seed = {"unshifted": [], "shifted": []}
    facts, declutter = [], []
    for seed in args.seeds:
        t0 = time.perf_counter()
        setting = prepare(seed, marked_classes=args.marked, layer=args.layer, per_class=args.per_class,
                          train=train, test=test)
        models, targets, f = run_seed(setting, args.marked, lam=args.lam, kappa=args.kappa, epochs=args.epochs,
                                     edit_weight=args.edit_weight)
        reports = reports_for(setting, models)
        declutter.append(declutter_for(setting, models, targets))
        for name in per_seed:
            per_seed[name].append(reports[name])
        f["seconds"] = time.perf_counter() - t0
        facts.append(f)
        g = group_f1(reports["shifted"], groups)
        print(f"seed {seed} ({f['seconds']:.0f} s; {f['edited_points']} strays edited, {f['minority_edited']} of "
              f"{f['minority_points']} minority points among them): shifted marked F1 "
              + ", ".join(f"{run} {g[run]['marked']:.3f}" for run in RUNS), flush=True)
    out = {"seeds": args.seeds, "args": vars(args), "facts": facts, "tables": {}}
    for name, runs in per_seed.items():
        for contrast in (("PLSD", "baseline (CE)"), ("PLSD", "JTT (CE, errors ×20)"),
                         ("CE, edited ×5", "baseline (CE)")):
            table = SeedTable(runs, CLASS_NAMES, groups, contrast=contrast)
            print(f"\n{name} test set, {contrast[0]} vs {contrast[1]}\n{table}")
            out["tables"][f"{name}: {contrast[0]} vs {contrast[1]}"] = table.to_markdown()
        out[f"group_f1_{name}"] = [group_f1(r, groups) for r in runs]
    out["declutter"] = seeds_markdown(declutter)
    print(f"\ndecluttering (train: the training points; test: the shifted test set)\n{out['declutter']}")
    out["total_s"] = time.perf_counter() - t_start
    print(f"\ntotal {out['total_s']:.0f} s, load {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1, default=str)
    return out


if __name__ == "__main__":
    main()
