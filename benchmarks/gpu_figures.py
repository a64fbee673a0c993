"""The GPU path's figures, one line each: a 60k parametric t-SNE fit and one PLSD epoch with AMP.

Run by ``scripts/gpu_check.sh`` on a CUDA machine (after the CUDA tests); ``--dry-run``
runs the same code on the CPU at toy sizes so that it stays tested where no GPU is.

Figures (real MNIST from ``load_mnist``):

* ``tsne_fit``: ``ParametricTSNE`` fitted on the PCA-50 of the first 60,000 training
  images on the device, wall time (target < 15 s, issue 14), then the 10k test
  images through it, and the kNN accuracy of the test points among the training
  points (k=10) as a check that the fast fit is also a good one.
* ``profile``: only when the fit missed its target (and in a dry run), a fit with
  ``PROFILE_EPOCHS`` network epochs under torch's profiler: how long the GPU was busy
  against the wall time, how many kernels and graph replays were launched, how often the
  host waited for the device, and the operations that cost the host most. ``--profile-table
  FILE`` also writes the profiler's own tables there. One lent GPU run then says where
  the time went without a second run.
* ``knn``: the exact kNN search (k = 3 x perplexity) on the device, alone, on those
  60,000 points and on 4 and 16 noisy copies of them (240,000 and 960,000 points; a size
  whose n² extrapolation passes ``KNN_SIZE_BUDGET_S`` is skipped): what the search
  costs as the data grows, for choosing how far ``method="auto"`` should search exactly
  on a GPU (on the CPU it stops at ``EXACT_MAX_WORK``).
* ``epoch``: one ``PLSDTrainer`` epoch (λ=0.5, AMP) against one plain cross-entropy
  epoch with the same autocast, model, data (copied to the device batch by batch),
  batch order and optimiser
  (``plsd_epoch_cost.ce_epoch``); median of ``--repeats`` interleaved runs after a
  warm-up of each, and their ratio.

Usage: ``python benchmarks/gpu_figures.py [--dry-run] [--n 60000] [--repeats 3] [--profile-table FILE]``
"""

from __future__ import annotations

import argparse
import copy
import logging
import time

import numpy as np
import torch

from embedding_vs_opentsne import PERPLEXITY, load_data
from plsd_epoch_cost import LR, SEED, ce_epoch

TSNE_TARGET_S = 15.0
PROFILE_EPOCHS = 3
KNN_SIZE_BUDGET_S = 60.0
# Runtime calls, as the profiler names them, that launch one kernel, replay a CUDA graph or
# make the host wait for the device.
KERNEL_LAUNCHES = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx")
GRAPH_REPLAYS = ("cudaGraphLaunch",)
HOST_WAITS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize")


def synchronized(device: torch.device) -> float:
    """``time.perf_counter()`` once the device has finished its queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


class StageLog(logging.Handler):
    """Collects the fit's stage timings, which ``plsd_widget.embedding`` logs at DEBUG level."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def tsne_figure(device: torch.device, data, **params) -> float:
    from plsd_widget.embedding import ParametricTSNE
    from plsd_widget.embedding.quality import knn_accuracy

    X, y, X_test, y_test = data
    n = len(X)
    stages, embedding_logger = StageLog(), logging.getLogger("plsd_widget.embedding")
    embedding_logger.addHandler(stages)
    embedding_logger.setLevel(logging.DEBUG)
    start = synchronized(device)
    model = ParametricTSNE(perplexity=PERPLEXITY, random_state=SEED, device=device, **params).fit(X)
    fit_s = synchronized(device) - start
    embedding_logger.removeHandler(stages)
    model.transform(X_test[:100])  # warm-up: the offset lookup's tree and kernel
    start = synchronized(device)
    Y_test = model.transform(X_test)
    transform_s = synchronized(device) - start
    acc = knn_accuracy(model.embedding_, y, Y_test, y_test, k=10)
    verdict = ("met" if fit_s < TSNE_TARGET_S else "MISSED") if device.type == "cuda" else "dry run, no verdict"
    print(f"tsne_fit: n={n} fit {fit_s:.2f} s (target < {TSNE_TARGET_S:g} s: {verdict}); "
          f"transform of {len(X_test)} test points {transform_s * 1e3:.0f} ms; test kNN accuracy {acc:.3f}",
          flush=True)
    print(f"tsne_stages: {'; '.join(stages.messages)}", flush=True)
    return fit_s


def profile_figure(device: torch.device, X: np.ndarray, table_path=None, **params) -> None:
    from torch.profiler import ProfilerActivity, profile

    from plsd_widget.embedding import ParametricTSNE

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    params = {**params, "n_epochs": PROFILE_EPOCHS}
    with profile(activities=activities) as prof:
        start = synchronized(device)
        ParametricTSNE(perplexity=PERPLEXITY, random_state=SEED, device=device, **params).fit(X)
        wall_s = synchronized(device) - start
    events = prof.key_averages()

    def calls(names):
        return sum(event.count for event in events if event.key in names)

    # Kernels (and copies) are the events that ran on the device itself; their times do not overlap
    # on one stream, so their sum is the time the GPU was busy.
    busy_s = sum(event.self_device_time_total for event in events if event.device_type.name == "CUDA") / 1e6
    host_ops = sorted((event for event in events if event.device_type.name == "CPU"),
                      key=lambda event: -event.self_cpu_time_total)[:5]
    costly = ", ".join(f"{event.key} {event.self_cpu_time_total / 1e3:.0f} ms ({event.count} calls)"
                       for event in host_ops)
    print(f"profile: fit of n={len(X)} with {PROFILE_EPOCHS} network epochs, {wall_s:.2f} s under the profiler; "
          f"GPU busy {busy_s:.2f} s ({busy_s / wall_s:.0%}); {calls(KERNEL_LAUNCHES)} kernel launches, "
          f"{calls(GRAPH_REPLAYS)} graph replays, {calls(HOST_WAITS)} host waits; most host time: {costly}",
          flush=True)
    if table_path:
        with open(table_path, "w") as table:
            for sort_by in ("self_cpu_time_total", "self_device_time_total", "count"):
                table.write(f"sorted by {sort_by}\n{events.table(sort_by=sort_by, row_limit=40)}\n")


def knn_figure(device: torch.device, X: np.ndarray, copies=(1, 4, 16), budget_s: float = KNN_SIZE_BUDGET_S) -> None:
    from plsd_widget.embedding.affinity import nearest_neighbors
    from plsd_widget.neighbors import EXACT_MAX_WORK

    k = 3 * PERPLEXITY
    rng = np.random.default_rng(SEED)
    noise = 0.05 * float(X.std())
    nearest_neighbors(X[:2000], k, method="exact", device=device)  # warm-up: CUDA context, cuBLAS
    figures, last = [], None
    for count in copies:
        n, d = len(X) * count, X.shape[1]
        if last is not None:
            # The search grows as n^2: skip a size that would take the lent GPU too long.
            predicted_s = last[1] * (n / last[0]) ** 2
            if predicted_s > budget_s:
                figures.append(f"n={n} skipped (about {predicted_s:.0f} s predicted, over {budget_s:g} s)")
                break
        data = np.concatenate([X] + [X + rng.normal(scale=noise, size=X.shape).astype(np.float32)
                                     for _ in range(count - 1)])
        start = synchronized(device)
        nearest_neighbors(data, k, method="exact", device=device)
        seconds = synchronized(device) - start
        figures.append(f"n={n} x {d} {seconds:.2f} s (n^2 d = {float(n) * n * d:.1e})")
        last = n, seconds
    print(f"knn: exact, k={k}, on {device.type}: {'; '.join(figures)}; the CPU's exact budget is "
          f"n^2 d <= {EXACT_MAX_WORK:.0e}", flush=True)


def epoch_figure(device: torch.device, n: int, batch_size: int, repeats: int) -> None:
    from plsd_widget.activations import extract_activations
    from plsd_widget.datasets import load_mnist
    from plsd_widget.embedding import ParametricTSNE
    from plsd_widget.finetune import PLSDTrainer, embedding_scale
    from plsd_widget.models import seeded_model, train_classifier

    train = load_mnist("train")
    x_np, y_np = train.images[:n], train.labels[:n]
    model = train_classifier(seeded_model(image_size=28, random_state=SEED), x_np[:2000], y_np[:2000], epochs=1)
    H = extract_activations(model, "latent", x_np, batch_size=1024, device=device)
    rng = np.random.default_rng(SEED)
    tsne = ParametricTSNE(n_epochs=30, random_state=SEED, device=device).fit(H[rng.choice(n, min(n, 3000), replace=False)])
    Y = tsne.transform(H)
    extent = Y.max(axis=0) - Y.min(axis=0)
    targets = np.full_like(Y, np.nan)
    edited = np.isin(y_np, [3, 5, 8])
    targets[edited] = Y[edited] + 0.25 * extent * np.array([1.0, -1.0], dtype=np.float32)
    scale = embedding_scale(Y)
    x_t, y_t = torch.from_numpy(x_np), torch.from_numpy(y_np)  # batches go to the device as the trainer's do
    start_state = copy.deepcopy(model.state_dict())

    def plsd():
        PLSDTrainer(model, "latent", tsne.encoder_, lam=0.5, lr=LR, anchor=0.0, epochs=1, batch_size=batch_size,
                    amp=True, scale=scale, device=device, random_state=SEED).fit(x_np, y_np, targets)

    def ce():
        ce_epoch(model, x_t, y_t, device=device, amp=True, batch_size=batch_size)

    runs = {"PLSD": plsd, "CE": ce}
    times = {name: [] for name in runs}
    for repeat in range(repeats + 1):  # the first round warms both up and is not counted
        for name, fn in runs.items():
            model.load_state_dict(start_state)
            start = synchronized(device)
            fn()
            if repeat:
                times[name].append(synchronized(device) - start)
    med = {name: float(np.median(t)) for name, t in times.items()}
    print(f"epoch: n={n} batch {batch_size}, {edited.mean():.0%} edited, AMP: PLSD λ=0.5 {med['PLSD']:.2f} s, "
          f"CE {med['CE']:.2f} s, ratio {med['PLSD'] / med['CE']:.2f}x (medians of {repeats})", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, toy sizes: checks the script, measures nothing")
    parser.add_argument("--n", type=int, default=60_000, help="training images for both figures")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile-table", metavar="FILE",
                        help="where to write the profiler's tables when the fit is profiled")
    args = parser.parse_args()
    if args.dry_run:
        device, n, repeats, tsne_params = torch.device("cpu"), 600, 1, {"n_epochs": 10, "pretrain_epochs": 2}
    else:
        if not torch.cuda.is_available():
            parser.error("no CUDA device; use --dry-run to check the script on the CPU")
        device, n, repeats, tsne_params = torch.device("cuda"), args.n, args.repeats, {}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (dry run)"
    print(f"device: {name}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads", flush=True)
    data = load_data(n)
    fit_s = tsne_figure(device, data, **tsne_params)
    if device.type != "cuda" or fit_s >= TSNE_TARGET_S:
        profile_figure(device, data[0], args.profile_table, **tsne_params)
    knn_figure(device, data[0])
    epoch_figure(device, n, args.batch_size, repeats)


if __name__ == "__main__":
    main()
