"""PLSD fine-tuning (Eq. 3): cross-entropy plus a pull of the embedded activations to targets.

``L = (1 − λ)·CE(C(x), y) + λ·‖E(C_m(x_i)) + o_i − t_i‖² / s²`` over the points whose
target counts, ``E`` the frozen parametric t-SNE encoder. ``o_i`` is a constant per-sample
offset, zero unless the view shows training points where the embedding put them rather
than where ``E`` does (``ParametricTSNE.offsets_``, ``Session.offsets``): it moves the
frame of the targets, not the gradient. ``s`` is the embedding's scale (RMS distance of
the points from their mean): t-SNE coordinates span tens of units, so without it the
embedding term swamps the cross-entropy and SGD diverges; with it the same λ means the
same on any embedding, and ``s = 1`` is the paper's Eq. 3 literally. ``PLSDTrainer``
measures ``s`` from the positions unless given one (``scale="auto"``).

:mod:`~plsd_widget.finetune.loss` is the loss of one batch, a pure function;
:mod:`~plsd_widget.finetune.data` the data sources (arrays, Dataset, DataLoader) and the
cross-entropy's sample weights; :mod:`~plsd_widget.finetune.trainer` :class:`PLSDTrainer`,
which runs a :class:`~plsd_widget.config.FinetuneConfig`'s epochs.
"""

from plsd_widget.finetune.data import balanced_weights, check_sample_weight
from plsd_widget.finetune.loss import embedding_scale, equivalent_lam, plsd_loss
from plsd_widget.finetune.trainer import FinetuneResult, PLSDTrainer

__all__ = ["PLSDTrainer", "FinetuneResult", "plsd_loss", "embedding_scale", "equivalent_lam", "balanced_weights", "check_sample_weight"]
