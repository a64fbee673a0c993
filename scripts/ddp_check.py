"""Distributed fine-tuning against one process: the same PLSD run under torchrun and alone.

Usage::

    python scripts/ddp_check.py --nproc 2 --device cpu    # two processes, gloo
    python scripts/ddp_check.py --nproc 1 --device cuda   # NCCL on the GPU(s) present

It builds one start (the digits CNN trained for three epochs, a ``ParametricTSNE`` of
its ``latent`` layer, an edit of classes 3 and 8, class-balanced sample weights and
an anchor, so that every term of the loss has its own denominator), saves it in a
temporary folder, starts ``torchrun --nproc-per-node N`` on this script in worker
mode, in which every process fine-tunes that start for ``--epochs`` with the global
batch ``--batch-size``, once for each reduction of the embedding term (``"edited"`` and
``"batch"``, whose denominators differ), and process 0 saves the weights and the loss
histories; then runs the same fits in this process and prints one line per reduction:
the largest difference of any weight and of the per-epoch losses, against
``--tolerance``. Exits 1 beyond it.

The difference is only the order of float sums (each process sums its shard, the
all-reduce sums the processes). Measured with two gloo processes on the CPU: 1.5e-8
after one full-batch step, 3e-8 to 6e-8 after the default 6 steps (global batch 500,
whose last batch splits 219 / 218), while a wrong denominator would show at 1e-3 or more.
Over many steps the noise compounds: 1e-4 after 46 steps of batch 64.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

LAYER, LAM, ANCHOR, SEED = "latent", 0.5, 1.0, 0
REDUCTIONS = ("edited", "batch")


def build_start(folder: Path) -> None:
    """The start every run shares: model weights, the encoder, targets and sample weights."""
    from plsd_widget.activations import extract_activations
    from plsd_widget.datasets import load_digits_split
    from plsd_widget.embedding import ParametricTSNE
    from plsd_widget.finetune import balanced_weights
    from plsd_widget.models import seeded_model, train_classifier

    train, _ = load_digits_split(random_state=SEED)
    model = train_classifier(seeded_model(random_state=SEED), train.images, train.labels, epochs=3, lr=3e-3)
    H = extract_activations(model, LAYER, train.images, device="cpu")
    tsne = ParametricTSNE(perplexity=30, random_state=SEED, device="cpu").fit(H)
    Y = tsne.embedding_
    targets = np.full_like(Y, np.nan)
    edited = np.isin(train.labels, [3, 8])
    targets[edited] = Y[edited] + np.float32([10.0, -5.0])
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "model.safetensors")
    tsne.save(folder / "tsne")
    np.save(folder / "targets.npy", targets)
    np.save(folder / "positions.npy", Y)
    np.save(folder / "weights.npy", balanced_weights(train.labels))


def fine_tune(folder: Path, device, epochs: int, batch_size: int, reduction: str):
    """Fine-tune the saved start (in whatever process group this process is); return model and result."""
    from plsd_widget.datasets import load_digits_split
    from plsd_widget.embedding import ParametricTSNE
    from plsd_widget.finetune import PLSDTrainer
    from plsd_widget.models import SmallCNN

    train, _ = load_digits_split(random_state=SEED)
    model = SmallCNN()
    model.load_state_dict(load_file(folder / "model.safetensors"))
    tsne = ParametricTSNE.load(folder / "tsne")
    positions = np.load(folder / "positions.npy", allow_pickle=False)
    trainer = PLSDTrainer(model, LAYER, tsne.encoder_, lam=LAM, anchor=ANCHOR, edited_only=True, epochs=epochs,
                          batch_size=batch_size, reduction=reduction, amp=False, scale=float(positions.std()),
                          device=device, random_state=SEED)
    result = trainer.fit(train.images, train.labels, np.load(folder / "targets.npy", allow_pickle=False),
                         positions=positions, offsets=tsne.offsets_,
                         sample_weight=np.load(folder / "weights.npy", allow_pickle=False))
    return model, result


def worker(folder: Path, device: str, epochs: int, batch_size: int) -> None:
    """One torchrun process: join the group, fine-tune, and (process 0) save weights and losses."""
    import torch.distributed as dist

    from plsd_widget.distributed import init_from_env, world

    dev = init_from_env(device)
    for reduction in REDUCTIONS:
        model, result = fine_tune(folder, dev, epochs, batch_size, reduction)
        rank, world_size = world()
        if rank == 0:
            weights = {k: v.contiguous() for k, v in model.state_dict().items()}
            save_file(weights, folder / f"ddp-{reduction}.safetensors")
            (folder / f"ddp-{reduction}.json").write_text(json.dumps(
                {"world_size": world_size, "backend": dist.get_backend(), "history": result.history}))
    dist.destroy_process_group()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2, help="processes (on CUDA: at most one per GPU)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500, help="the global batch")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="largest weight difference accepted")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.device, args.epochs, args.batch_size)
        # leave without the C++ teardown: with gloo it now and then aborts a process that exits
        # while another rank still runs (SIGABRT, "terminate called without an active exception")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    if args.device == "cuda" and args.nproc > torch.cuda.device_count():
        parser.error(f"--nproc {args.nproc} needs as many GPUs; {torch.cuda.device_count()} present")

    with tempfile.TemporaryDirectory(prefix="plsd-ddp-") as tmp:
        folder = Path(tmp)
        build_start(folder)
        start = time.perf_counter()
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc}",
               str(Path(__file__).resolve()), "--worker", str(folder), "--device", args.device,
               "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        run = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if run.returncode != 0:
            print(run.stdout[-4000:] + run.stderr[-4000:], file=sys.stderr)
            print(f"ddp: torchrun failed with exit code {run.returncode}")
            return 1
        ddp_s = time.perf_counter() - start
        all_ok = True
        for reduction in REDUCTIONS:
            ddp = json.loads((folder / f"ddp-{reduction}.json").read_text())
            ddp_weights = load_file(folder / f"ddp-{reduction}.safetensors")
            model, result = fine_tune(folder, args.device, args.epochs, args.batch_size, reduction)
            weight_diff = max(float((v - ddp_weights[k]).abs().max()) for k, v in model.state_dict().items())
            loss_diff = max(abs(a[key] - b[key]) for a, b in zip(result.history, ddp["history"], strict=True)
                            for key in ("loss", "ce", "emb"))
            ok = weight_diff <= args.tolerance
            all_ok &= ok
            print(f"ddp: {ddp['backend']}, {ddp['world_size']} process(es), {args.epochs} epochs, global batch "
                  f"{args.batch_size}, reduction {reduction!r}: max |Δweight| {weight_diff:.2e}, max |Δloss| "
                  f"{loss_diff:.2e} against one process (tolerance {args.tolerance:g}: {'met' if ok else 'MISSED'}); "
                  f"torchrun run {ddp_s:.1f} s")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
