"""plsd_widget: Projective Latent Space Decluttering in a Jupyter widget."""

import logging

from plsd_widget._validation import NotFittedError

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"
__all__ = ["NotFittedError", "__version__"]


def __getattr__(name):
    """``plsd_widget.replay``: imported on first use, so that ``import plsd_widget`` stays light."""
    if name == "replay":
        import importlib

        function = importlib.import_module("plsd_widget.replay").replay
        globals()["replay"] = function  # the import set the module here; the function is what is meant
        return function
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
