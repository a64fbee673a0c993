"""Looking inside a classifier's latent space: what to label next, saliency, subtypes.

- :mod:`plsd_widget.neighbors`: :class:`~plsd_widget.neighbors.NeighborIndex`, k nearest
  neighbours in layer-m space (the package's one kNN engine; ``analysis.neighbours`` is
  its deprecated alias).
- :mod:`plsd_widget.analysis.diverse`: :func:`~plsd_widget.analysis.diverse.select_diverse`,
  furthest-point sampling (and a class-balanced variant) to choose what to label next.
- :mod:`plsd_widget.analysis.saliency`: vanilla gradient, integrated gradients and the
  directional saliency of the embedding.
- :mod:`plsd_widget.analysis.subtypes`: k-means subtypes inside a class and their outlines.

Each module is imported on its own, so that importing the neighbour search or
furthest-point sampling loads no torch (they import it when a search needs it).
"""
