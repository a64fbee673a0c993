"""Saliency maps: which input features move a classifier's logit, or its point in the 2-D view.

Three attributions, all computed with :func:`torch.autograd.grad` with respect to the
input only (the model's parameters never get a ``.grad``), in batches, with the model
in eval mode (its own and its sub-modules' modes are restored afterwards):

* :func:`gradient_saliency`: the vanilla gradient of a class logit (default: the
  predicted class) with respect to the input;
* :func:`integrated_gradients`: integrated gradients (Sundararajan et al., 2017) of a
  class logit along the straight path from a baseline (default: zeros) to the input;
* :func:`directional_saliency`: the gradient of ``<direction, E(C_m(x))>``, where
  ``C_m`` is the classifier up to layer ``m`` and ``E`` the encoder of a fitted
  :class:`~plsd_widget.embedding.ParametricTSNE` (exactly what its ``encode`` computes,
  input normalisation and output scale included). It answers "what in this image
  would move its point in the 2-D view along ``direction``", e.g. toward another
  cluster (:func:`direction_between`) or toward where the user dragged a selection
  (:func:`direction_towards`). The forward pass stops at layer ``m``: the layers after
  it are not run.

:func:`rank_correlation` compares two sets of maps sample by sample (Spearman), which is
what the model-randomisation sanity check of Adebayo et al. (2018, "Sanity checks for
saliency maps") needs: maps of the trained model should differ from those of the same
architecture with re-initialised weights. Measured on the digits (8x8, the small CNN
of :mod:`plsd_widget.models` trained for 3 epochs, re-initialised with
``seeded_model(random_state=1)``, 200 test images), the mean rank correlation between
trained and randomised maps was 0.14 for the absolute gradient, 0.04 for the signed
gradient, 0.07 for integrated gradients and -0.07 for the directional saliency
(``tests/test_saliency.py`` asserts < 0.4, 0.25, 0.3 and 0.25 on 100 images); on
MNIST (``benchmarks/saliency.py``, 500 test images) 0.27, 0.02, 0.04 and 0.00. The
absolute gradient correlates most: the gradient magnitude of any convolutional
network follows the digit's strokes and edges, whatever its weights, so |grad|
passes this check less clearly than the signed maps, integrated gradients and the
directional map, which depend on the weights.

All functions assume that the samples of a batch do not interact in eval mode (true
for the usual layers, batch norm included), so the gradient of a sum over the batch
is each sample's own gradient.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from plsd_widget.activations import get_layer
from plsd_widget.devices import resolve_device
from plsd_widget.progress import progress_bar

__all__ = [
    "direction_between",
    "direction_towards",
    "directional_saliency",
    "gradient_saliency",
    "integrated_gradients",
    "mean_map",
    "rank_correlation",
]

_IG_METHODS = ("trapezoid", "midpoint")


# ----------------------------------------------------------------- helpers
class _StopForward(Exception):
    """Raised by the forward hook of :func:`directional_saliency` once layer ``m`` has run."""


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def _model_device(model: nn.Module) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _model_dtype(model: nn.Module) -> torch.dtype:
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def _check_batch_size(batch_size, name: str = "batch_size") -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{name} must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _as_inputs(x, name: str = "x") -> torch.Tensor:
    """``x`` as a detached CPU or device tensor of shape (n_samples, ...); never a copy the caller could see modified."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a numeric array or tensor, got {type(x).__name__}: {exc}") from exc
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"{name} must be a numeric array or tensor, got dtype {arr.dtype}")
        if not arr.flags.writeable or not arr.flags.c_contiguous:
            arr = np.array(arr, order="C")  # torch.from_numpy wants a writeable array; ours is a copy
        t = torch.from_numpy(arr)
    if t.ndim < 2:
        raise ValueError(f"{name} must have a leading sample axis, shape (n_samples, ...), got shape "
                         f"{tuple(t.shape)}; for a single sample pass x[None]")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)}); pass at least one sample")
    if t.is_complex():
        raise TypeError(f"{name} must be real, got dtype {t.dtype}")
    if t.is_floating_point() and not torch.isfinite(t).all():
        bad = int((~torch.isfinite(t.reshape(t.shape[0], -1))).any(dim=1).sum())
        raise ValueError(f"{name} contains NaN or inf in {bad} sample(s); drop or impute them first")
    return t


def _targets(target, n: int) -> torch.Tensor | None:
    """``None`` (the predicted class), or int64 class indices of shape (n,)."""
    if target is None:
        return None
    arr = target.detach().cpu().numpy() if isinstance(target, torch.Tensor) else np.asarray(target)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer)
                                  or (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)))):
        raise TypeError(f"target must be None, a class index or one class index per sample, got {target!r}")
    if arr.ndim == 0:
        arr = np.full(n, int(arr))
    if arr.shape != (n,):
        raise ValueError(f"target must be a class index or have shape ({n},), one per sample; got shape {arr.shape}")
    if arr.min() < 0:
        raise ValueError(f"target must hold class indices >= 0, found {arr.min()}")
    return torch.from_numpy(arr.astype(np.int64))


@contextlib.contextmanager
def _evaluating(model: nn.Module, device):
    """Put ``model`` (every sub-module) in eval mode on ``device``; restore modes and device afterwards."""
    modes = [(module, module.training) for module in model.modules()]
    original = _model_device(model)
    device = original if device is None else resolve_device(device)
    moved = device != original
    model.eval()
    try:
        if moved:
            model.to(device)
        yield device
    finally:
        for module, training in modes:
            module.training = training
        if moved:
            model.to(original)


def _logits(model: nn.Module, xb: torch.Tensor, shape) -> torch.Tensor:
    try:
        out = model(xb)
    except RuntimeError as exc:
        raise ValueError(f"the model could not run on inputs of shape {tuple(shape)} per sample "
                         f"(x has shape {tuple(xb.shape)} in this batch): {exc}") from exc
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise ValueError("the model must return logits of shape (batch, n_classes), got "
                         f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
    return out


def _pick(logits: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """The logit of ``target`` (or of the predicted class) of every row, shape (batch,)."""
    if target is None:
        target = logits.detach().argmax(dim=1)
    else:
        target = target.to(logits.device)
        if int(target.max()) >= logits.shape[1]:
            raise ValueError(f"target holds class {int(target.max())}, but the model has "
                             f"{logits.shape[1]} classes (0..{logits.shape[1] - 1})")
    return logits.gather(1, target[:, None]).squeeze(1)


def _batch(x: torch.Tensor, start: int, stop: int, device, dtype) -> torch.Tensor:
    """A fresh leaf copy of ``x[start:stop]`` that requires grad (the caller's ``x`` is never touched)."""
    return x[start:stop].to(device=device, dtype=dtype, copy=True).requires_grad_(True)


# ---------------------------------------------------------- vanilla gradient
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
    _check_model(model)
    x = _as_inputs(x)
    batch_size = _check_batch_size(batch_size)
    target = _targets(target, x.shape[0])
    dtype = _model_dtype(model)
    out = np.empty(tuple(x.shape), dtype=torch.empty(0, dtype=dtype).numpy().dtype)
    with _evaluating(model, device) as device, progress_bar(x.shape[0], enabled=progress, desc="gradient saliency", unit="sample") as bar:
        for start in range(0, x.shape[0], batch_size):
            stop = min(start + batch_size, x.shape[0])
            xb = _batch(x, start, stop, device, dtype)
            logit = _pick(_logits(model, xb, x.shape[1:]), None if target is None else target[start:stop])
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
    _check_model(model)
    x = _as_inputs(x)
    batch_size = _check_batch_size(batch_size)
    steps = _check_batch_size(steps, "steps")
    if method not in _IG_METHODS:
        raise ValueError(f"method must be one of {_IG_METHODS}, got {method!r}")
    target = _targets(target, x.shape[0])
    dtype = _model_dtype(model)
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
    with _evaluating(model, device) as device, progress_bar(x.shape[0], enabled=progress, desc="integrated gradients", unit="sample") as bar:
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
                ends = _logits(model, torch.cat([xb, bb.expand_as(xb)]), x.shape[1:])
                tb = ends[:m].argmax(dim=1) if tb is None else tb.to(device)
                ends = _pick(ends, torch.cat([tb, tb]))
            path = (bb + alpha_t * (xb - bb)).reshape(n_points * m, *x.shape[1:]).requires_grad_(True)
            logit = _pick(_logits(model, path, x.shape[1:]), tb.repeat(n_points))
            (grad,) = torch.autograd.grad(logit.sum(), path)
            attribution = (xb - bb) * (grad.view(n_points, m, *x.shape[1:]) * weight_t).sum(dim=0)
            out[start:stop] = attribution.cpu().numpy()
            deltas[start:stop] = (attribution.reshape(m, -1).sum(dim=1).double()
                                  - (ends[:m] - ends[m:]).double()).cpu().numpy()
            bar.update(m)
    return (out, deltas) if return_delta else out


# ---------------------------------------------------------- directional saliency
def _check_embedding(embedding):
    """The fitted encoder network of ``embedding`` (a ParametricTSNE)."""
    if not hasattr(embedding, "_check_fitted") or not hasattr(embedding, "encode"):
        raise TypeError(f"embedding must be a fitted plsd_widget.embedding.ParametricTSNE, got "
                        f"{type(embedding).__name__}")
    embedding._check_fitted()  # NotFittedError: "... call fit(X) first"
    return embedding.encoder_


def _check_direction(direction, n: int, n_components: int) -> torch.Tensor:
    """``direction`` as float64 of shape (n_components,) or (n, n_components): finite, no zero rows."""
    d = direction.detach().cpu().numpy() if isinstance(direction, torch.Tensor) else direction
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
    centring and scaling and the output scale are inside the network). Positive
    values are features whose increase moves the point along ``direction`` in the 2-D
    view. Embedded points of scheme "distil" are ``E(C_m(x))`` plus a per-point offset
    that does not depend on ``x`` locally, so the gradient is the same.

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
    _check_model(model)
    module = get_layer(model, layer)
    encoder = _check_embedding(embedding)
    x = _as_inputs(x)
    batch_size = _check_batch_size(batch_size)
    n_components = int(getattr(embedding, "n_components", 2))
    direction = _check_direction(direction, x.shape[0], n_components)
    n_features = int(embedding.n_features_in_)
    enc_device = _model_device(encoder)
    enc_dtype = _model_dtype(encoder)
    dtype = _model_dtype(model)
    direction = direction.to(device=enc_device, dtype=enc_dtype)
    captured: list[torch.Tensor] = []

    def stop_here(_module, _inputs, output):
        captured.append(output[0] if isinstance(output, (tuple, list)) else output)
        raise _StopForward

    out = np.empty(tuple(x.shape), dtype=torch.empty(0, dtype=dtype).numpy().dtype)
    handle = module.register_forward_hook(stop_here)
    try:
        with _evaluating(model, device) as device, progress_bar(x.shape[0], enabled=progress, desc="directional saliency", unit="sample") as bar:
            for start in range(0, x.shape[0], batch_size):
                stop = min(start + batch_size, x.shape[0])
                xb = _batch(x, start, stop, device, dtype)
                captured.clear()
                try:
                    _logits(model, xb, x.shape[1:])
                except _StopForward:
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


# ------------------------------------------------------------------ directions
def _check_positions(positions, name: str = "positions") -> np.ndarray:
    try:
        P = np.asarray(positions.detach().cpu().numpy() if isinstance(positions, torch.Tensor) else positions,
                       dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array of shape (n_points, 2), got {type(positions).__name__}") \
            from exc
    if P.ndim != 2 or P.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n_points, 2), got {P.shape}")
    if P.shape[0] == 0:
        raise ValueError(f"{name} is empty; pass at least one point")
    if not np.isfinite(P).all():
        raise ValueError(f"{name} contains NaN or inf")
    return P


def _centre(P: np.ndarray, center: str) -> np.ndarray:
    if center == "mean":
        return P.mean(axis=0)
    if center == "median":
        return np.median(P, axis=0)
    raise ValueError(f"center must be 'mean' or 'median', got {center!r}")


def _unit(v: np.ndarray, what: str) -> np.ndarray:
    norm = float(np.hypot(*v))
    if not np.isfinite(norm) or norm == 0:
        raise ValueError(f"{what} coincide, so there is no direction between them")
    return v / norm


def direction_between(positions, labels, a, b, *, center: str = "mean") -> np.ndarray:
    """Unit 2-vector from the centre of class ``a``'s points to the centre of class ``b``'s.

    Parameters
    ----------
    positions : array-like of shape (n_points, 2)
        Points in the 2-D view (e.g. ``ParametricTSNE.transform`` of the activations).
    labels : array-like of shape (n_points,)
        Class (or cluster) of each point; any values comparable with ``a`` and ``b``.
    a, b
        The classes to go from and to.
    center : {"mean", "median"}, default="mean"
        Centroid, or the coordinate-wise median (robust to outliers).

    Returns
    -------
    ndarray of shape (2,)
        Unit vector, float64.
    """
    P = _check_positions(positions)
    labels = np.asarray(labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else labels)
    if labels.shape != (P.shape[0],):
        raise ValueError(f"labels must have shape ({P.shape[0]},), one per point; got {labels.shape}")
    centres = []
    for name, cls in (("a", a), ("b", b)):
        mask = labels == cls
        if not np.any(mask):
            present = np.unique(labels)
            shown = ", ".join(map(repr, present[:20].tolist())) + (", ..." if present.size > 20 else "")
            raise ValueError(f"class {name}={cls!r} has no points; classes present: {shown}")
        centres.append(_centre(P[mask], center))
    return _unit(centres[1] - centres[0], f"the centres of classes {a!r} and {b!r}")


def direction_towards(positions, target, *, center: str = "mean", per_point: bool = False) -> np.ndarray:
    """Unit direction(s) from a selection of points toward a target point of the 2-D view.

    For a drag: "what would move these points toward where the user dropped them".

    Parameters
    ----------
    positions : array-like of shape (n_points, 2)
        The selected points.
    target : array-like of shape (2,)
        The target point, e.g. where the selection was dragged to.
    center : {"mean", "median"}, default="mean"
        Centre of the selection the single direction starts from.
    per_point : bool, default=False
        ``False``: one unit vector from the selection's centre to ``target`` (a drag
        moves the selection as a whole). ``True``: one unit vector per point, from
        the point to ``target``, for ``directional_saliency``'s per-sample directions.

    Returns
    -------
    ndarray of shape (2,), or (n_points, 2) with ``per_point=True``
        Unit vectors, float64.
    """
    P = _check_positions(positions)
    t = np.asarray(target.detach().cpu().numpy() if isinstance(target, torch.Tensor) else target, dtype=np.float64)
    if t.shape != (2,) or not np.isfinite(t).all():
        raise ValueError(f"target must be a finite 2-D point of shape (2,), got {target!r}")
    if not per_point:
        return _unit(t - _centre(P, center), "the selection's centre and the target")
    V = t - P
    norms = np.hypot(V[:, 0], V[:, 1])
    if (norms == 0).any():
        raise ValueError(f"point(s) {np.flatnonzero(norms == 0)[:5].tolist()} lie on the target, so they have "
                         "no direction toward it; leave them out")
    return V / norms[:, None]


# ---------------------------------------------------------- comparing maps
def _as_maps(maps, name: str) -> np.ndarray:
    M = np.asarray(maps.detach().cpu().numpy() if isinstance(maps, torch.Tensor) else maps, dtype=np.float64)
    if M.ndim < 1 or M.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n_samples, ...) with at least one sample, got {M.shape}")
    if not np.isfinite(M).all():
        raise ValueError(f"{name} contains NaN or inf")
    return M.reshape(M.shape[0], -1)


def rank_correlation(maps_a, maps_b) -> np.ndarray:
    """Spearman rank correlation of each sample's flattened map in ``maps_a`` with its map in ``maps_b``.

    Ties get their average rank. A sample whose map is constant in either set (e.g.
    all zero) has no rank order, and its correlation is NaN; use ``np.nanmean`` to
    average.

    Parameters
    ----------
    maps_a, maps_b : array-like of the same shape (n_samples, ...)

    Returns
    -------
    ndarray of shape (n_samples,), float64, in [-1, 1] (or NaN)
    """
    from scipy.stats import rankdata

    A, B = _as_maps(maps_a, "maps_a"), _as_maps(maps_b, "maps_b")
    if np.shape(maps_a) != np.shape(maps_b):
        raise ValueError(f"maps_a and maps_b must have the same shape, got {np.shape(maps_a)} and "
                         f"{np.shape(maps_b)}")
    if A.shape[1] < 2:
        raise ValueError(f"maps need at least 2 values per sample to rank, got {A.shape[1]}")
    ra = rankdata(A, axis=1)
    rb = rankdata(B, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    num = (ra * rb).sum(axis=1)
    den = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return np.clip(r, -1.0, 1.0)


def mean_map(maps, *, normalize: bool = False) -> np.ndarray:
    """Average map of a selection of samples.

    Parameters
    ----------
    maps : array-like of shape (n_samples, ...)
    normalize : bool, default=False
        Divide each map by its largest absolute value first, so every sample weighs
        the same whatever its gradient's scale (all-zero maps stay zero).

    Returns
    -------
    ndarray of shape ``maps.shape[1:]``, float64
    """
    shape = np.shape(maps)
    M = _as_maps(maps, "maps")
    if normalize:
        peak = np.abs(M).max(axis=1, keepdims=True)
        M = M / np.where(peak > 0, peak, 1.0)
    return M.mean(axis=0).reshape(shape[1:])
