"""Where training starts: the networks' seeded weights and input scaling, the PCA target, PCA pretraining.

Before KL training (:mod:`~plsd_widget.embedding.kl_training`) the MLP is regressed
onto the leading principal components of ``X`` (the paper's step 4, :func:`pretrain`).
Scheme "distil" starts its free layout from the same components, scaled to openTSNE's
standard deviation ``LAYOUT_INIT_STD``.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["LAYOUT_INIT_STD", "PCA_INIT_STD", "initialise_encoder", "pca_target", "pretrain"]

#: Standard deviation of the first coordinate of the PCA target used for pretraining.
#: openTSNE scales its PCA initialisation to 1e-4, which suits free coordinates. For
#: the network, with the default schedule on the digits data, a target std of 1
#: ended at KL 0.85 against 0.98 for 1e-4 or 1e-2 and 1.09 for 3.
PCA_INIT_STD = 1.0
#: openTSNE scales its PCA initialisation of free coordinates to this standard deviation.
LAYOUT_INIT_STD = 1e-4


def pca_target(X: np.ndarray, n_components: int) -> np.ndarray:
    """Leading principal components of ``X``, signs fixed, first column with std ``PCA_INIT_STD``; float32."""
    Xc = X.astype(np.float64) - X.mean(axis=0)
    _, eigvec = np.linalg.eigh(Xc.T @ Xc)
    components = eigvec[:, ::-1][:, :n_components]
    if components.shape[1] < n_components:  # fewer features than components
        components = np.pad(components, ((0, 0), (0, n_components - components.shape[1])))
    signs = np.sign(components[np.abs(components).argmax(axis=0), range(n_components)])
    target = Xc @ (components * np.where(signs == 0, 1.0, signs))
    std0 = target[:, 0].std()
    return (target * (PCA_INIT_STD / std0 if std0 > 0 else 1.0)).astype(np.float32)


def initialise_encoder(encoder: torch.nn.Module, X: np.ndarray, generator: torch.Generator, device):
    """Draw ``encoder``'s weights from ``generator`` and set its input scaling from ``X``; on ``device``, training."""
    encoder.reset_parameters(generator)
    encoder.mean.copy_(torch.from_numpy(X.mean(axis=0)))
    scale = float(np.sqrt(X.var(axis=0).mean()))
    encoder.scale.fill_(scale if scale > 0 else 1.0)
    return encoder.to(device).train()


def pretrain(encoder, optimizer, X_t: torch.Tensor, target: torch.Tensor, *, n_epochs: int, batch_size: int,
             rng: np.random.Generator, bar) -> None:
    """Regress ``encoder(X_t)`` onto ``target`` (mean squared error) for ``n_epochs`` epochs.

    Full-batch for data up to ``batch_size``, else shuffled batches of that size;
    ``target`` is in units of ``encoder.out_scale``. Ticks ``bar`` once an epoch.
    """
    for _ in range(n_epochs):
        mse = _regression_epoch(encoder, optimizer, X_t, target, _batches(X_t.shape[0], batch_size, rng))
        bar.set_postfix(stage="pca", mse=f"{mse:.3g}", refresh=False)
        bar.update()


def _batches(n: int, batch_size: int, rng: np.random.Generator):
    """Index batches of one pretraining epoch: a shuffled partition of range(n)."""
    if n <= batch_size:
        return [slice(None)]
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _regression_epoch(encoder, optimizer, X_t, target, batches) -> float:
    """One epoch of regression over ``batches``; returns the epoch's mean loss."""
    losses = []
    for idx in batches:
        idx_t = idx if isinstance(idx, slice) else torch.from_numpy(idx).to(X_t.device)
        loss = (encoder(X_t[idx_t]) / encoder.out_scale - target[idx_t]).pow(2).sum(dim=1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return torch.stack(losses).mean().item()
