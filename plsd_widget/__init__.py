"""plsd_widget: Projective Latent Space Decluttering in a Jupyter widget."""

import logging

from plsd_widget._validation import NotFittedError

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"
__all__ = ["NotFittedError", "__version__", "replay"]


def __getattr__(name):
    """``plsd_widget.replay`` (:func:`plsd_widget.replaying.replay`), imported on first use.

    ``import plsd_widget`` stays light: numpy only, no torch.
    """
    if name == "replay":
        from plsd_widget.replaying import replay

        globals()["replay"] = replay
        return replay
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), "replay"])
