"""Parametric t-SNE: sparse input affinities, batch losses and the ``ParametricTSNE`` estimator.

Importing this package starts compiling its numba kernels in the background
(:mod:`~plsd_widget.embedding.warm_up`; ``PLSD_WARM_UP=0`` turns that off).
"""

from plsd_widget.embedding.affinity import joint_probabilities
from plsd_widget.embedding.parametric import ParametricTSNE
from plsd_widget.embedding.warm_up import start_warm_up

__all__ = ["ParametricTSNE", "joint_probabilities"]

start_warm_up()
