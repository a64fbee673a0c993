"""PLSD fine-tuning (Eq. 3): cross-entropy plus a pull of the embedded activations to targets.

``L = (1 − λ)·CE(C(x), y) + λ·mean_i ‖E(C_m(x_i)) − y'_i‖² / s²`` where ``E`` is the frozen
parametric t-SNE encoder and the mean runs over the points of the batch whose target
counts (edited points only, or every point with unedited ones held where they were).
``s`` is the embedding's scale (RMS distance of the points from their mean): t-SNE
coordinates span tens of units, so without it the embedding term swamps the
cross-entropy and SGD diverges; with ``s`` the same λ means the same on any
embedding, and ``scale=1`` gives the paper's Eq. 3 literally.

The user's model is never trained in place: a working copy is trained and its weights
are copied into the user's model only after each completed epoch, so a stop or a crash
mid-epoch leaves the model exactly as it was after the last good epoch.
"""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from plsd_widget._validation import check_fraction, check_positive_int
from plsd_widget.activations import capture
from plsd_widget.devices import resolve_device

logger = logging.getLogger(__name__)


def plsd_loss(logits, labels, embedded, targets, mask, lam: float, scale: float = 1.0):
    """Eq. 3 for one batch.

    Parameters
    ----------
    logits : Tensor of shape (batch, n_classes)
    labels : Tensor of shape (batch,)
    embedded : Tensor of shape (batch, 2)
        ``E(C_m(x))`` for the batch.
    targets : Tensor of shape (batch, 2)
        Target positions; rows outside ``mask`` are ignored (may be NaN).
    mask : BoolTensor of shape (batch,)
        Points whose embedding term counts.
    lam : float
        Weight λ in [0, 1] of the embedding term.
    scale : float, default=1
        Distances are divided by ``scale`` before squaring.

    Returns
    -------
    total, ce, emb : Tensor
        The loss and its two terms (``emb`` is 0 when no point in the batch counts).
    """
    ce = nn.functional.cross_entropy(logits, labels)
    if mask.any():
        diff = (embedded[mask] - targets[mask]) / scale
        emb = diff.pow(2).sum(dim=1).mean()
    else:
        emb = embedded.sum() * 0.0
    return (1.0 - lam) * ce + lam * emb, ce, emb


@dataclass
class FinetuneResult:
    """What a run did: completed epochs, whether it was stopped, per-epoch mean losses."""

    epochs_completed: int = 0
    stopped: bool = False
    history: list[dict] = field(default_factory=list)


class PLSDTrainer:
    """Fine-tunes a classifier so that ``E(C_m(x))`` moves to the edit targets.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier; updated in place only at the end of each completed epoch.
    layer : str
        Name of the layer ``m`` whose activations feed the encoder.
    encoder : torch.nn.Module
        The frozen parametric t-SNE network ``E``.
    lam : float, default=0.5
        λ in [0, 1]: weight of the embedding term (0 is plain cross-entropy).
    edited_only : bool, default=True
        Count the embedding term only for points with a finite target (the paper's
        best setting); otherwise unedited points are held at ``positions``.
    lr : float, default=0.01
        Learning rate of SGD with Nesterov momentum 0.9 (the paper's optimiser).
    scale : float, default=1
        Embedding scale ``s`` the distances are measured in (see the module docstring).
    batch_size : int, default=64
    device : str or torch.device, default="auto"
    random_state : int, default=0
        Seeds the batch order through a local generator.
    """

    def __init__(self, model, layer, encoder, *, lam=0.5, edited_only=True, lr=0.01, scale=1.0,
                 batch_size=64, device="auto", random_state=0):
        self.model = model
        self.layer = layer
        self.encoder = encoder
        self.lam = check_fraction(lam, "lam")
        self.edited_only = bool(edited_only)
        self.lr = float(lr)
        if not np.isfinite(self.lr) or self.lr <= 0:
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        self.scale = float(scale)
        if not np.isfinite(self.scale) or self.scale <= 0:
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.device = resolve_device(device)
        self.random_state = random_state

    def prepare_targets(self, targets, positions):
        """Return the loss targets and mask, or raise if the run would have nothing to pull."""
        targets = np.asarray(targets, dtype=np.float32)
        finite = np.isfinite(targets).all(axis=1)
        if self.edited_only:
            if self.lam > 0 and not finite.any():
                raise ValueError(
                    "no point has an edit target; edit the embedding first (e.g. session.shift) "
                    "or pass edited_only=False"
                )
            return np.where(finite[:, None], targets, 0.0).astype(np.float32), finite
        if positions is None:
            raise ValueError("edited_only=False needs the current positions to hold unedited points")
        full = np.where(finite[:, None], targets, np.asarray(positions, dtype=np.float32))
        return full.astype(np.float32), np.ones(len(full), dtype=bool)

    def fit(self, x, y, targets, *, epochs=1, positions=None, callback=None, stop_event=None):
        """Run ``epochs`` epochs of PLSD fine-tuning.

        Parameters
        ----------
        x : array-like of shape (n_samples, ...)
            Classifier inputs.
        y : array-like of shape (n_samples,)
        targets : array-like of shape (n_samples, 2)
            Edit targets, NaN where a point is free.
        epochs : int
        positions : array-like of shape (n_samples, 2), optional
            Current embedding, needed when ``edited_only=False``.
        callback : callable, optional
            ``callback(step, logs) -> bool`` after every batch; ``logs`` has ``epoch``,
            ``batch``, ``n_batches``, ``loss``, ``ce``, ``emb`` and ``epoch_end``
            (True on the last batch of an epoch, after the model was updated).
            Returning True stops at once; a stop inside an epoch leaves the model
            at the last completed epoch.
        stop_event : threading.Event, optional
            Checked before every batch; when set the run stops the same way.

        Returns
        -------
        FinetuneResult
        """
        epochs = check_positive_int(epochs, "epochs")
        x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        y = torch.as_tensor(np.asarray(y), dtype=torch.long)
        if len(x) != len(y) or len(targets) != len(y):
            raise ValueError(
                f"x, y and targets must have the same length, got {len(x)}, {len(y)} and {len(targets)}"
            )
        tgt, mask = self.prepare_targets(targets, positions)
        tgt = torch.from_numpy(tgt)
        mask = torch.from_numpy(mask)
        stop_event = stop_event or threading.Event()

        work = copy.deepcopy(self.model).to(self.device).train()
        encoder = copy.deepcopy(self.encoder).to(self.device).eval()
        for p in encoder.parameters():
            p.requires_grad_(False)
        opt = torch.optim.SGD(work.parameters(), lr=self.lr, momentum=0.9, nesterov=True)
        gen = torch.Generator().manual_seed(self.random_state)
        use_amp = self.device.type == "cuda"
        n_batches = (len(x) + self.batch_size - 1) // self.batch_size
        result = FinetuneResult()
        step = 0
        with capture(work, self.layer) as captured:
            for epoch in range(epochs):
                order = torch.randperm(len(x), generator=gen)
                sums = np.zeros(3)
                for b in range(n_batches):
                    if stop_event.is_set():
                        result.stopped = True
                        return result
                    idx = order[b * self.batch_size : (b + 1) * self.batch_size]
                    xb, yb = x[idx].to(self.device), y[idx].to(self.device)
                    with torch.autocast(self.device.type, enabled=use_amp):
                        logits = work(xb)
                        h = captured[-1]
                        if self.lam > 0 and not h.requires_grad:
                            raise ValueError(
                                f"layer {self.layer!r} does not receive gradients (frozen or detached); "
                                "unfreeze it or pick a layer the loss can reach"
                            )
                        emb = encoder(h.float())
                    loss, ce, em = plsd_loss(
                        logits.float(), yb, emb.float(), tgt[idx].to(self.device), mask[idx].to(self.device),
                        self.lam, self.scale,
                    )
                    if not torch.isfinite(loss):
                        raise FloatingPointError(
                            f"loss became {loss.item()} in epoch {epoch + 1}, batch {b + 1}; "
                            "lower the learning rate or λ"
                        )
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sums += (loss.item(), ce.item(), em.item())
                    last = b == n_batches - 1
                    if last:
                        self.model.load_state_dict(work.state_dict())
                        result.epochs_completed = epoch + 1
                        result.history.append(dict(zip(("loss", "ce", "emb"), sums / n_batches)))
                    logs = {"epoch": epoch + 1, "n_epochs": epochs, "batch": b + 1, "n_batches": n_batches,
                            "loss": loss.item(), "ce": ce.item(), "emb": em.item(), "epoch_end": last}
                    step += 1
                    if callback is not None and callback(step, logs):
                        result.stopped = True
                        return result
        return result
