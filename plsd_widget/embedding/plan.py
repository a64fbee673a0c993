"""What ``ParametricTSNE.fit`` does on a given data set, and what its trainers hand back.

:func:`plan_training` turns the estimator's (checked) parameters and the number of
samples into a :class:`TrainingPlan`: the training *mode*, with every ``None`` default
resolved. The modes:

* ``"exact"``: data up to ``batch_size``, whatever the scheme; exact full-batch KL;
* ``"batch"``, ``"full"``: KL training of an MLP in neighbourhood batches, or with the
  grid gradient of all points (both in :mod:`~plsd_widget.embedding.kl_training`);
* ``"distil"``: a free layout, then a local-experts network fitted to it
  (:mod:`~plsd_widget.embedding.distil`).

Each trainer takes the plan and returns a :class:`TrainedEncoder` (see :func:`finish`).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import torch

from plsd_widget.devices import resolve_device
from plsd_widget.embedding.encoders import embed

__all__ = ["DEFAULT_EPOCHS", "DEFAULT_HIDDEN", "SCHEMES", "TrainedEncoder", "TrainingPlan", "finish",
           "plan_training", "resolve_scheme"]

SCHEMES = ("auto", "distil", "batch", "full")
#: ``n_epochs=None`` means this many KL epochs, or this many regression epochs for "distil".
DEFAULT_EPOCHS = {"kl": 300, "distil": 30}
#: ``hidden=None`` means these layer widths: the MLP trained on the KL divergence, or the
#: trunk of the local-experts encoder of scheme "distil". For "distil" on MNIST (with the
#: neighbour offsets of ``transform``), (256, 128) placed test points as well as (512, 256)
#: at 20k and 0.1 points worse at 60k, at half the network's fit time.
DEFAULT_HIDDEN = {"kl": (300, 100), "distil": (256, 128)}


class TrainingPlan(NamedTuple):
    """The estimator's parameters resolved for one data set; ``mode`` is one of the module docstring's."""

    mode: str
    n_components: int
    hidden: tuple
    n_epochs: int
    batch_size: int
    learning_rate: float
    pretrain_epochs: int
    early_exaggeration: float
    early_exaggeration_fraction: float
    device: torch.device
    verbose: bool
    callback: Callable | None


class TrainedEncoder(NamedTuple):
    """What a trainer returns: the frozen ``encoder``, and what becomes ``n_iter_``, ``kl_divergence_``,
    ``embedding_`` (the layout for "distil", else ``network``) and ``network = E(X)``."""

    encoder: torch.nn.Module
    n_iter: int
    kl_divergence: float
    embedding: np.ndarray
    network: np.ndarray


def resolve_scheme(scheme: str, n_components: int) -> str:
    """The scheme that ``scheme="auto"`` stands for: "distil" in 2-D, else "batch"."""
    if scheme == "auto":
        return "distil" if n_components == 2 else "batch"
    return scheme


def plan_training(params: dict, n_samples: int) -> TrainingPlan:
    """The :class:`TrainingPlan` of an estimator with (checked) ``params`` on ``n_samples`` points.

    Raises a ``ValueError`` saying what to change for a scheme that cannot run on this data.
    """
    scheme = resolve_scheme(params["scheme"], params["n_components"])
    mode = "exact" if n_samples <= params["batch_size"] else scheme
    if mode in ("full", "distil") and params["n_components"] != 2:
        raise ValueError(
            f"scheme={scheme!r} on more than batch_size={params['batch_size']} points needs "
            f"n_components=2 (its grid gradient is 2-D), got n_components={params['n_components']}; use "
            f"scheme='batch' or raise batch_size to {n_samples} for exact full-batch training"
        )
    kind = "distil" if mode == "distil" else "kl"
    n_epochs = params["n_epochs"] if params["n_epochs"] is not None else DEFAULT_EPOCHS[kind]
    hidden = tuple(params["hidden"]) if params["hidden"] is not None else DEFAULT_HIDDEN[kind]
    if mode == "distil" and not hidden:
        raise ValueError("scheme='distil' needs at least one hidden layer (its trunk), got hidden=(); "
                         "pass e.g. hidden=(256, 128), or scheme='batch' for a linear map")
    return TrainingPlan(mode, params["n_components"], hidden, n_epochs, params["batch_size"],
                        params["learning_rate"], params["pretrain_epochs"], params["early_exaggeration"],
                        params["early_exaggeration_fraction"], resolve_device(params["device"]),
                        params["verbose"], params["callback"])


def finish(encoder: torch.nn.Module, X_t: torch.Tensor, n_iter: int, kl_divergence: float,
           layout: np.ndarray | None = None) -> TrainedEncoder:
    """Freeze ``encoder`` (eval mode, no gradients) and embed the training data ``X_t`` with it."""
    encoder.eval().requires_grad_(False)
    network = embed(encoder, X_t)
    return TrainedEncoder(encoder, n_iter, kl_divergence, network if layout is None else layout, network)
