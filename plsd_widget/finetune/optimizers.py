"""The optimiser a :class:`~plsd_widget.config.FinetuneConfig` names, built over some parameters."""

from __future__ import annotations

import torch

#: The optimisers a config names; SGD gets the paper's Nesterov momentum 0.9.
OPTIMIZERS = {
    "sgd": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    "adam": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
}


def make_optimizer(config, params) -> torch.optim.Optimizer:
    """``config.optimizer`` over ``params`` at ``config.lr``: a named one with its kwargs, or the callable's."""
    if callable(config.optimizer):
        optimizer = config.optimizer(params, lr=config.lr)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer(params, lr=lr) must return a torch.optim.Optimizer, got "
                            f"{type(optimizer).__name__}")
        return optimizer
    cls, defaults = OPTIMIZERS[config.optimizer]
    try:
        return cls(params, lr=config.lr, **{**defaults, **config.optimizer_kwargs})
    except TypeError as exc:
        raise TypeError(f"optimizer_kwargs {dict(config.optimizer_kwargs)} do not fit {cls.__name__}: "
                        f"{exc}") from exc
