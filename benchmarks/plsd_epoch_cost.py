"""Cost of one PLSD epoch vs one cross-entropy epoch, and of re-embedding 60k activations.

Targets (issue 4): one PLSD epoch ≤ 1.10× one CE-only epoch of the same model and data;
``ParametricTSNE.transform`` on 60k activations ≤ 0.3 s on this CPU.

Set-up, on real MNIST (``load_mnist``): ``SmallCNN(image_size=28)`` trained
one epoch on the training subset (weights do not change the cost, but edits need a
meaningful embedding), activations of its ``latent`` layer for all 60k training
images, a ``ParametricTSNE`` fitted on 3k of them (a short fit: only its encoder's
cost matters here), and an edit that shifts classes 3, 5 and 8 by a quarter of the
embedding's extent (targets on ~30 % of the points).

Three epochs are timed per repeat (wall clock and process CPU time, which a shared
machine disturbs less), interleaved so load spikes hit all of them alike,
each starting from the same weights:

* **CE loop**: a plain loop, same model copy, data, batch order, batch size (64) and
  optimiser (SGD, Nesterov 0.9, lr 0.01) as the trainer. The reference for the target.
* **trainer λ=0**: ``PLSDTrainer(lam=0.0)``, what ``Session.run_baseline`` runs (it still
  evaluates the encoder to report the embedding term).
* **PLSD λ=0.5**: ``PLSDTrainer(lam=0.5)`` on the edited points only.

Usage: ``python benchmarks/plsd_epoch_cost.py [--n-train 10000] [--repeats 9] [--threads 1]``
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import time

import numpy as np
import torch
from torch import nn

from plsd_widget.activations import extract_activations
from plsd_widget.datasets import load_mnist
from plsd_widget.embedding import ParametricTSNE
from plsd_widget.finetune import PLSDTrainer, embedding_scale
from plsd_widget.models import seeded_model, train_classifier

BATCH, LR, SEED = 64, 0.01, 0


def ce_epoch(model, x, y, *, device="cpu", amp=False, batch_size=BATCH):
    """One plain cross-entropy epoch with the trainer's batch order and optimiser.

    ``amp`` autocasts the forward pass like the trainer does on CUDA (bfloat16 where
    supported); ``x`` and ``y`` may already sit on ``device``.
    """
    device = torch.device(device)
    work = copy.deepcopy(model).to(device).train()
    opt = torch.optim.SGD(work.parameters(), lr=LR, momentum=0.9, nesterov=True)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED))
    amp = amp and device.type == "cuda" and torch.cuda.is_bf16_supported()  # bf16 needs no grad scaler
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = work(x[idx].to(device, non_blocking=True))
        loss = nn.functional.cross_entropy(logits.float(), y[idx].to(device, non_blocking=True))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
    model.load_state_dict(work.state_dict())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load {os.getloadavg()}")

    full = load_mnist("train")
    rng = np.random.default_rng(SEED)
    sub = rng.choice(len(full), args.n_train, replace=False)
    x_np, y_np = full.images[sub], full.labels[sub]
    model = train_classifier(seeded_model(image_size=28, random_state=SEED), x_np, y_np, epochs=1)

    t = time.perf_counter()
    H = extract_activations(model, "latent", full.images, batch_size=1024)
    print(f"activations of all {len(H)} training images: {H.shape}, {time.perf_counter() - t:.1f} s")
    tsne = ParametricTSNE(n_epochs=30, random_state=SEED).fit(H[rng.choice(len(H), 3000, replace=False)])

    Y = tsne.transform(H[sub])
    extent = Y.max(axis=0) - Y.min(axis=0)
    targets = np.full_like(Y, np.nan)
    edited = np.isin(y_np, [3, 5, 8])
    targets[edited] = Y[edited] + 0.25 * extent * np.array([1.0, -1.0], dtype=np.float32)
    scale = embedding_scale(Y)
    print(f"{args.n_train} MNIST training images, batch {BATCH}, {edited.mean():.0%} of points edited")

    x_t, y_t = torch.from_numpy(x_np), torch.from_numpy(y_np)
    start_state = copy.deepcopy(model.state_dict())

    def trainer_epoch(lam):
        PLSDTrainer(model, "latent", tsne.encoder_, lam=lam, lr=LR, anchor=0.0, epochs=1, batch_size=BATCH,
                    scale=scale, device="cpu", random_state=SEED).fit(x_np, y_np, targets)

    runs = {"CE loop": lambda: ce_epoch(model, x_t, y_t), "trainer λ=0": lambda: trainer_epoch(0.0),
            "PLSD λ=0.5": lambda: trainer_epoch(0.5)}
    times = {k: [] for k in runs}
    cpu = {k: [] for k in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            model.load_state_dict(start_state)
            t, c = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    for label, table in (("wall", times), ("CPU", cpu)):
        med = {k: float(np.median(v)) for k, v in table.items()}
        for name, v in table.items():
            print(f"{name:12s} epoch, {label}: median {med[name]:.2f} s, min {min(v):.2f} s "
                  f"(runs: {', '.join(f'{s:.2f}' for s in v)})")
        ratio = med["PLSD λ=0.5"] / med["CE loop"]
        print(f"{label}: PLSD / CE loop {ratio:.3f}x; PLSD / trainer λ=0 {med['PLSD λ=0.5'] / med['trainer λ=0']:.3f}x; "
              f"trainer λ=0 / CE loop {med['trainer λ=0'] / med['CE loop']:.3f}x; "
              f"target <= 1.10x: {'MET' if ratio <= 1.10 else 'MISSED'}; "
              f"ratio of minima {min(table['PLSD λ=0.5']) / min(table['CE loop']):.3f}x")

    tsne.transform(H)  # warm-up
    emb_times = []
    for _ in range(max(args.repeats, 7)):
        t = time.perf_counter()
        tsne.transform(H)
        emb_times.append(time.perf_counter() - t)
    emb = float(np.median(emb_times))
    print(f"re-embedding {H.shape} through E: median {emb * 1e3:.0f} ms, min {min(emb_times) * 1e3:.0f} ms "
          f"(runs: {', '.join(f'{s * 1e3:.0f}' for s in emb_times)} ms), load {os.getloadavg()}")
    print(f"target re-embedding <= 0.3 s (median): {'MET' if emb <= 0.3 else 'MISSED'} ({emb:.3f} s)")


if __name__ == "__main__":
    main()
