"""Directional saliency: what in an input moves its point in the 2-D view along a direction."""

from __future__ import annotations

import numpy as np
import torch

from plsd_widget._validation import NotFittedError, to_numpy
from plsd_widget.activations import get_layer
from plsd_widget.analysis.saliency.batches import (StopForward, as_inputs, check_batch_size, check_model, evaluating,
                                                    grad_batch, logits_of, model_device, model_dtype)
from plsd_widget.progress import progress_bar


def _check_embedding(embedding):
    """The fitted encoder network of ``embedding`` (a ParametricTSNE)."""
    if not hasattr(embedding, "encode") or not hasattr(embedding, "n_components"):
        raise TypeError(f"embedding must be a fitted plsd_widget.embedding.ParametricTSNE, got "
                        f"{type(embedding).__name__}")
    if not hasattr(embedding, "encoder_"):
        raise NotFittedError(f"This {type(embedding).__name__} instance is not fitted yet; call fit(X) first")
    return embedding.encoder_


def _check_direction(direction, n: int, n_components: int) -> torch.Tensor:
    """``direction`` as float64 of shape (n_components,) or (n, n_components): finite, no zero rows."""
    d = to_numpy(direction)
    try:
        d = np.asarray(d, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"direction must be a numeric {n_components}-vector, got {direction!r}") from exc
    if d.shape not in ((n_components,), (n, n_components)):
        raise ValueError(f"direction must have shape ({n_components},), or ({n}, {n_components}) for one "
                         f"direction per sample; got shape {d.shape}")
    if not np.isfinite(d).all():
        raise ValueError(f"direction must be finite, got {direction!r}")
    if (np.abs(d).reshape(-1, n_components).max(axis=1) == 0).any():
        raise ValueError("direction must be non-zero (every row, for one direction per sample); "
                         f"got {direction!r}")
    return torch.from_numpy(d)


def directional_saliency(model, layer: str, embedding, x, direction, *, batch_size: int = 256, device=None,
                         progress: bool = False) -> np.ndarray:
    """Gradient of ``<direction, E(C_m(x))>`` with respect to ``x``: what moves ``x``'s point along ``direction``.

    ``C_m`` is ``model`` up to ``layer`` (its output flattened to (batch, features), as
    :func:`plsd_widget.activations.extract_activations` gives it) and ``E`` is the
    network of the fitted ``embedding``, exactly as its ``encode`` computes it (input
    centring and scaling and the output scale are inside the network). Embedded points
    of scheme "distil" are ``E(C_m(x))`` plus a per-point offset that does not depend on
    ``x`` locally, so the gradient is the same.

    Sign: positive values are features whose increase moves the point along
    ``direction``. With ``direction = direction_between(positions, labels, a, b)`` (the
    unit vector from ``a``'s centre ``c_a`` to ``b``'s ``c_b``) the map is
    ``d<Y, c_b - c_a>/dX / |c_b - c_a|``: red (positive) is what moves the point *from
    a toward b*. Seed 002 wrote the map as ``dY/dX . (a - b)`` but described it as
    "from a to b"; the formula has the opposite sign to its prose. We follow the prose,
    so that a direction means the same in every function here (a drag's
    :func:`direction_towards` points from the selection to where it was dropped) and a
    step ``x + eps * map`` moves the point toward ``b``. For the seed's formula
    literally, swap ``a`` and ``b`` (or negate ``direction``).

    The forward pass stops as soon as ``layer`` has run (a forward hook raises a
    private exception), so the layers after it are not computed; one vector-Jacobian
    product per batch. If ``layer`` runs several times in one forward pass, its first
    output is used.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier; eval mode for the call, modes restored, parameters' ``.grad``
        untouched.
    layer : str
        Name of the layer in ``model.named_modules()`` the embedding was fitted on.
    embedding : ParametricTSNE
        Fitted on that layer's activations.
    x : array-like or torch.Tensor of shape (n_samples, ...)
        Inputs; not modified.
    direction : array-like of shape (n_components,) or (n_samples, n_components)
        Direction in the embedding (one for all samples, or one per sample), finite
        and non-zero; its length matters (the map scales with it). See
        :func:`direction_between` and :func:`direction_towards` for unit vectors.
    batch_size : int, default=256
        Samples per forward/backward pass.
    device : None, str or torch.device, default=None
        Where to run the classifier; ``None`` keeps it where it is. The embedding's
        network stays on its own device.
    progress : bool, default=False
        Show a tqdm progress bar.

    Returns
    -------
    ndarray of the shape of ``x``
        Signed gradients, in the dtype of the model's parameters.

    Raises
    ------
    ValueError
        For a layer name the model does not have (the message lists the names), a
        layer whose width differs from the embedding's input, a direction of the
        wrong shape, zero or not finite, a layer that never runs in the forward pass.
    NotFittedError
        For an embedding that is not fitted.
    """
    check_model(model)
    module = get_layer(model, layer)
    encoder = _check_embedding(embedding)
    x = as_inputs(x)
    batch_size = check_batch_size(batch_size)
    n_components = int(getattr(embedding, "n_components", 2))
    direction = _check_direction(direction, x.shape[0], n_components)
    n_features = int(embedding.n_features_in_)
    enc_device = model_device(encoder)
    enc_dtype = model_dtype(encoder)
    dtype = model_dtype(model)
    direction = direction.to(device=enc_device, dtype=enc_dtype)
    captured: list[torch.Tensor] = []

    def stop_here(_module, _inputs, output):
        captured.append(output[0] if isinstance(output, (tuple, list)) else output)
        raise StopForward

    out = np.empty(tuple(x.shape), dtype=torch.empty(0, dtype=dtype).numpy().dtype)
    handle = module.register_forward_hook(stop_here)
    try:
        with evaluating(model, device) as device, \
                progress_bar(x.shape[0], enabled=progress, desc="directional saliency", unit="sample") as bar:
            for start in range(0, x.shape[0], batch_size):
                stop = min(start + batch_size, x.shape[0])
                xb = grad_batch(x, start, stop, device, dtype)
                captured.clear()
                try:
                    logits_of(model, xb, x.shape[1:])
                except StopForward:
                    pass
                if not captured:
                    raise ValueError(f"layer {layer!r} did not run in the model's forward pass; pass a layer "
                                     "the forward pass uses")
                h = captured[0].flatten(1)
                if h.shape[1] != n_features:
                    raise ValueError(f"layer {layer!r} has {h.shape[1]} features, but the embedding was fitted "
                                     f"on {n_features}; pass the embedding fitted on this layer's activations")
                y = encoder(h.to(device=enc_device, dtype=enc_dtype))
                d = direction if direction.ndim == 1 else direction[start:stop]
                (grad,) = torch.autograd.grad((y * d).sum(), xb)
                out[start:stop] = grad.cpu().numpy()
                captured.clear()
                bar.update(stop - start)
    finally:
        handle.remove()
    return out
