"""The PLSD loss (Eq. 3) of one batch: a pure function of tensors.

The embedding term has two parts: the squared distances ``‖E(C_m(x_i)) − t_i‖² / s²`` of
the counted points, plus ``anchor`` times those of the held points. The config's
``reduction`` only changes their denominators (:func:`batch_totals`): ``"edited"`` divides
each part by its number of points, so an edited point weighs the same whatever share of
the batch is edited; ``"batch"`` divides both by the batch size (Eq. 3 per instance,
averaged as the cross-entropy is), which is ``"edited"`` times each part's share.
"""

from __future__ import annotations

import numpy as np
from torch import nn


def embedding_scale(positions) -> float:
    """The RMS distance of ``positions`` from their mean: the unit ``s`` of the embedding term."""
    positions = np.asarray(positions, dtype=np.float64)
    scale = float(np.sqrt(((positions - positions.mean(axis=0)) ** 2).sum(axis=1).mean()))
    if not scale > 0:
        raise ValueError("the positions are all one point, so they have no scale; pass a positive scale")
    return scale


def batch_totals(n_samples: int, mask, sample_weight=None, held=None,
                 reduction: str = "edited") -> tuple[float, float, float]:
    """The denominators of :func:`plsd_loss`'s three terms for a batch of ``n_samples`` (its ``totals``).

    The cross-entropy's is ``n_samples`` or the sum of ``sample_weight``; the embedding
    term's and the anchor term's are the numbers of ``mask`` and ``held`` points with
    ``reduction="edited"``, ``n_samples`` with ``"batch"``.
    """
    ce_total = n_samples if sample_weight is None else float(sample_weight.sum())
    if reduction == "batch":
        return ce_total, float(n_samples), float(n_samples)
    return (ce_total, float(mask.sum()) if mask is not None else 0.0,
            float(held.sum()) if held is not None else 0.0)


def equivalent_lam(lam: float, share: float, *, to: str) -> float:
    """λ of the other reduction that weighs the embedding term against the cross-entropy alike.

    With a share ``f`` of a batch's points counted, ``"batch"``'s embedding term is
    ``"edited"``'s times ``f``, so ``λ_b·f / (1 − λ_b) = λ_e / (1 − λ_e)``: the two losses
    are then proportional (by ``(1 − λ_b) / (1 − λ_e)``, a change of learning rate). The
    paper's λ 0.1 per instance with 120 of 2,920 points edited is ``"edited"``'s 0.0045;
    this package's default 0.5 over the edited points is ``"batch"``'s 0.96.

    Parameters
    ----------
    lam : float in [0, 1)
        λ under the reduction converted from.
    share : float in (0, 1]
        Counted points per batch point (``n_edited / n_samples`` for the edited points only).
    to : {"edited", "batch"}
        The reduction converted to.
    """
    ratio = lam / (1.0 - lam)
    ratio = ratio * share if to == "edited" else ratio / share
    return ratio / (1.0 + ratio)


def plsd_loss(logits, labels, embedded, targets, mask, lam: float, scale: float = 1.0, sample_weight=None,
              held=None, anchor: float = 0.0, totals=None, *, reduction: str = "edited"):
    """Eq. 3 for one batch.

    Parameters
    ----------
    logits : Tensor of shape (batch, n_classes)
    labels : Tensor of shape (batch,)
    embedded : Tensor of shape (batch, 2)
        ``E(C_m(x))`` for the batch.
    targets : Tensor of shape (batch, 2)
        Target positions; rows outside ``mask`` and ``held`` are ignored (may be NaN).
    mask : BoolTensor of shape (batch,)
        Points whose embedding term counts.
    lam : float
        Weight λ in [0, 1] of the embedding term.
    scale : float, default=1
        Distances are divided by ``scale`` before squaring.
    sample_weight : Tensor of shape (batch,), optional
        Per-sample weights of the cross-entropy (a weighted mean); None weighs all alike.
    held : BoolTensor of shape (batch,), optional
        Points held at their ``targets`` (their current positions) by a second term.
    anchor : float, default=0
        Weight of that term relative to the first.
    totals : tuple of three floats, optional
        The denominators of the three terms (:func:`batch_totals`). Pass the global
        batch's when this batch is one process's shard of it: the terms are then this
        shard's share, and their sum over the processes is the global batch's loss.
        None: this batch's own, for ``reduction``.
    reduction : {"edited", "batch"}, default="edited"
        How the embedding terms average (see the module docstring); used only to make
        ``totals`` when none are given.

    Returns
    -------
    total, ce, emb : Tensor
        The loss and its two terms (``emb`` is 0 when no point in the batch counts).
    """
    if totals is None:
        totals = batch_totals(len(labels), mask, sample_weight, held, reduction)
    ce_total, mask_total, held_total = totals
    ce = nn.functional.cross_entropy(logits, labels, reduction="none")
    if sample_weight is not None:
        ce = ce * sample_weight
    ce = ce.sum() / max(ce_total, 1e-12)
    emb = embedded.sum() * 0.0
    for points, weight, total in ((mask, 1.0, mask_total), (held, anchor, held_total)):
        if points is not None and weight > 0 and total > 0:
            diff = (embedded[points] - targets[points]) / scale
            emb = emb + weight * diff.pow(2).sum() / total
    return (1.0 - lam) * ce + lam * emb, ce, emb
