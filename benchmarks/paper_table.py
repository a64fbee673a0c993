"""The paper's Table 1 on real MNIST: targeted-group and other-group F1, before / CE baseline / PLSD.

Setting (the same for every seed; the seed changes the subsample, the CNN's initial
weights and batch order, the embedding and the fine-tuning batch order):

* **Imbalanced training set** from the MNIST training split (``load_mnist``):
  400 images of each class except the *targeted* classes 4, 7 and 9, which get 40 each
  (10 %). 4, 7 and 9 are the classes a briefly trained CNN confuses (4↔9, 7↔9, and a
  rare 4 looks like a 6); as a minority they end up with clearly lower F1, like the
  paper's "cardiac" classes. 2,920 images in all: small enough for a 2-core CPU.
* **Classifier**: ``SmallCNN(image_size=28)``, 2 epochs of Adam (lr 1e-3) on that set.
* **Embedding**: ``ParametricTSNE(perplexity=30, n_epochs=150)`` of the 32-d ``latent``
  layer's activations of the training set.
* **Edits** (:func:`plan_edits`), one class at a time: contract the class toward its
  centroid by κ = 0.5 (Eq. 2), then shift it (Eq. 1) so its centroid lands on the
  nearest spot with clearance: no point of another class (nor an already placed
  target) within the contracted class's radius plus a margin of 5 % of the
  embedding's extent. That is the paper's guideline: separate the confused classes by
  moving them into empty space, not on top of other classes.
* **Fine-tuning** from the same start model for the same epochs (5), same batch order,
  SGD Nesterov 0.9, lr 0.01, batch 64: **PLSD** (Eq. 3, λ = 0.5, embedding term on the
  edited points only) and the **baseline** (cross-entropy only: ``PLSDTrainer(lam=0)``).
* **Class-balanced CE**, a stronger baseline: cross-entropy with every sample weighted
  ``n / (n_classes · n_c)`` (:func:`plsd_widget.finetune.balanced_weights`), so the
  rare targeted classes weigh as much as the others; same epochs and batch order.
* **Evaluation** on the full MNIST **test** set (10,000 images, balanced): support-weighted
  F1 of the targeted group {4, 7, 9} and of the other seven classes; and the
  decluttering figures (:mod:`plsd_widget.declutter`: kNN purity, mean contour overlap,
  distance of the edited points to their targets) of the training points and the test
  set in the frozen embedding, for before / CE / class-balanced CE / PLSD.

``--sweep`` adds the variations tried (λ, edited-only vs all points, κ, edit magnitude,
epochs, lr) and two controls: the CE baseline at lr·(1−λ) (PLSD scales its CE term by
1−λ, so part of any gain could be a smaller step), and a *hold* edit that pins the
targeted classes where they are (an embedding term with no edit direction).

Usage::

    python benchmarks/paper_table.py                 # the table, seeds 0 1 2
    python benchmarks/paper_table.py --seeds 0 1 2 --sweep --json out.json
    python benchmarks/paper_table.py --seeds 3 4 5 6 7 --configs table lr0.02 lr0.02-ce0.01
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from plsd_widget.activations import extract_activations
from plsd_widget.datasets import load_mnist
from plsd_widget.declutter import declutter_scores, seeds_markdown
from plsd_widget.density import crowded_points, grid_densities
from plsd_widget.edit_planner import plan_edits
from plsd_widget.embedding import ParametricTSNE
from plsd_widget.finetune import PLSDTrainer, balanced_weights
from plsd_widget.metrics import MetricsTable, SeedTable, class_report
from plsd_widget.models import seeded_model, train_classifier
from plsd_widget.session import embed_through

TARGETED = (4, 7, 9)
GROUPS = {"targeted": list(TARGETED), "other": None}
CLASS_NAMES = [str(i) for i in range(10)]
LAYER = "latent"


@dataclass(frozen=True)
class Config:
    """One fine-tuning recipe; the defaults are the table's."""

    lam: float = 0.5
    edited_only: bool = True
    epochs: int = 5
    lr: float = 0.01
    kappa: float = 0.5
    shift: bool = True  # False: contract only (no move into empty space)
    shift_factor: float = 1.0  # scales δ (edit magnitude)
    hold: bool = False  # control: targets = current positions of the targeted classes
    anchor: float = 0.0  # weight of the term holding unedited points in place (edited_only)
    batch_size: int = 64
    baseline_lr: float | None = None  # lr of the CE baseline compared with; None: the same lr


@dataclass
class Setting:
    """Everything a seed's runs share: data, start model, embedding."""

    seed: int
    x: np.ndarray
    y: np.ndarray
    model: torch.nn.Module
    tsne: ParametricTSNE
    positions: np.ndarray
    scale: float
    timings: dict = field(default_factory=dict)


_DATA = {}


def mnist():
    """(train, test) MNIST splits, read once."""
    if not _DATA:
        _DATA["train"], _DATA["test"] = load_mnist("train"), load_mnist("test")
    return _DATA["train"], _DATA["test"]


def imbalanced_subset(seed: int, per_class: int = 400, targeted_per_class: int = 40):
    """Indices into the MNIST training split: ``per_class`` images per class, fewer for the targeted."""
    train, _ = mnist()
    rng = np.random.default_rng(seed)
    idx = [rng.choice(np.flatnonzero(train.labels == c), targeted_per_class if c in TARGETED else per_class,
                      replace=False) for c in range(10)]
    return np.sort(np.concatenate(idx))


def prepare(seed: int, *, cnn_epochs: int = 2, tsne_epochs: int = 150) -> Setting:
    """The seed's training subset, briefly trained CNN and parametric t-SNE of its latent layer."""
    train, _ = mnist()
    t0 = time.perf_counter()
    idx = imbalanced_subset(seed)
    x, y = train.images[idx], train.labels[idx]
    model = train_classifier(seeded_model(image_size=28, random_state=seed), x, y, epochs=cnn_epochs, lr=1e-3,
                             random_state=seed)
    t1 = time.perf_counter()
    H = extract_activations(model, LAYER, x)
    tsne = ParametricTSNE(perplexity=30, n_epochs=tsne_epochs, random_state=seed, device="cpu").fit(H)
    Y = tsne.transform(H)
    t2 = time.perf_counter()
    scale = float(np.sqrt(((Y - Y.mean(0)) ** 2).sum(1).mean()))
    return Setting(seed, x, y, model, tsne, Y, scale, {"cnn_s": t1 - t0, "embedding_s": t2 - t1})


def hold_targets(setting: Setting, classes=TARGETED):
    """Control: the targeted classes' current positions as targets (a pull with no direction)."""
    targets = np.full_like(setting.positions, np.nan)
    sel = np.isin(setting.y, classes)
    targets[sel] = setting.positions[sel]
    return targets


def targets_for(setting: Setting, cfg: Config):
    """Targets of shape (n, 2) and a description for ``cfg``'s edit on ``setting``."""
    if cfg.hold:
        return hold_targets(setting), [{"hold": list(TARGETED)}]
    log, desc = plan_edits(setting.positions, setting.y, TARGETED, kappa=cfg.kappa, shift=cfg.shift,
                           shift_factor=cfg.shift_factor)
    return log.targets(), desc


def predict(model, x, batch: int = 2000) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(x[i:i + batch])).argmax(1) for i in range(0, len(x), batch)]).numpy()


def test_report(model):
    _, test = mnist()
    return class_report(test.labels, predict(model, test.images), 10)


def finetune(setting: Setting, targets, cfg: Config, *, lam=None, lr=None, sample_weight=None):
    """A copy of the start model fine-tuned with ``cfg`` (λ and lr overridable); returns (model, seconds)."""
    model = copy.deepcopy(setting.model)
    t = time.perf_counter()
    PLSDTrainer(model, LAYER, setting.tsne.encoder_, lam=cfg.lam if lam is None else lam,
                edited_only=cfg.edited_only, anchor=cfg.anchor, lr=cfg.lr if lr is None else lr, epochs=cfg.epochs,
                batch_size=cfg.batch_size, scale=setting.scale, device="cpu", random_state=setting.seed).fit(
        setting.x, setting.y, targets, positions=setting.positions, sample_weight=sample_weight)
    return model, time.perf_counter() - t


def declutter(setting: Setting, model, targets) -> dict:
    """Decluttering figures of ``model``'s training and test points in the frozen embedding."""
    _, test = mnist()
    Y, Y_test = embed_through(model, LAYER, setting.tsne, setting.x, setting.tsne.offsets_, test.images)
    train_scores = declutter_scores(Y, setting.y, targets, scale=setting.scale, n_classes=10)
    test_scores = declutter_scores(Y_test, test.labels, n_classes=10)
    return {"train": train_scores, "test": test_scores}


def edit_followed(setting: Setting, model, targets) -> float:
    """Mean distance of the edited training points to their targets after / before fine-tuning."""
    edited = np.isfinite(targets).all(1)
    after, _ = embed_through(model, LAYER, setting.tsne, setting.x, setting.tsne.offsets_)
    before_d = np.linalg.norm(setting.positions[edited] - targets[edited], axis=1).mean()
    after_d = np.linalg.norm(after[edited] - targets[edited], axis=1).mean()
    return float(after_d / before_d) if before_d > 0 else float("nan")


def run_seed(setting: Setting, cfg: Config = Config(), *, baselines: dict | None = None):
    """``{"before", "baseline (CE)", "PLSD"}`` test reports for one seed and recipe, plus run facts.

    ``baselines`` caches CE baselines by (epochs, lr), and PLSD runs by recipe, across recipes
    of the same seed.
    """
    baselines = {} if baselines is None else baselines
    targets, desc = targets_for(setting, cfg)
    free = np.full_like(targets, np.nan)
    grid = grid_densities(setting.positions, setting.y, n_classes=10, grid_size=128)
    crowded = int(crowded_points(grid, setting.y, targets).sum())
    base_lr = cfg.lr if cfg.baseline_lr is None else cfg.baseline_lr
    key = (cfg.epochs, base_lr, cfg.batch_size)
    balanced_key = ("balanced",) + key
    if key not in baselines:
        model, secs = finetune(setting, free, cfg, lam=0.0, lr=base_lr)
        baselines[key] = (test_report(model), secs, model)
        model, _ = finetune(setting, free, cfg, lam=0.0, lr=base_lr, sample_weight=balanced_weights(setting.y, 10))
        baselines[balanced_key] = (test_report(model), model)
    if "before" not in baselines:
        baselines["before"] = test_report(setting.model)
    plsd_key = ("PLSD", replace(cfg, baseline_lr=None))  # recipes that differ only in their baseline share it
    if plsd_key not in baselines:
        model, secs = finetune(setting, targets, cfg)
        baselines[plsd_key] = (test_report(model), secs, edit_followed(setting, model, targets), model)
    plsd_report, secs, followed, plsd_model = baselines[plsd_key]
    reports = {"before": baselines["before"], "baseline (CE)": baselines[key][0],
               "class-balanced CE": baselines[balanced_key][0], "PLSD": plsd_report}
    models = {"before": setting.model, "baseline (CE)": baselines[key][2],
              "class-balanced CE": baselines[balanced_key][1], "PLSD": plsd_model}
    facts = {"edits": desc, "crowded_points": crowded, "edited_points": int(np.isfinite(targets).all(1).sum()),
             "distance_to_target_after_over_before": followed, "plsd_s": secs, "baseline_s": baselines[key][1],
             "declutter": {run: declutter(setting, model, targets) for run, model in models.items()}}
    return reports, facts


#: Named recipes: id -> (label, Config). ``--sweep`` runs the first block, ``--configs`` any.
CONFIGS = {
    "table": ("table (λ=0.5, edited only, κ=0.5, 5 epochs, lr 0.01)", Config()),
    "lam0.25": ("λ=0.25", Config(lam=0.25)),
    "lam0.75": ("λ=0.75", Config(lam=0.75)),
    "all": ("all points (unedited held)", Config(edited_only=False)),
    "kappa0": ("shift only (κ=0)", Config(kappa=0.0)),
    "kappa0.8": ("strong contraction (κ=0.8)", Config(kappa=0.8)),
    "noshift": ("contract only (κ=0.5, no shift)", Config(shift=False)),
    "halfshift": ("half the shift", Config(shift_factor=0.5)),
    "ep2": ("2 epochs", Config(epochs=2)),
    "ep10": ("10 epochs", Config(epochs=10)),
    "lr0.003": ("lr 0.003", Config(lr=0.003)),
    "lr0.03": ("lr 0.03", Config(lr=0.03)),
    "lr0.02-ce0.01": ("λ=0.5 at lr 0.02 vs CE at lr 0.01 (same CE step)", Config(lr=0.02, baseline_lr=0.01)),
    "hold": ("control: hold targeted classes in place (no edit)", Config(hold=True)),
    "anchor3": ("unedited points held by a second term, weight 3 (anchor; the widget's default)", Config(anchor=3.0)),
    # not in the sweep:
    "lr0.02": ("lr 0.02", Config(lr=0.02)),
    "lr0.02-ce0.03": ("λ=0.5 at lr 0.02 vs CE at lr 0.03", Config(lr=0.02, baseline_lr=0.03)),
}
SWEEP = list(CONFIGS)[:list(CONFIGS).index("anchor3") + 1]


def ce_scaled_control(setting: Setting, cfg: Config, baselines: dict):
    """Control: CE only at lr·(1−λ): PLSD's CE term is scaled by 1−λ, as if the step were smaller."""
    key = ("scaled", cfg.epochs, cfg.lr * (1 - cfg.lam))
    if key not in baselines:
        targets = np.full_like(setting.positions, np.nan)
        model, _ = finetune(setting, targets, replace(cfg, edited_only=True), lam=0.0, lr=cfg.lr * (1 - cfg.lam))
        baselines[key] = test_report(model)
    return baselines[key]


def group_f1(reports: dict) -> dict:
    """``{run: {group: F1}}`` for a seed's reports."""
    table = MetricsTable(reports, CLASS_NAMES, groups=GROUPS)
    return {run: {g: s["f1"] for g, s in groups.items()} for run, groups in table.group_scores().items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sweep", action="store_true", help="also run the variations and controls")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), metavar="ID",
                        help=f"run these recipes instead: {', '.join(CONFIGS)} (see CONFIGS)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a shared machine)")
    parser.add_argument("--cnn-epochs", type=int, default=2, help="epochs of the start CNN (default 2)")
    parser.add_argument("--json", type=Path, help="write every number to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"load {os.getloadavg()}")
    t_start = time.perf_counter()
    ids = args.configs or (SWEEP if args.sweep else ["table"])
    configs = {CONFIGS[i][0]: CONFIGS[i][1] for i in ids}
    per_config = {name: [] for name in configs}
    facts = {name: [] for name in configs}
    scaled = []
    for seed in args.seeds:
        setting = prepare(seed, cnn_epochs=args.cnn_epochs)
        print(f"seed {seed}: {len(setting.y)} training images, CNN {setting.timings['cnn_s']:.1f} s, "
              f"embedding {setting.timings['embedding_s']:.1f} s")
        baselines = {}
        for name, cfg in configs.items():
            reports, f = run_seed(setting, cfg, baselines=baselines)
            per_config[name].append(reports)
            facts[name].append(f)
            g = group_f1(reports)
            print(f"  {name}: targeted F1 {g['before']['targeted']:.3f} -> CE {g['baseline (CE)']['targeted']:.3f}"
                  f" / PLSD {g['PLSD']['targeted']:.3f}; other {g['before']['other']:.3f} -> CE "
                  f"{g['baseline (CE)']['other']:.3f} / PLSD {g['PLSD']['other']:.3f}; targets inside another class "
                  f"{f['crowded_points']}/{f['edited_points']}; distance to target after/before "
                  f"{f['distance_to_target_after_over_before']:.2f}; PLSD {f['plsd_s']:.1f} s, CE {f['baseline_s']:.1f} s")
        if args.sweep and "table" in ids:
            cfg = Config()
            reports = dict(per_config[CONFIGS["table"][0]][-1])
            reports["CE at lr·(1−λ)"] = ce_scaled_control(setting, cfg, baselines)
            scaled.append({k: reports[k] for k in ("before", "baseline (CE)", "CE at lr·(1−λ)", "PLSD")})
        print(f"  after seed {seed}: {time.perf_counter() - t_start:.0f} s, load {os.getloadavg()}")

    out = {"seeds": args.seeds, "cnn_epochs": args.cnn_epochs, "targeted": list(TARGETED), "configs": {}, "load_end": os.getloadavg(),
           "total_s": time.perf_counter() - t_start}
    for name, runs in per_config.items():
        table = SeedTable(runs, CLASS_NAMES, GROUPS, contrast=("PLSD", "baseline (CE)"))
        balanced = SeedTable(runs, CLASS_NAMES, GROUPS, contrast=("PLSD", "class-balanced CE"))
        clutter = seeds_markdown([{(run, split): s for run, splits in f["declutter"].items()
                                   for split, s in splits.items()} for f in facts[name]])
        print(f"\n{name}\n{table}\n\nPLSD vs class-balanced CE\n{balanced}\n\ndecluttering\n{clutter}")
        out["configs"][name] = {"config": configs[name].__dict__, "markdown": table.to_markdown(),
                                "markdown_vs_balanced": balanced.to_markdown(), "declutter": clutter,
                                "group_f1_per_seed": [group_f1(r) for r in runs], "facts": facts[name]}
    if scaled:
        table = SeedTable(scaled, CLASS_NAMES, GROUPS, contrast=("PLSD", "CE at lr·(1−λ)"))
        print(f"\ncontrol: CE at lr·(1−λ) = {Config().lr * (1 - Config().lam)}\n{table}")
        out["ce_scaled_control"] = {"markdown": table.to_markdown(),
                                    "group_f1_per_seed": [group_f1(r) for r in scaled]}
    print(f"\ntotal {out['total_s']:.0f} s, load at the end {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    return out


if __name__ == "__main__":
    main()
