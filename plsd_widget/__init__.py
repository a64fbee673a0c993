"""plsd_widget: Projective Latent Space Decluttering in a Jupyter widget."""

import logging

from plsd_widget._validation import NotFittedError

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"
__all__ = ["NotFittedError", "__version__"]
