"""Device selection shared by the embedding and the fine-tuning code."""

from __future__ import annotations

import torch


def resolve_device(device="auto") -> torch.device:
    """Return a ``torch.device``; ``"auto"`` picks CUDA, then MPS, then CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'mps'") from exc
