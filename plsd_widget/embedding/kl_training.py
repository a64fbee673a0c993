"""Training an MLP on t-SNE's KL divergence: modes "exact", "batch" and "full" of ``ParametricTSNE``.

:func:`fit_kl` builds the :class:`~plsd_widget.embedding.encoders.TSNEEncoder`, pretrains
it on the PCA (:mod:`~plsd_widget.embedding.initialization`), then runs the KL epochs
with Adam, the attraction multiplied by ``early_exaggeration`` during the first
``early_exaggeration_fraction`` of them. What one epoch is depends on the mode:

* ``"exact"`` (data up to ``batch_size``): one step on the exact KL divergence of all pairs;
* ``"batch"``: neighbourhood mini-batches (:func:`neighbourhood_batches`), each the exact KL
  divergence of ``P`` restricted to the batch and renormalised;
* ``"full"``: one step with the grid gradient of all points
  (:func:`~plsd_widget.embedding.fft_gradient.tsne_gradient_fft`), back-propagated with
  ``Y.backward(dC/dY)``.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from plsd_widget.embedding.edges import edges_from_csr
from plsd_widget.embedding.encoders import TSNEEncoder, embed
from plsd_widget.embedding.fft_gradient import tsne_gradient_fft
from plsd_widget.embedding.initialization import initialise_encoder, pca_target, pretrain
from plsd_widget.embedding.losses import tsne_kl_loss
from plsd_widget.embedding.plan import TrainedEncoder, TrainingPlan, finish
from plsd_widget.progress import progress_bar

__all__ = ["NEIGHBOURS_PER_ANCHOR", "fit_kl", "neighbourhood_batches", "sample_neighbours", "train_kl"]

logger = logging.getLogger(__name__)

#: Neighbours drawn from ``P`` for each anchor of a neighbourhood batch.
NEIGHBOURS_PER_ANCHOR = 3


def fit_kl(X: np.ndarray, P, plan: TrainingPlan, rng: np.random.Generator,
           generator: torch.Generator) -> TrainedEncoder:
    """Initialise, pretrain and KL-train an MLP on ``X`` with affinities ``P`` (CSR) as ``plan`` says."""
    start = time.perf_counter()
    X_t = torch.from_numpy(X).to(plan.device)
    encoder = initialise_encoder(TSNEEncoder(X.shape[1], plan.n_components, plan.hidden), X, generator, plan.device)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=plan.learning_rate)
    with progress_bar(plan.pretrain_epochs + plan.n_epochs, enabled=plan.verbose, desc="ParametricTSNE",
                      unit="step") as bar:
        if plan.pretrain_epochs:
            target = torch.from_numpy(pca_target(X, plan.n_components)).to(plan.device)
            pretrain(encoder, optimizer, X_t, target, n_epochs=plan.pretrain_epochs, batch_size=plan.batch_size,
                     rng=rng, bar=bar)
        n_iter, kl_divergence = train_kl(encoder, optimizer, X_t, P, plan, rng, bar)
    optimizer.zero_grad(set_to_none=True)
    (logger.info if plan.verbose else logger.debug)("training (%d epochs) in %.2f s", n_iter,
                                                    time.perf_counter() - start)
    return finish(encoder, X_t, n_iter, kl_divergence)


def train_kl(encoder, optimizer, X_t: torch.Tensor, P, plan: TrainingPlan, rng: np.random.Generator,
             bar) -> tuple[int, float]:
    """Run the KL epochs; return (epochs run, final KL divergence).

    The final KL divergence is exact for mode "exact", the grid estimate for "full" and the
    mean batch KL of the last epoch for "batch" (NaN if a callback stopped it while exaggerated).
    """
    full_edges = _coo_edges(P, X_t.device) if plan.mode == "exact" else None
    grid_edges = edges_from_csr(P, X_t.device) if plan.mode == "full" else None
    n_early = round(plan.early_exaggeration_fraction * plan.n_epochs)
    n_steps = 0
    for epoch in range(plan.n_epochs):
        exaggeration = float(plan.early_exaggeration) if epoch < n_early else 1.0
        losses = []
        optimizer.zero_grad(set_to_none=True)
        for loss in _epoch_steps(encoder, X_t, P, full_edges, grid_edges, exaggeration, plan.batch_size, rng):
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss)
            n_steps += 1
        loss_value = torch.stack(losses).mean().item()
        bar.set_postfix(stage="kl", loss=f"{loss_value:.4f}", exaggeration=exaggeration, refresh=False)
        bar.update()
        if plan.callback is not None:
            logs = {"stage": "kl", "epoch": epoch + 1, "n_steps": n_steps, "loss": loss_value,
                    "exaggeration": exaggeration, "embedding": embed(encoder, X_t)}
            if plan.callback(epoch + 1, logs):
                logger.info("callback stopped training after %d epochs", epoch + 1)
                break
    if full_edges is not None:  # exact final KL, without exaggeration
        with torch.no_grad():
            loss_value = tsne_kl_loss(encoder(X_t), full_edges).item()
    elif grid_edges is not None:  # grid estimate of the final KL, without exaggeration
        with torch.no_grad():
            loss_value = tsne_gradient_fft(encoder(X_t), grid_edges)[1].item()
    elif exaggeration != 1.0:  # stopped early: the batch losses were exaggerated
        loss_value = float("nan")
    return epoch + 1, loss_value


def _epoch_steps(encoder, X_t, P, full_edges, grid_edges, exaggeration, batch_size, rng):
    """Run backward for each step of one KL epoch, yielding its loss before the optimiser step."""
    if grid_edges is not None:  # whole data set, FFT-accelerated exact gradient
        Y = encoder(X_t)
        grad, kl = tsne_gradient_fft(Y, grid_edges, exaggeration=exaggeration)
        Y.backward(gradient=grad)
        yield kl
        return
    batches = [(slice(None), full_edges)] if full_edges is not None else \
        neighbourhood_batches(P, batch_size, rng, X_t.device)
    for idx, edges in batches:
        loss = tsne_kl_loss(encoder(X_t[idx]), edges, exaggeration=exaggeration)
        loss.backward()
        yield loss.detach()


def neighbourhood_batches(P, batch_size: int, rng: np.random.Generator, device):
    """Yield the ``(index, edges)`` batches of one epoch of mode "batch".

    Each batch is ``batch_size // 4`` random *anchor* points plus ``NEIGHBOURS_PER_ANCHOR``
    neighbours per anchor drawn from the anchor's row of ``P`` (CSR); ``edges`` are ``P``
    restricted to the batch, for :func:`~plsd_widget.embedding.losses.tsne_kl_loss`, which
    renormalises them. Unlike random batches (the original recipe, in which a batch holds
    almost none of a point's neighbours once ``n`` is large, so the attraction vanishes and
    the map collapses), every batch contains neighbourhoods. Every point is an anchor once.
    """
    n = P.shape[0]
    cum = np.concatenate([[0.0], np.cumsum(P.data)])
    n_anchors = max(1, batch_size // (1 + NEIGHBOURS_PER_ANCHOR))
    order = rng.permutation(n)
    for i in range(0, n, n_anchors):
        anchors = order[i:i + n_anchors]
        neighbours = sample_neighbours(P, cum, anchors, NEIGHBOURS_PER_ANCHOR, rng)
        idx = np.unique(np.concatenate([anchors, neighbours]))
        yield torch.from_numpy(idx).to(device), _coo_edges(P[idx][:, idx], device)


def sample_neighbours(P, cum: np.ndarray, anchors: np.ndarray, per_anchor: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Draw ``per_anchor`` neighbours of each anchor from its row of CSR ``P`` (with replacement).

    ``cum`` is ``[0, cumsum(P.data)]``, so row ``i`` covers ``cum[indptr[i]:indptr[i + 1] + 1]``.
    """
    start = P.indptr[anchors].repeat(per_anchor)
    stop = P.indptr[anchors + 1].repeat(per_anchor)
    u = rng.random(start.size)
    targets = cum[start] + u * (cum[stop] - cum[start])
    pos = np.clip(np.searchsorted(cum, targets, side="left") - 1, start, stop - 1)
    return P.indices[pos]


def _coo_edges(P_sub, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows, columns and values of sparse ``P_sub`` as tensors on ``device``."""
    coo = P_sub.tocoo()
    return (torch.as_tensor(coo.row, dtype=torch.int64, device=device),
            torch.as_tensor(coo.col, dtype=torch.int64, device=device),
            torch.as_tensor(coo.data, dtype=torch.float32, device=device))
