"""Activations ``C_m(x)`` of a named layer of a classifier, captured with forward hooks."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from plsd_widget.devices import resolve_device


def get_layer(model: nn.Module, layer: str) -> nn.Module:
    """Return the sub-module of ``model`` called ``layer`` (a ``named_modules`` name).

    Nested names use dots as in ``model.named_modules()``, e.g. ``"layer4.1.conv2"``.

    Raises
    ------
    ValueError
        If no module has that name; the message lists the available names.
    """
    modules = dict(model.named_modules())
    modules.pop("", None)
    if layer not in modules:
        names = ", ".join(modules) or "(the model has no sub-modules)"
        raise ValueError(f"model has no layer named {layer!r}; available layers: {names}")
    return modules[layer]


@contextlib.contextmanager
def capture(model: nn.Module, layer: str):
    """Context manager that records the output of ``layer`` on every forward pass.

    Yields a list whose last element is the layer's output of the latest forward
    call, flattened to shape (batch, n_features), with its autograd graph intact so
    losses on it reach the classifier's weights.
    """
    module = get_layer(model, layer)
    captured: list[torch.Tensor] = []

    def hook(_module, _inputs, output):
        if isinstance(output, (tuple, list)):
            output = output[0]
        captured.clear()
        captured.append(output.flatten(1))

    handle = module.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


def extract_activations(
    model: nn.Module,
    layer: str,
    data,
    *,
    batch_size: int = 512,
    device=None,
) -> np.ndarray:
    """Compute the activations of ``layer`` for every sample of ``data``.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier. It is put in eval mode for the pass and restored afterwards.
    layer : str
        Name of the layer as in ``model.named_modules()``.
    data : torch.Tensor, numpy.ndarray or iterable of batches
        Inputs of shape (n_samples, ...), or a DataLoader yielding ``x`` or
        ``(x, *rest)`` batches.
    batch_size : int, default=512
        Batch size used when ``data`` is an array.
    device : {"auto", "cpu", "cuda", "mps"}, torch.device or None, default=None
        Where to run the model for the pass; ``"auto"`` picks CUDA, then MPS, then the
        CPU, as everywhere. None keeps the model where it is.

    Returns
    -------
    ndarray of shape (n_samples, n_features), float32
        Flattened activations.
    """
    return _forward(model, layer, data, batch_size, device, predict=False)[0]


def activations_and_predictions(model: nn.Module, layer: str, data, *, batch_size: int = 512,
                                device=None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`extract_activations`, and in the same pass each sample's predicted class.

    The prediction is the argmax of the model's output, which must be logits of shape
    (batch, n_classes).

    Returns
    -------
    activations : ndarray of shape (n_samples, n_features), float32
    predictions : ndarray of shape (n_samples,), int64
    """
    return _forward(model, layer, data, batch_size, device, predict=True)


def _forward(model, layer, data, batch_size, device, *, predict: bool):
    """One no-grad pass of ``data`` through ``model`` in eval mode: the layer's activations, and the predictions."""
    get_layer(model, layer)  # fail early, before any compute
    device = next(model.parameters()).device if device is None else resolve_device(device)
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if isinstance(data, torch.Tensor):
        batches = (data[i : i + batch_size] for i in range(0, len(data), batch_size))
    else:
        batches = (b[0] if isinstance(b, (tuple, list)) else b for b in data)

    was_training = model.training
    original_device = next(model.parameters()).device
    model.eval().to(device)
    out, predictions = [], []
    try:
        with capture(model, layer) as captured, torch.no_grad():
            for xb in batches:
                logits = model(xb.to(device, dtype=torch.float32))
                out.append(captured[-1].float().cpu().numpy())
                if predict:
                    predictions.append(logits.argmax(1).cpu().numpy())
    finally:
        model.train(was_training).to(original_device)
    if not out:
        raise ValueError("data is empty; pass at least one sample")
    H = np.concatenate(out).astype(np.float32, copy=False)
    if not np.isfinite(H).all():
        bad = int((~np.isfinite(H).all(axis=1)).sum())
        raise ValueError(
            f"layer {layer!r} produced NaN or inf activations for {bad} sample(s); "
            "check the inputs (normalisation) and the model's weights"
        )
    return H, np.concatenate(predictions) if predict else None
