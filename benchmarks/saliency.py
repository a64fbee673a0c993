"""Saliency maps on MNIST: speed of the three maps for 1k images, and the model-randomisation check.

Setup: ``SmallCNN(image_size=28)`` trained briefly on MNIST train (``--train-epochs``
epochs on ``--train-n`` images), a ``ParametricTSNE`` (scheme "distil") fitted on the
latent layer of the 10k test images.

Timed (medians of ``--repeats``), on 1k test images:

* directional saliency (target <= 2 s on a 2-core CPU), at several batch sizes;
* vanilla gradient; integrated gradients (32 steps);
* the reference: a plain forward + backward of the full model on the same 1k images
  (gradient of the summed max logit w.r.t. the input, one batch of 1000), and the ratios.

Then Adebayo et al.'s check: mean Spearman rank correlation between the maps of the
trained model and of a re-initialised one (``seeded_model(random_state=1)``), for
|grad|, signed grad, IG and directional saliency, on ``--n-rand`` test images.

Usage: ``PLSD_MNIST=path/to/mnist python benchmarks/saliency.py``, or without ``PLSD_MNIST`` with the
``data`` extra installed (``pip install 'plsd_widget[data]'``)
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from plsd_widget.activations import extract_activations
from plsd_widget.analysis.saliency import (
    direction_between,
    directional_saliency,
    gradient_saliency,
    integrated_gradients,
    rank_correlation,
)
from plsd_widget.datasets import load_mnist
from plsd_widget.embedding import ParametricTSNE
from plsd_widget.models import seeded_model, train_classifier
from timing import load, median_time


def reference(model, x):
    xb = torch.from_numpy(x).requires_grad_(True)
    logits = model(xb)
    (g,) = torch.autograd.grad(logits.max(dim=1).values.sum(), xb)
    return g


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-n", type=int, default=20000)
    parser.add_argument("--train-epochs", type=int, default=1)
    parser.add_argument("--n-rand", type=int, default=500)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {load()}")

    train, test = load_mnist("train"), load_mnist("test")
    t = time.perf_counter()
    model = train_classifier(seeded_model(image_size=28), train.images[:args.train_n], train.labels[:args.train_n],
                             epochs=args.train_epochs, batch_size=128, lr=2e-3)
    with torch.no_grad():
        acc = (model(torch.from_numpy(test.images)).argmax(1).numpy() == test.labels).mean()
    print(f"CNN trained in {time.perf_counter() - t:.1f} s, test accuracy {acc:.3f} ({load()})")
    t = time.perf_counter()
    H = extract_activations(model, "latent", test.images)
    embedding = ParametricTSNE(random_state=0, device="cpu").fit(H)
    print(f"ParametricTSNE (distil) on 10k latents in {time.perf_counter() - t:.1f} s ({load()})")
    direction = direction_between(embedding.embedding_, test.labels, 4, 9)

    x = test.images[:1000]
    ref = median_time(lambda: reference(model, x), args.repeats)[0]
    print(f"\nreference forward+backward of the full model, 1k images: {ref:.3f} s ({load()})")
    for bs in (128, 256, 500, 1000):
        s = median_time(lambda: directional_saliency(model, "latent", embedding, x, direction, batch_size=bs),
                        args.repeats)[0]
        print(f"directional saliency, 1k images, batch {bs:4d}: {s:.3f} s = {s / ref:.2f}x reference "
              f"(target <= 2 s) ({load()})")
    s = median_time(lambda: gradient_saliency(model, x), args.repeats)[0]
    print(f"vanilla gradient, 1k images: {s:.3f} s = {s / ref:.2f}x reference ({load()})")
    s = median_time(lambda: integrated_gradients(model, x, steps=32), max(1, args.repeats // 2))[0]
    print(f"integrated gradients (32 steps), 1k images: {s:.3f} s = {s / ref:.2f}x reference ({load()})")

    xr = test.images[1000:1000 + args.n_rand]
    rand = seeded_model(image_size=28, random_state=1)
    maps = {
        "|grad|": lambda m: gradient_saliency(m, xr),
        "signed grad": lambda m: gradient_saliency(m, xr, absolute=False),
        "IG (32 steps)": lambda m: integrated_gradients(m, xr, steps=32),
        "directional (4 -> 9)": lambda m: directional_saliency(m, "latent", embedding, xr, direction),
    }
    print(f"\nrandomisation check (Adebayo et al.), {len(xr)} test images, trained vs re-initialised:")
    for name, f in maps.items():
        r = rank_correlation(f(model), f(rand))
        print(f"  {name:22s} mean rank correlation {np.nanmean(r):+.3f} (median {np.nanmedian(r):+.3f}, "
              f"{int(np.isnan(r).sum())} NaN)")


if __name__ == "__main__":
    main()
