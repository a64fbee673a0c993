"""Saliency maps: which input features move a classifier's logit, or its point in the 2-D view.

Three attributions, all computed with :func:`torch.autograd.grad` with respect to the
input only (the model's parameters never get a ``.grad``), in batches, with the model
in eval mode (its own and its sub-modules' modes are restored afterwards):

* :func:`gradient_saliency`: the vanilla gradient of a class logit (default: the
  predicted class) with respect to the input;
* :func:`integrated_gradients`: integrated gradients (Sundararajan et al., 2017) of a
  class logit along the straight path from a baseline (default: zeros) to the input;
* :func:`directional_saliency`: the gradient of ``<direction, E(C_m(x))>``, where
  ``C_m`` is the classifier up to layer ``m`` and ``E`` the encoder of a fitted
  :class:`~plsd_widget.embedding.ParametricTSNE` (exactly what its ``encode`` computes,
  input normalisation and output scale included). It answers "what in this image
  would move its point in the 2-D view along ``direction``", e.g. toward another
  cluster (:func:`direction_between` for classes, :func:`direction_between_selections`
  for any two groups of points) or toward where the user dragged a selection
  (:func:`direction_towards`). The forward pass stops at layer ``m``: the layers after
  it are not run. Sign: positive is what moves the point *from a toward b*, the
  gradient of ``<Y, c_b - c_a>`` (``c`` the centres); seed 002's formula
  ``dY/dX . (a - b)`` is the opposite sign of its own prose ("from a to b"), and we
  follow the prose (:func:`directional_saliency` says why).

:func:`rank_correlation` compares two sets of maps sample by sample (Spearman), which is
what the model-randomisation sanity check of Adebayo et al. (2018, "Sanity checks for
saliency maps") needs: maps of the trained model should differ from those of the same
architecture with re-initialised weights. Measured on the digits (8x8, the small CNN
of :mod:`plsd_widget.models` trained for 3 epochs, re-initialised with
``seeded_model(random_state=1)``, 200 test images), the mean rank correlation between
trained and randomised maps was 0.14 for the absolute gradient, 0.04 for the signed
gradient, 0.07 for integrated gradients and -0.07 for the directional saliency
(``tests/test_saliency.py`` asserts < 0.4, 0.25, 0.3 and 0.25 on 100 images); on
MNIST (``benchmarks/saliency.py``, 500 test images) 0.27, 0.02, 0.04 and 0.00. The
absolute gradient correlates most: the gradient magnitude of any convolutional
network follows the digit's strokes and edges, whatever its weights, so ``|grad|``
passes this check less clearly than the signed maps, integrated gradients and the
directional map, which depend on the weights.

All functions assume that the samples of a batch do not interact in eval mode (true
for the usual layers, batch norm included), so the gradient of a sum over the batch
is each sample's own gradient.

Modules: :mod:`~.batches` (checked inputs, eval mode, gradient batches),
:mod:`~.gradients` (the vanilla gradient, integrated gradients), :mod:`~.directional`
(directional saliency), :mod:`~.directions` (directions in the view),
:mod:`~.comparison` (rank correlation, mean maps).
"""

from plsd_widget.analysis.saliency.comparison import mean_map, rank_correlation
from plsd_widget.analysis.saliency.directional import directional_saliency
from plsd_widget.analysis.saliency.directions import (direction_between, direction_between_selections,
                                                      direction_towards)
from plsd_widget.analysis.saliency.gradients import gradient_saliency, integrated_gradients

__all__ = [
    "direction_between",
    "direction_between_selections",
    "direction_towards",
    "directional_saliency",
    "gradient_saliency",
    "integrated_gradients",
    "mean_map",
    "rank_correlation",
]
