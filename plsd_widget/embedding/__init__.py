"""Parametric t-SNE: ``ParametricTSNE``, its affinities, networks and training, one job per module.

``from plsd_widget.embedding import ParametricTSNE, joint_probabilities, start_warm_up``:
each is imported on first use, so importing this package loads no torch and starts no
thread. The numba kernels' background compilation (:mod:`~.warm_up`) starts when
``ParametricTSNE.fit`` or ``ParametricTSNE.load`` runs, or when ``start_warm_up()`` is
called (``PLSD_WARM_UP=0`` turns it off).

The estimator and what it runs:

* :mod:`~.parametric`: ``ParametricTSNE``: parameters, checks, ``fit`` as named steps,
  ``transform`` / ``encode``, scikit-learn tags.
* :mod:`~.plan`: what ``fit`` will do on this data (mode, epochs, widths), and what
  trainers return.
* :mod:`~.affinity`: the sparse input affinities ``P`` (kNN search, perplexity calibration).
* :mod:`~.initialization`: seeded weights, input scaling, the PCA target and pretraining.
* :mod:`~.kl_training`: the KL epochs of an MLP (exact, neighbourhood batches, grid gradient).
* :mod:`~.layout`: non-parametric t-SNE (stage 1 of scheme "distil").
* :mod:`~.distil`: scheme "distil", and its stage 2: a local-experts network regressed onto the layout.
* :mod:`~.neighbor_offsets`: ``transform``'s offsets for new points (scheme "distil").
* :mod:`~.persistence`: ``save`` / ``load`` (safetensors + JSON) and the file checks.

Their parts: :mod:`~.encoders` (the networks), :mod:`~.losses` (exact KL),
:mod:`~.fft_gradient` and :mod:`~.attraction` (the grid gradient), :mod:`~.edges` and
:mod:`~.locality` (``P``'s edges and memory order), :mod:`~.cuda_graphs`,
:mod:`~.lazy_kernel` and :mod:`~.warm_up` (numba kernels built on first use or ahead).

Measuring any embedding: :mod:`~.quality` (kNN recall and accuracy, trustworthiness).
"""

from plsd_widget._lazy import lazy_attributes

#: Public name -> the module that defines it, imported when the name is first used.
_LAZY = {
    "ParametricTSNE": "plsd_widget.embedding.parametric",
    "joint_probabilities": "plsd_widget.embedding.affinity",
    "start_warm_up": "plsd_widget.embedding.warm_up",
}
__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
