"""plsd_widget: Projective Latent Space Decluttering in a Jupyter widget.

``from plsd_widget import Session, ParametricTSNE, PLSDTrainer, FinetuneConfig, replay``:
each is imported on first use, so ``import plsd_widget`` stays light (numpy only, no torch).
"""

import logging

from plsd_widget._lazy import lazy_attributes
from plsd_widget._validation import NotFittedError

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

#: Public name -> the module that defines it, imported when the name is first used.
_LAZY = {
    "Session": "plsd_widget.session",
    "ParametricTSNE": "plsd_widget.embedding",
    "PLSDTrainer": "plsd_widget.finetune",
    "FinetuneConfig": "plsd_widget.config",
    "replay": "plsd_widget.replaying",
}
__all__ = ["NotFittedError", "__version__", *_LAZY]

__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
