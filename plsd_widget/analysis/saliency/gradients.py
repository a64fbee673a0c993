"""The vanilla gradient and integrated gradients of a class logit with respect to the input."""

from __future__ import annotations

import numpy as np
import torch

from plsd_widget.analysis.saliency.batches import (as_inputs, check_batch_size, check_model, class_targets,
                                                    evaluating, grad_batch, logits_of, model_dtype, pick_logit)
from plsd_widget.progress import progress_bar

_IG_METHODS = ("trapezoid", "midpoint")


def gradient_saliency(model, x, target=None, *, batch_size: int = 256, absolute: bool = True, device=None,
                      progress: bool = False) -> np.ndarray:
    """Vanilla gradient of a class logit with respect to the input.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits of shape (batch, n_classes). It is put in eval
        mode for the call and its (and its sub-modules') modes are restored afterwards;
        its parameters' ``.grad`` are left untouched.
    x : array-like or torch.Tensor of shape (n_samples, ...)
        Inputs, any shape the model takes (images (n, 1, h, w), flat (n, d), ...). Not
        modified. Cast to the dtype of the model's parameters.
    target : None, int or array-like of shape (n_samples,), default=None
        Class whose logit is differentiated: ``None`` means each sample's predicted
        class, an int the same class for all.
    batch_size : int, default=256
        Samples per forward/backward pass.
    absolute : bool, default=True
        Return ``|gradient|`` (the usual saliency map); ``False`` keeps the sign.
    device : None, str or torch.device, default=None
        Where to run; ``None`` keeps the model where it is (it is moved back afterwards).
    progress : bool, default=False
        Show a tqdm progress bar.

    Returns
    -------
    ndarray of the shape of ``x``
        The gradients, in the dtype of the model's parameters.

    Raises
    ------
    ValueError
        For empty or non-finite ``x``, ``target`` of the wrong length or out of the
        model's classes, inputs the model cannot run on.
    """
    check_model(model)
    x = as_inputs(x)
    batch_size = check_batch_size(batch_size)
    target = class_targets(target, x.shape[0])
    dtype = model_dtype(model)
    out = np.empty(tuple(x.shape), dtype=torch.empty(0, dtype=dtype).numpy().dtype)
    with evaluating(model, device) as device, \
            progress_bar(x.shape[0], enabled=progress, desc="gradient saliency", unit="sample") as bar:
        for start in range(0, x.shape[0], batch_size):
            stop = min(start + batch_size, x.shape[0])
            xb = grad_batch(x, start, stop, device, dtype)
            logit = pick_logit(logits_of(model, xb, x.shape[1:]), None if target is None else target[start:stop])
            (grad,) = torch.autograd.grad(logit.sum(), xb)
            out[start:stop] = (grad.abs() if absolute else grad).cpu().numpy()
            bar.update(stop - start)
    return out


# ------------------------------------------------------- integrated gradients
def integrated_gradients(model, x, target=None, *, baseline=None, steps: int = 32, method: str = "midpoint",
                         batch_size: int = 256, return_delta: bool = False, device=None,
                         progress: bool = False):
    """Integrated gradients of a class logit along the straight path from ``baseline`` to ``x``.

    ``IG_i(x) = (x_i - b_i) * integral_0^1 dF(b + a (x - b)) / dx_i da``, the integral
    approximated by a Riemann sum over ``steps`` points of the path. Completeness:
    the attributions of a sample sum to ``F(x) - F(b)`` up to the quadrature error,
    which for the ReLU networks here is a fraction of a percent of
    ``|F(x) - F(b)|`` for 32 steps and shrinks roughly like ``1 / steps``; pass
    ``return_delta=True`` to get it per sample.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits of shape (batch, n_classes); eval mode for the
        call, modes restored, parameters' ``.grad`` untouched.
    x : array-like or torch.Tensor of shape (n_samples, ...)
        Inputs; not modified.
    target : None, int or array-like of shape (n_samples,), default=None
        Class whose logit is attributed; ``None`` means the class predicted for ``x``.
    baseline : None, array-like or torch.Tensor, default=None
        The path's start: ``None`` means zeros; else of shape ``x.shape[1:]`` (one
        baseline for all samples) or ``x.shape``.
    steps : int, default=32
        Points on the path (gradient evaluations per sample; ``"trapezoid"`` uses
        ``steps + 1``).
    method : {"midpoint", "trapezoid"}, default="midpoint"
        Quadrature: the trapezoid rule on ``a = 0, 1/steps, ..., 1`` or the midpoint
        rule on ``a = (k + 1/2) / steps``.
    batch_size : int, default=256
        Model inputs (path points) per forward/backward pass; a pass holds the path
        points of ``max(1, batch_size // steps)`` samples.
    return_delta : bool, default=False
        Also return the completeness error ``sum(IG) - (F(x) - F(b))`` per sample.
    device : None, str or torch.device, default=None
        Where to run; ``None`` keeps the model where it is.
    progress : bool, default=False
        Show a tqdm progress bar.

    Returns
    -------
    attributions : ndarray of the shape of ``x``
    delta : ndarray of shape (n_samples,)
        Only with ``return_delta=True``.
    """
    check_model(model)
    x = as_inputs(x)
    batch_size = check_batch_size(batch_size)
    steps = check_batch_size(steps, "steps")
    if method not in _IG_METHODS:
        raise ValueError(f"method must be one of {_IG_METHODS}, got {method!r}")
    target = class_targets(target, x.shape[0])
    dtype = model_dtype(model)
    if baseline is None:
        base = torch.zeros((1, *x.shape[1:]), dtype=dtype)
    else:
        base = baseline.detach() if isinstance(baseline, torch.Tensor) else torch.as_tensor(np.asarray(baseline))
        if tuple(base.shape) == tuple(x.shape[1:]):
            base = base[None]
        if tuple(base.shape[1:]) != tuple(x.shape[1:]) or base.shape[0] not in (1, x.shape[0]):
            raise ValueError(f"baseline must have shape {tuple(x.shape[1:])} or {tuple(x.shape)}, "
                             f"got {tuple(base.shape)}")
        if not torch.isfinite(base.to(torch.float64)).all():
            raise ValueError("baseline contains NaN or inf")
    if method == "trapezoid":
        alphas = np.linspace(0.0, 1.0, steps + 1)
        weights = np.full(steps + 1, 1.0 / steps)
        weights[[0, -1]] /= 2
    else:
        alphas = (np.arange(steps) + 0.5) / steps
        weights = np.full(steps, 1.0 / steps)
    n_points = len(alphas)
    chunk = max(1, batch_size // n_points)
    out = np.empty(tuple(x.shape), dtype=torch.empty(0, dtype=dtype).numpy().dtype)
    deltas = np.empty(x.shape[0])
    with evaluating(model, device) as device, \
            progress_bar(x.shape[0], enabled=progress, desc="integrated gradients", unit="sample") as bar:
        alpha_t = torch.as_tensor(alphas, dtype=dtype, device=device).view(-1, 1, *([1] * (x.ndim - 1)))
        weight_t = torch.as_tensor(weights, dtype=dtype, device=device).view(-1, 1, *([1] * (x.ndim - 1)))
        base = base.to(device=device, dtype=dtype)
        for start in range(0, x.shape[0], chunk):
            stop = min(start + chunk, x.shape[0])
            m = stop - start
            xb = x[start:stop].to(device=device, dtype=dtype)
            bb = base if base.shape[0] == 1 else base[start:stop]
            tb = None if target is None else target[start:stop]
            with torch.no_grad():
                ends = logits_of(model, torch.cat([xb, bb.expand_as(xb)]), x.shape[1:])
                tb = ends[:m].argmax(dim=1) if tb is None else tb.to(device)
                ends = pick_logit(ends, torch.cat([tb, tb]))
            path = (bb + alpha_t * (xb - bb)).reshape(n_points * m, *x.shape[1:]).requires_grad_(True)
            logit = pick_logit(logits_of(model, path, x.shape[1:]), tb.repeat(n_points))
            (grad,) = torch.autograd.grad(logit.sum(), path)
            attribution = (xb - bb) * (grad.view(n_points, m, *x.shape[1:]) * weight_t).sum(dim=0)
            out[start:stop] = attribution.cpu().numpy()
            deltas[start:stop] = (attribution.reshape(m, -1).sum(dim=1).double()
                                  - (ends[:m] - ends[m:]).double()).cpu().numpy()
            bar.update(m)
    return (out, deltas) if return_delta else out
