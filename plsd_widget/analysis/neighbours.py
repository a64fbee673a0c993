"""Deprecated alias of :mod:`plsd_widget.neighbors` (scikit-learn's spelling), kept for one release.

``NeighbourIndex`` is :class:`plsd_widget.neighbors.NeighborIndex` and ``neighbours`` is
:func:`plsd_widget.neighbors.neighbors`; import those instead.
"""

import warnings

from plsd_widget.neighbors import EXACT_MAX_WORK, NeighborIndex, neighbors

__all__ = ["EXACT_MAX_WORK", "NeighbourIndex", "neighbours"]

warnings.warn("plsd_widget.analysis.neighbours is deprecated and goes in the next release: use "
              "plsd_widget.neighbors (NeighborIndex, neighbors), scikit-learn's spelling",
              DeprecationWarning, stacklevel=2)

NeighbourIndex = NeighborIndex
neighbours = neighbors
