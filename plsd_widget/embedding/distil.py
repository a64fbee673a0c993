"""Fitting a :class:`~plsd_widget.embedding.encoders.LocalExpertsEncoder` to a 2-D layout.

The second stage of ``ParametricTSNE(scheme="distil")``: the layout is cut into
regions by k-means, and the encoder learns, in mini-batches, to put every training
point at its layout position (mean squared error) while its gate learns which region
the point belongs to (cross-entropy). The inputs get Gaussian noise, so the map is
also fitted around the training points, where new points land. After training the
gate is sharpened, so that a point between two regions is placed in one of them
rather than between them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from sklearn.cluster import KMeans

from plsd_widget.embedding.encoders import LocalExpertsEncoder

__all__ = ["DISTIL_BATCH", "GATE_SHARPENING", "INPUT_NOISE", "LayoutRegions", "layout_regions", "n_experts_for",
           "one_cycle", "regression_epoch"]

#: Mini-batch size of the regression.
DISTIL_BATCH = 256
#: Standard deviation of the Gaussian input noise, in units of the encoder's input scale.
#: On 20k MNIST points (PCA-50), 0.3-0.5 gave the best accuracy of embedded test points;
#: without noise it was about 0.8 points lower.
INPUT_NOISE = 0.4
#: The gate's logits are multiplied by this after training (softmax temperature 1/4):
#: +0.2-0.4 points of test accuracy on 20k MNIST, in-sample unchanged.
GATE_SHARPENING = 4.0
#: About this many training points per region (and expert), within the two limits below.
POINTS_PER_EXPERT = 400
MIN_EXPERTS, MAX_EXPERTS = 8, 50


def n_experts_for(n_samples: int) -> int:
    """Number of layout regions for ``n_samples`` training points (see ``POINTS_PER_EXPERT``)."""
    return int(min(MAX_EXPERTS, max(MIN_EXPERTS, n_samples // POINTS_PER_EXPERT), n_samples))


class LayoutRegions(NamedTuple):
    """A k-means partition of a layout: ``labels`` of shape (n,), ``centers`` of shape (k, 2)."""

    labels: np.ndarray
    centers: np.ndarray


def layout_regions(layout: np.ndarray, n_regions: int, seed: int) -> LayoutRegions:
    """Cut a (n, 2) ``layout`` into ``n_regions`` k-means regions (one k-means run, seeded)."""
    km = KMeans(n_clusters=n_regions, n_init=1, random_state=seed).fit(layout)
    return LayoutRegions(km.labels_.astype(np.int64), km.cluster_centers_.astype(np.float32))


def regression_epoch(encoder: LocalExpertsEncoder, optimizer, scheduler, X_t: torch.Tensor, target: torch.Tensor,
                     labels: torch.Tensor, order: np.ndarray, generator: torch.Generator) -> float:
    """One epoch of the regression over the points in ``order``; returns its mean squared error.

    ``target`` is the layout in units of ``encoder.out_scale`` and ``labels`` the
    points' regions, both on ``X_t``'s device. The loss of a batch is the mean squared
    distance to the targets plus the gate's cross-entropy.
    """
    losses = []
    for start in range(0, len(order), DISTIL_BATCH):
        idx = torch.from_numpy(order[start:start + DISTIL_BATCH]).to(X_t.device)
        xb = X_t[idx]
        noise = torch.randn(xb.shape, generator=generator, device=xb.device, dtype=xb.dtype)
        embedded, logits = encoder.forward_with_logits(xb + INPUT_NOISE * encoder.scale * noise)
        mse = (embedded / encoder.out_scale - target[idx]).pow(2).sum(dim=1).mean()
        loss = mse + torch.nn.functional.cross_entropy(logits, labels[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(mse.detach())
    return torch.stack(losses).mean().item()


def one_cycle(optimizer, learning_rate: float, n_epochs: int, n_samples: int):
    """The regression's learning-rate schedule: one cycle over all its mini-batches."""
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate,
                                               total_steps=n_epochs * math.ceil(n_samples / DISTIL_BATCH))
