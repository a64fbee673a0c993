"""Fine-tuning on several processes: ``torchrun``, ``DistributedDataParallel`` and sharded batches.

Under ``torchrun`` each process calls :func:`init_from_env` once, then runs the same
:class:`~plsd_widget.finetune.PLSDTrainer` fit as a single process would. The trainer
draws the same seeded global batches on every process and gives each its slice
``batch[rank::world_size]`` (:func:`shard`): a sample keeps its index, so it stays
paired with its target row. The losses are normalised by the *global* batch's
counts, so the gradient that ``DistributedDataParallel`` averages is the single
process's gradient for the same global batch (equal up to the order of float
sums). torch's ``DistributedSampler`` is not used: it shuffles and pads on its own,
so its batches would not be the single-process run's.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_distributed() -> bool:
    """Whether a process group is initialised (also with a single process)."""
    return dist.is_available() and dist.is_initialized()


def init_from_env(device="auto") -> torch.device:
    """Join the process group that ``torchrun`` describes in the environment; return this process's device.

    The backend is NCCL on CUDA and gloo on the CPU. On CUDA each process takes the GPU
    ``LOCAL_RANK``. Calling it again, or outside ``torchrun``, only returns the device.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"

    Returns
    -------
    torch.device
    """
    from plsd_widget.devices import resolve_device

    device = resolve_device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if "WORLD_SIZE" in os.environ and not is_distributed():
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f"distributed fine-tuning runs on 'cpu' (gloo) or 'cuda' (NCCL), not {device.type!r}")
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def shard(batch: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """This process's samples of a global batch of indices: every ``world_size``-th from ``rank``."""
    return batch[rank::world_size]


def sum_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """``values`` summed over all processes (returned as is outside a process group)."""
    if is_distributed():
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def any_rank(flag: bool, device) -> bool:
    """True on every process when ``flag`` is True on any (a stop must be agreed, or DDP would hang)."""
    if not is_distributed():
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())
