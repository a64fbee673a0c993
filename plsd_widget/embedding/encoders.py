"""The networks ``E`` of :class:`~plsd_widget.embedding.ParametricTSNE`.

Both map float tensors of shape (batch, n_features) to (batch, n_components) and are
differentiable with respect to their input, which is what PLSD fine-tunes through.
The input is centred by the per-feature training mean and divided by one global scale
(the root-mean-square of the per-feature standard deviations); the output is
multiplied by ``out_scale``. All three are buffers, so saving the weights saves them.
One scale for all features keeps their relative weight, i.e. the geometry the
affinities were computed in, and does not blow up near-constant features (such as
the border pixels of the digits).

Layers are created without initialising their weights, so building an encoder never
touches torch's global random state: call ``reset_parameters(generator)`` or load a
state dict. Built on ``device="meta"``, an encoder takes no memory: its state dict's
shapes say what a saved state must hold before anything is allocated.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["LocalExpertsEncoder", "TSNEEncoder", "embed", "encoder_from_config"]

#: Points per forward pass of :func:`embed`.
EMBED_BATCH = 8192


def _relu_stack(sizes, device) -> list[nn.Module]:
    """``Linear -> ReLU`` blocks between consecutive ``sizes`` (weights uninitialised)."""
    layers: list[nn.Module] = []
    for width_in, width_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.utils.skip_init(nn.Linear, width_in, width_out, device=device), nn.ReLU()]
    return layers


def _he_uniform(layer: nn.Linear, generator: torch.Generator, *, before_relu: bool) -> None:
    fan_in = layer.in_features
    bound = math.sqrt(6.0 / fan_in) if before_relu else 1.0 / math.sqrt(fan_in)
    layer.weight.uniform_(-bound, bound, generator=generator)
    layer.bias.uniform_(-1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in), generator=generator)


class _ScaledModule(nn.Module):
    """Input normalisation and output scale shared by the encoders (see the module docstring)."""

    def __init__(self, n_features: int, device):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features, device=device))
        self.register_buffer("scale", torch.ones(1, device=device))
        self.register_buffer("out_scale", torch.ones(1, device=device))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale


class TSNEEncoder(_ScaledModule):
    """MLP mapping inputs of shape (batch, n_features) to (batch, n_components).

    ``Linear -> ReLU`` blocks of sizes ``hidden``, then a final ``Linear`` to
    ``n_components``; input and output scaled as the module docstring says.

    Parameters
    ----------
    n_features : int
        Input width.
    n_components : int
        Output width.
    hidden : sequence of int
        Hidden layer widths; empty gives a linear map.
    device : str or torch.device, default="cpu"
        Where to create the weights ("meta": nowhere, see the module docstring).
    """

    def __init__(self, n_features: int, n_components: int = 2, hidden=(300, 100), *, device="cpu"):
        super().__init__(n_features, device)
        self.hidden = tuple(int(h) for h in hidden)
        sizes = [n_features, *hidden]
        self.net = nn.Sequential(*_relu_stack(sizes, device),
                                 nn.utils.skip_init(nn.Linear, sizes[-1], n_components, device=device))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Initialise weights (He-uniform before ReLU) from ``generator``."""
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for i, layer in enumerate(linears):
                _he_uniform(layer, generator, before_relu=i < len(linears) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalise(x)) * self.out_scale

    def config(self) -> dict:
        """What :func:`encoder_from_config` needs, besides the widths of input and output."""
        return {"kind": "TSNEEncoder", "hidden": list(self.hidden)}


class LocalExpertsEncoder(_ScaledModule):
    """A gated mixture of local linear experts over regions of a 2-D layout.

    A trunk MLP (``Linear -> ReLU`` blocks of sizes ``hidden``) computes features
    ``h``; a softmax gate over ``n_experts`` regions and one linear head per region
    read them::

        E(x) = out_scale * sum_k softmax(gate(h))_k * (centers_k + head_k(h))

    ``centers`` (a buffer) are the regions' centres in the layout, in units of
    ``out_scale``, so each head only learns positions within its region.

    Why a gate: a t-SNE layout tears the data into clusters with empty space between
    them, so the map from inputs to positions jumps between clusters. A plain MLP
    regressed onto it interpolates across those jumps and puts new points that sit
    between two clusters in input space into the empty space between them (or into a
    third cluster); a softmax gate, trained as a classifier of the regions, commits
    to one region instead, which is what lifts the accuracy of embedded test points
    (see ``benchmarks/RESULTS.md``). The heads are linear, so the map still
    extrapolates beyond the data, as PLSD's edits into empty space need.

    Parameters
    ----------
    n_features : int
        Input width.
    n_experts : int
        Number of regions (gate outputs and heads).
    hidden : sequence of int
        Trunk widths; at least one layer.
    device : str or torch.device, default="cpu"
        Where to create the weights ("meta": nowhere, see the module docstring).
    """

    def __init__(self, n_features: int, n_experts: int, hidden=(256, 128), *, device="cpu"):
        super().__init__(n_features, device)
        if not hidden:
            raise ValueError("LocalExpertsEncoder needs at least one hidden layer for its gate and heads")
        self.n_experts = int(n_experts)
        self.hidden = tuple(int(h) for h in hidden)
        self.register_buffer("centers", torch.zeros(self.n_experts, 2, device=device))
        self.trunk = nn.Sequential(*_relu_stack([n_features, *hidden], device))
        self.gate = nn.utils.skip_init(nn.Linear, hidden[-1], self.n_experts, device=device)
        self.heads = nn.utils.skip_init(nn.Linear, hidden[-1], 2 * self.n_experts, device=device)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Initialise weights (He-uniform before ReLU) from ``generator``."""
        with torch.no_grad():
            for layer in self.trunk:
                if isinstance(layer, nn.Linear):
                    _he_uniform(layer, generator, before_relu=True)
            _he_uniform(self.gate, generator, before_relu=False)
            _he_uniform(self.heads, generator, before_relu=False)

    def forward_with_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The embedding of ``x`` and the gate's logits, of shape (batch, n_experts)."""
        h = self.trunk(self.normalise(x))
        logits = self.gate(h)
        local = self.heads(h).view(-1, self.n_experts, 2) + self.centers
        y = torch.einsum("bk,bkc->bc", torch.softmax(logits, dim=1), local)
        return y * self.out_scale, logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_logits(x)[0]

    def config(self) -> dict:
        """What :func:`encoder_from_config` needs, besides the widths of input and output."""
        return {"kind": "LocalExpertsEncoder", "hidden": list(self.hidden), "n_experts": self.n_experts}

    def sharpen_gate(self, factor: float) -> None:
        """Multiply the gate's logits by ``factor`` from now on (softmax temperature ``1 / factor``)."""
        with torch.no_grad():
            self.gate.weight.mul_(factor)
            self.gate.bias.mul_(factor)


def _is_width(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def encoder_from_config(config: dict, n_features: int, n_components: int, *, device="cpu"):
    """An encoder with uninitialised weights, built from an encoder's ``config()``, to load a state dict into.

    Raises a ``ValueError`` naming the problem for a config that ``config()`` cannot
    have written (an unknown kind, widths that are not positive integers).
    Pass ``device="meta"`` to learn the shapes of its state without allocating it.
    """
    if not isinstance(config, dict):
        raise ValueError(f"the encoder's config must be a JSON object, got {type(config).__name__}")
    kind = config.get("kind")
    if kind not in ("TSNEEncoder", "LocalExpertsEncoder"):
        raise ValueError(f"unknown encoder kind {kind!r} in the saved config; was it written by a newer "
                         "version of plsd_widget? Upgrade it to load this file")
    hidden = config.get("hidden")
    if not isinstance(hidden, list) or not all(_is_width(h) for h in hidden):
        raise ValueError(f"the encoder's hidden must be a list of positive layer widths, got {hidden!r}")
    if kind == "LocalExpertsEncoder":
        if not _is_width(config.get("n_experts")):
            raise ValueError(f"the encoder's n_experts must be a positive integer, got {config.get('n_experts')!r}")
        return LocalExpertsEncoder(n_features, config["n_experts"], tuple(hidden), device=device)
    return TSNEEncoder(n_features, n_components, tuple(hidden), device=device)


def embed(encoder: nn.Module, X_t: torch.Tensor) -> np.ndarray:
    """Run ``encoder`` on ``X_t`` in batches of ``EMBED_BATCH`` without gradients; a float32 numpy array."""
    with torch.no_grad():
        parts = [encoder(X_t[i:i + EMBED_BATCH]) for i in range(0, X_t.shape[0], EMBED_BATCH)]
    return torch.cat(parts).float().cpu().numpy()
