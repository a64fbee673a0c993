"""Parametric t-SNE: sparse input affinities, batch losses and the ``ParametricTSNE`` estimator."""

from plsd_widget.embedding.affinity import joint_probabilities
from plsd_widget.embedding.parametric import ParametricTSNE

__all__ = ["ParametricTSNE", "joint_probabilities"]
