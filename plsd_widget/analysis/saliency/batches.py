"""What every saliency map needs: checked inputs and targets, eval mode, batches that carry a gradient."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from plsd_widget.devices import resolve_device


class StopForward(Exception):
    """Raised by the forward hook of :func:`directional_saliency` once layer ``m`` has run."""


def check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def model_device(model: nn.Module) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def check_batch_size(batch_size, name: str = "batch_size") -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{name} must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def as_inputs(x, name: str = "x") -> torch.Tensor:
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


def class_targets(target, n: int) -> torch.Tensor | None:
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
def evaluating(model: nn.Module, device):
    """Put ``model`` (every sub-module) in eval mode on ``device``; restore modes and device afterwards."""
    modes = [(module, module.training) for module in model.modules()]
    original = model_device(model)
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


def logits_of(model: nn.Module, xb: torch.Tensor, shape) -> torch.Tensor:
    try:
        out = model(xb)
    except RuntimeError as exc:
        raise ValueError(f"the model could not run on inputs of shape {tuple(shape)} per sample "
                         f"(x has shape {tuple(xb.shape)} in this batch): {exc}") from exc
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise ValueError("the model must return logits of shape (batch, n_classes), got "
                         f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
    return out


def pick_logit(logits: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """The logit of ``target`` (or of the predicted class) of every row, shape (batch,)."""
    if target is None:
        target = logits.detach().argmax(dim=1)
    else:
        target = target.to(logits.device)
        if int(target.max()) >= logits.shape[1]:
            raise ValueError(f"target holds class {int(target.max())}, but the model has "
                             f"{logits.shape[1]} classes (0..{logits.shape[1] - 1})")
    return logits.gather(1, target[:, None]).squeeze(1)


def grad_batch(x: torch.Tensor, start: int, stop: int, device, dtype) -> torch.Tensor:
    """A fresh leaf copy of ``x[start:stop]`` that requires grad (the caller's ``x`` is never touched)."""
    return x[start:stop].to(device=device, dtype=dtype, copy=True).requires_grad_(True)
