"""Non-parametric t-SNE: free 2-D coordinates optimised with the grid gradient.

This is the classic t-SNE optimisation (van der Maaten, 2014; the schedule of
openTSNE and FIt-SNE): gradient descent with momentum and per-coordinate gains
("delta-bar-delta"), an early-exaggeration phase followed by a plain one, a
learning rate of ``n / exaggeration`` (in openTSNE's units) and each point's step
clipped to a maximum length. The gradient is :func:`~plsd_widget.embedding.fft_gradient.tsne_gradient_fft`,
so one iteration costs O(n + nnz(P) + G^2 log G).

:func:`fit_layout` is the first stage of ``ParametricTSNE(scheme="distil")``: the
layout it returns is ``embedding_`` and the regression target of the encoder
(:mod:`~plsd_widget.embedding.distil`, the second stage).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from plsd_widget.embedding.cuda_graphs import capture, on_side_stream
from plsd_widget.embedding.edges import SymmetricEdges
from plsd_widget.embedding.fft_gradient import GRID_SPACING, Grid, gradient_on_grid, grid_for, tsne_gradient_fft
from plsd_widget.embedding.locality import in_original_order

__all__ = ["GainsDescent", "fit_layout", "tsne_layout"]

logger = logging.getLogger(__name__)

#: openTSNE's default schedule: iterations with early exaggeration, then without.
EARLY_ITER, LATE_ITER = 250, 500
EARLY_EXAGGERATION = 12.0
#: ``tsne_layout`` reports progress every this many iterations.
REPORT_EVERY = 50


class GainsDescent:
    """t-SNE's optimiser for free coordinates: momentum, adaptive gains, clipped steps.

    Each call to :meth:`step` computes the gradient of the KL divergence and moves
    the points by ``update = momentum * update - learning_rate * gains * grad``,
    where a coordinate's gain grows by 0.2 while its update keeps going downhill
    (gradient and update of opposite signs) and shrinks by 0.8 once the gradient
    turns against the update (floored at ``min_gain``).
    Updates longer than ``max_step`` are shortened to that length, and the layout
    is re-centred after every step.

    On a CUDA device a step is, after the host has chosen its grid, a few hundred
    small kernels: far more launch work than GPU work. So the first step on each
    grid size runs eagerly and is captured as a CUDA graph, which later steps on
    that size replay (one launch); the schedule's values are read from device
    tensors. The graphs share one memory pool, and every state they update
    (coordinates, update, gains) is written in place. Steps that estimate the KL
    divergence, or whose grid is clipped to its size limits (its cells then change
    size with the extent), run eagerly. If a capture fails, all later steps run
    eagerly, with a logged warning (or the error, with ``cuda_graphs=True``).

    Parameters
    ----------
    Y : torch.Tensor of shape (n_samples, 2)
        Initial coordinates (copied).
    edges : SymmetricEdges
        The affinity matrix ``P``.
    max_step : float, default=5.0
        Longest move of a point in one step, in embedding units (openTSNE's
        ``max_step_norm``); it keeps the first large steps from scattering points.
    min_gain : float, default=0.01
    cuda_graphs : bool, optional
        Replay steps as CUDA graphs; default: on a CUDA device, falling back to eager
        steps if a capture fails.
    """

    def __init__(self, Y: torch.Tensor, edges: SymmetricEdges, *, max_step: float = 5.0,
                 min_gain: float = 0.01, cuda_graphs: bool | None = None):
        self.Y = Y.detach().clone()
        self.edges = edges
        self.max_step = max_step
        self.min_gain = min_gain
        self.update = torch.zeros_like(self.Y)
        self.gains = torch.ones_like(self.Y)
        self.use_graphs = Y.device.type == "cuda" if cuda_graphs is None else bool(cuda_graphs)
        self.graphs_required = cuda_graphs is not None
        if self.use_graphs and Y.device.type != "cuda":
            raise ValueError(f"cuda_graphs=True needs Y on a CUDA device, got {Y.device}")
        self.graphs: dict[int, tuple[torch.cuda.CUDAGraph, Grid]] = {}  # by nodes per side
        if self.use_graphs:
            self._schedule = {name: torch.zeros((), device=Y.device, dtype=Y.dtype)
                              for name in ("learning_rate", "momentum", "exaggeration")}
            self._pool = torch.cuda.graph_pool_handle()

    def step(self, *, learning_rate: float, momentum: float, exaggeration: float = 1.0,
             with_kl: bool = False) -> torch.Tensor | None:
        """Take one step; with ``with_kl``, return the KL divergence estimate before it (0-d tensor)."""
        grid = grid_for(self.Y)
        if not self.use_graphs or with_kl or grid.h != GRID_SPACING:
            return self._step(grid, learning_rate, momentum, exaggeration, with_kl)
        for name, value in (("learning_rate", learning_rate), ("momentum", momentum), ("exaggeration", exaggeration)):
            self._schedule[name].fill_(value)
        if grid.n_nodes in self.graphs:
            self.graphs[grid.n_nodes][0].replay()
        else:
            self._step_and_capture(grid)
        return None

    def _step(self, grid: Grid, learning_rate, momentum, exaggeration, with_kl: bool) -> torch.Tensor | None:
        grad, kl = gradient_on_grid(self.Y, self.edges, grid, exaggeration=exaggeration, with_kl=with_kl)
        overshot = (self.update * grad) > 0  # the last update went uphill along this coordinate
        self.gains.copy_(torch.where(overshot, self.gains * 0.8, self.gains + 0.2)).clamp_min_(self.min_gain)
        self.update.mul_(momentum).sub_(learning_rate * self.gains * grad)
        norms = self.update.norm(dim=1, keepdim=True)
        self.update.mul_(torch.where(norms > self.max_step, self.max_step / norms, 1.0))
        self.Y.add_(self.update)
        self.Y.sub_(self.Y.mean(dim=0))
        return kl

    def _step_and_capture(self, grid: Grid) -> None:
        """Take the step eagerly (which also creates the FFT plans a capture needs), then capture it."""
        on_side_stream(self.Y.device, self._step, grid, **self._schedule, with_kl=False)
        graph = capture(self.Y.device, lambda: self._step(grid, **self._schedule, with_kl=False),
                        what="the layout's step", required=self.graphs_required, pool=self._pool)
        if graph is None:
            self.use_graphs = False
            return
        self.graphs[grid.n_nodes] = graph, grid  # the grid's tensors must outlive the graph that reads them


def tsne_layout(edges: SymmetricEdges, init: torch.Tensor, *, n_early: int = EARLY_ITER,
                n_late: int = LATE_ITER, report=None) -> torch.Tensor:
    """Optimise a 2-D t-SNE layout with openTSNE's schedule.

    ``n_early`` iterations with exaggeration 12 and momentum 0.5, then ``n_late``
    without exaggeration and momentum 0.8; the learning rate is
    ``n / (4 * exaggeration)``, which is openTSNE's ``n / exaggeration`` for our
    gradient (it keeps t-SNE's factor 4, openTSNE's does not).

    Parameters
    ----------
    edges : SymmetricEdges
        The affinity matrix ``P``.
    init : torch.Tensor of shape (n_samples, 2)
        Starting coordinates; openTSNE uses the PCA scaled to standard deviation 1e-4.
    n_early, n_late : int
        Iterations of the two phases.
    report : callable, optional
        ``report(iteration, kl, exaggeration, Y) -> bool``, called every
        ``REPORT_EVERY`` iterations and after the last, with the KL divergence
        estimate (without exaggeration) and the current layout; returning
        ``True`` stops the optimisation there.

    Returns
    -------
    torch.Tensor of shape (n_samples, 2)
        The layout, on the device of ``init``.
    """
    n = init.shape[0]
    descent = GainsDescent(init, edges)
    total = n_early + n_late
    for iteration in range(1, total + 1):
        early = iteration <= n_early
        exaggeration = EARLY_EXAGGERATION if early else 1.0
        reporting = report is not None and (iteration % REPORT_EVERY == 0 or iteration == total)
        kl = descent.step(learning_rate=n / (4.0 * exaggeration), momentum=0.5 if early else 0.8,
                          exaggeration=exaggeration, with_kl=reporting)
        if reporting and report(iteration, kl.item(), exaggeration, descent.Y):
            break
    return descent.Y


def fit_layout(edges: SymmetricEdges, init: torch.Tensor, order: np.ndarray | None, callback,
               bar) -> tuple[torch.Tensor, float]:
    """Stage 1 of scheme "distil": :func:`tsne_layout` of ``P``'s ``edges``; the layout and its KL divergence.

    ``edges`` and ``init`` may be for the points in ``order``, not their own: on the
    CPU the layout runs with them sorted along a Z-order curve of its start, which
    keeps neighbours near each other in memory (:mod:`~plsd_widget.embedding.locality`).
    What this returns, and what ``callback`` sees (stage ``"layout"``, every
    ``REPORT_EVERY`` iterations; ``True`` ends the layout there), is in the points'
    own order. Ticks ``bar`` once an iteration.
    """
    done = 0

    def report(iteration, kl, exaggeration, Y):
        nonlocal done
        bar.set_postfix(stage="layout", kl=f"{kl:.4f}", exaggeration=exaggeration, refresh=False)
        bar.update(iteration - done)
        done = iteration
        if callback is None:
            return False
        logs = {"stage": "layout", "iteration": iteration, "loss": kl, "exaggeration": exaggeration,
                "embedding": in_original_order(Y.float().cpu(), order).numpy().copy()}
        stop = bool(callback(iteration, logs))
        if stop:
            logger.info("callback ended the layout after %d iterations; fitting the encoder to it", iteration)
        return stop

    layout = tsne_layout(edges, init, report=report)
    bar.update(EARLY_ITER + LATE_ITER - done)  # the rest, if a callback ended the layout early
    kl_divergence = tsne_gradient_fft(layout, edges)[1].item()
    return in_original_order(layout, order), kl_divergence
