"""Looking inside a classifier's latent space: similar images, what to label next, saliency, subtypes.

- :mod:`plsd_widget.analysis.neighbours`: :class:`~plsd_widget.analysis.neighbours.NeighbourIndex`,
  k nearest neighbours in layer-m space (exact, pynndescent above a work budget).
- :mod:`plsd_widget.analysis.diverse`: :func:`~plsd_widget.analysis.diverse.select_diverse`,
  furthest-point sampling (and a class-balanced variant) to choose what to label next.
- :mod:`plsd_widget.analysis.saliency`: vanilla gradient, integrated gradients and the
  directional saliency of the embedding.
- :mod:`plsd_widget.analysis.subtypes`: k-means subtypes inside a class and their outlines.

Each module is imported on its own so that, e.g., the neighbour search does not load torch.
"""
