"""Scheme "distil" of ``ParametricTSNE``: a free t-SNE layout, then a local-experts network fitted to it.

:func:`fit_distil` runs both stages. Stage 1 is the layout
(:func:`~plsd_widget.embedding.layout.fit_layout`, started from the PCA). Stage 2 is
here (:func:`fit_to_layout`, :class:`Regression`): the layout is cut into regions by
k-means, and a :class:`~plsd_widget.embedding.encoders.LocalExpertsEncoder` learns, in
mini-batches, to put every training point at its layout position (mean squared error)
while its gate learns which region the point belongs to (cross-entropy). The inputs get
Gaussian noise, so the map is also fitted around the training points, where new points
land. After training the gate is sharpened, so that a point between two regions is
placed in one of them rather than between them.
"""

from __future__ import annotations

import logging
import math
import time
from typing import NamedTuple

import numpy as np
import torch
from sklearn.cluster import KMeans

from plsd_widget.embedding.cuda_graphs import capture, on_side_stream
from plsd_widget.embedding.edges import edges_from_csr
from plsd_widget.embedding.encoders import LocalExpertsEncoder, embed
from plsd_widget.embedding.initialization import LAYOUT_INIT_STD, PCA_INIT_STD, initialise_encoder, pca_target
from plsd_widget.embedding.layout import EARLY_ITER, LATE_ITER, fit_layout
from plsd_widget.embedding.locality import permuted_csr, z_order
from plsd_widget.embedding.plan import TrainedEncoder, TrainingPlan, finish
from plsd_widget.progress import progress_bar

__all__ = ["GATE_SHARPENING", "INPUT_NOISE", "LayoutRegions", "MAX_BATCH", "MIN_BATCH", "MIN_STEPS_PER_EPOCH",
           "Regression", "batch_for", "fit_distil", "fit_to_layout", "layout_regions", "n_experts_for"]

logger = logging.getLogger(__name__)

#: Limits of the regression's mini-batch size, which grows with the data (see :func:`batch_for`).
#: On 1M points (benchmarks/RESULTS.md) batches of 2048 fitted the layout better than batches
#: of 256 (held-out error 0.174 against 0.179 layout standard deviations) in a quarter of the time.
MIN_BATCH, MAX_BATCH = 256, 2048
#: Batches grow while an epoch keeps at least this many steps. On MNIST's 60k points, 100
#: (batches of 512) kept the network's own test accuracy; 50 (batches of 1024) cost it 0.2 points.
MIN_STEPS_PER_EPOCH = 100
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


def fit_distil(X: np.ndarray, P, plan: TrainingPlan, rng: np.random.Generator,
               generator: torch.Generator) -> TrainedEncoder:
    """Both stages on ``X`` with affinities ``P`` (CSR) as ``plan`` says; ``embedding`` is the layout.

    Pass ``P`` without keeping a reference to it: once its edges are made it is
    dropped here (at 1M points its values alone are ~2 GB).
    """
    log = logger.info if plan.verbose else logger.debug
    start = time.perf_counter()
    init = pca_target(X, 2) * (LAYOUT_INIT_STD / PCA_INIT_STD)
    order = z_order(init) if plan.device.type == "cpu" else None  # see layout.fit_layout
    if order is not None:
        P, init = permuted_csr(P, order), init[order]
    edges = edges_from_csr(P, plan.device)
    del P
    X_t = torch.from_numpy(X).to(plan.device)
    with progress_bar(EARLY_ITER + LATE_ITER + plan.n_epochs, enabled=plan.verbose, desc="ParametricTSNE",
                      unit="step") as bar:
        layout, kl_divergence = fit_layout(edges, torch.from_numpy(init).to(plan.device), order, plan.callback, bar)
        log("layout in %.2f s", time.perf_counter() - start)
        regions = layout_regions(layout.cpu().numpy(), n_experts_for(len(X)), seed=int(rng.integers(2**31 - 1)))
        encoder = initialise_encoder(LocalExpertsEncoder(X.shape[1], len(regions.centers), plan.hidden), X,
                                     generator, plan.device)
        network_start = time.perf_counter()
        n_iter = fit_to_layout(encoder, X_t, layout, regions, plan, rng, bar)
        log("network (%d epochs) in %.2f s", n_iter, time.perf_counter() - network_start)
    log("training (%d epochs) in %.2f s", n_iter, time.perf_counter() - start)
    return finish(encoder, X_t, n_iter, kl_divergence, layout=layout.float().cpu().numpy())


def fit_to_layout(encoder: LocalExpertsEncoder, X_t: torch.Tensor, layout: torch.Tensor, regions: LayoutRegions,
                  plan: TrainingPlan, rng: np.random.Generator, bar) -> int:
    """Stage 2: fit ``encoder`` to ``layout`` for ``plan.n_epochs`` epochs, then sharpen its gate; the epochs run.

    ``plan.callback`` sees stage ``"encoder"`` after every epoch (``True`` stops);
    ``bar`` ticks once an epoch.
    """
    scale = float(layout.std())
    encoder.out_scale.fill_(scale)
    encoder.centers.copy_(torch.from_numpy(regions.centers / scale))
    target = layout.float() / scale
    labels = torch.from_numpy(regions.labels).to(X_t.device)
    noise = torch.Generator(device=X_t.device).manual_seed(int(rng.integers(2**63 - 1)))
    regression = Regression(encoder, X_t, target, labels, plan.n_epochs, plan.learning_rate, noise)
    epochs_run = plan.n_epochs
    for epoch in range(1, plan.n_epochs + 1):
        mse = regression.epoch(rng.permutation(X_t.shape[0]))
        bar.set_postfix(stage="encoder", mse=f"{mse:.3g}", refresh=False)
        bar.update()
        if plan.callback is not None:
            logs = {"stage": "encoder", "epoch": epoch, "n_steps": regression.steps_done, "loss": mse,
                    "embedding": embed(encoder, X_t)}
            if plan.callback(epoch, logs):
                logger.info("callback stopped training after %d epochs", epoch)
                epochs_run = epoch
                break
    regression.close()
    encoder.sharpen_gate(GATE_SHARPENING)
    return epochs_run


def batch_for(n_samples: int) -> int:
    """Mini-batch size of the regression on ``n_samples`` points.

    The largest power of two up to ``n_samples / MIN_STEPS_PER_EPOCH`` within
    [``MIN_BATCH``, ``MAX_BATCH``], and at most ``n_samples``: 256 up to 51,199 points,
    512 for MNIST's 60,000, 1024 from 102,400 and 2048 from 204,800. Fewer, larger steps
    cost less per point (on the CPU a step has a fixed cost of about 1.4 ms; on a GPU a
    step is one graph replay whatever its size).
    """
    batch = 2 ** int(math.log2(max(n_samples // MIN_STEPS_PER_EPOCH, 1)))
    return min(max(MIN_BATCH, min(MAX_BATCH, batch)), n_samples)


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


class Regression:
    """The regression of an encoder onto a layout: Adam on a one-cycle schedule, in full mini-batches.

    Each step gathers a batch into fixed buffers (inputs, their noise, targets, regions),
    then runs the encoder on the noisy inputs, the loss (mean squared distance to the
    targets plus the gate's cross-entropy), its backward pass and Adam's update. On a
    CUDA device that whole step is captured once as a CUDA graph and replayed: its
    hundreds of small operations (about 260 counted on the CPU), each a kernel launch
    or host work that costs more than the GPU's own work for a network this small,
    become one launch. The learning rate and Adam's first beta, which the schedule
    changes every step, are read by the graph from device tensors. Every batch is
    full (the last one of an epoch wraps round to the start of the epoch's order), so
    one graph serves all steps. If the capture fails, the steps run eagerly, with a
    logged warning (or the error, with ``cuda_graph=True``).

    Parameters
    ----------
    encoder : LocalExpertsEncoder
        The network, in training mode, on ``X_t``'s device.
    X_t : torch.Tensor of shape (n_samples, n_features)
        The inputs.
    target : torch.Tensor of shape (n_samples, 2)
        The layout in units of ``encoder.out_scale``, on ``X_t``'s device.
    labels : torch.Tensor of shape (n_samples,), int64
        The points' regions, on ``X_t``'s device.
    n_epochs : int
        Epochs the schedule spans.
    learning_rate : float
        Peak of the one-cycle schedule for batches of ``MIN_BATCH`` points; larger batches
        (:func:`batch_for`) scale it by ``sqrt(batch / MIN_BATCH)``.
    noise : torch.Generator
        Source of the input noise, on ``X_t``'s device.
    cuda_graph : bool, optional
        Replay the step as a CUDA graph; default: on a CUDA device, falling back to
        eager steps if the capture fails.
    """

    #: Eager steps before the capture, as CUDA graphs need (lazy initialisation of
    #: cuBLAS and of Adam's state must not happen inside the graph).
    WARM_UP_STEPS = 3

    def __init__(self, encoder: LocalExpertsEncoder, X_t: torch.Tensor, target: torch.Tensor, labels: torch.Tensor,
                 n_epochs: int, learning_rate: float, noise: torch.Generator, cuda_graph: bool | None = None):
        device = X_t.device
        self.use_graph = device.type == "cuda" if cuda_graph is None else bool(cuda_graph)
        self.graph_required = cuda_graph is not None
        if self.use_graph and device.type != "cuda":
            raise ValueError(f"cuda_graph=True needs the data on a CUDA device, got {device}")
        self.encoder, self.X_t, self.target, self.labels, self.noise = encoder, X_t, target, labels, noise
        self.batch = batch_for(X_t.shape[0])
        self.steps_per_epoch = math.ceil(X_t.shape[0] / self.batch)
        learning_rate *= math.sqrt(max(self.batch, MIN_BATCH) / MIN_BATCH)
        self.optimizer = torch.optim.Adam(encoder.parameters(), lr=learning_rate, capturable=self.use_graph)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(self.optimizer, max_lr=learning_rate,
                                                             total_steps=n_epochs * self.steps_per_epoch)
        self.x = torch.empty(self.batch, X_t.shape[1], device=device, dtype=X_t.dtype)
        self.x_noise = torch.empty_like(self.x)
        self.y = torch.empty(self.batch, target.shape[1], device=device, dtype=target.dtype)
        self.regions = torch.empty(self.batch, device=device, dtype=labels.dtype)
        self.mse_sum = torch.zeros((), device=device)
        self.steps_done = 0
        self.graph = None
        if self.use_graph:  # what the graph reads where the schedule writes Python floats
            self.lr = torch.tensor(learning_rate, device=device)
            self.beta1, self.beta2 = (torch.tensor(b, device=device) for b in self.optimizer.param_groups[0]["betas"])

    def epoch(self, order: np.ndarray) -> float:
        """One epoch over the points in ``order`` (a permutation); returns its mean squared error."""
        order_t = torch.from_numpy(np.resize(order, self.steps_per_epoch * self.batch)).to(self.X_t.device)
        self.mse_sum.zero_()
        for step in range(self.steps_per_epoch):
            self._load(order_t[step * self.batch:(step + 1) * self.batch])
            if not self.use_graph:
                self._eager_step()
            elif self.steps_done < self.WARM_UP_STEPS:
                on_side_stream(self.X_t.device, self._eager_step)
            elif self.graph is None and not self._capture():
                self._eager_step()
            else:
                group = self.optimizer.param_groups[0]
                self.lr.fill_(group["lr"])
                self.beta1.fill_(group["betas"][0])
                self.graph.replay()
            self.scheduler.step()
            self.steps_done += 1
        return self.mse_sum.item() / self.steps_per_epoch

    def close(self) -> None:
        """Free the gradients, and the graph with its memory."""
        self.optimizer.zero_grad(set_to_none=True)
        self.graph = None

    def _load(self, idx: torch.Tensor) -> None:
        torch.index_select(self.X_t, 0, idx, out=self.x)
        self.x_noise.normal_(generator=self.noise)
        torch.index_select(self.target, 0, idx, out=self.y)
        torch.index_select(self.labels, 0, idx, out=self.regions)

    def _train_step(self) -> None:
        """Loss, backward and update on the loaded batch; kernels only, so that it can be captured."""
        embedded, logits = self.encoder.forward_with_logits(self.x + INPUT_NOISE * self.encoder.scale * self.x_noise)
        mse = (embedded / self.encoder.out_scale - self.y).pow(2).sum(dim=1).mean()
        (mse + torch.nn.functional.cross_entropy(logits, self.regions)).backward()
        self.optimizer.step()
        self.mse_sum.add_(mse.detach())

    def _eager_step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self._train_step()

    def _capture(self) -> bool:
        """Capture the step as ``self.graph``, which does not run it; on failure, False and eager steps from now on."""
        # Gradients are None at capture, so the graph's backward writes them rather than adding to them.
        self.optimizer.zero_grad(set_to_none=True)
        group = self.optimizer.param_groups[0]
        lr, betas = group["lr"], group["betas"]
        group["lr"], group["betas"] = self.lr, (self.beta1, self.beta2)
        try:
            self.graph = capture(self.X_t.device, self._train_step, what="the network's training step",
                                 required=self.graph_required)
        finally:
            group["lr"], group["betas"] = lr, betas
        self.use_graph = self.graph is not None
        return self.use_graph
