"""A session's checkpoints in bounded memory: the start weights and the latest epoch's in memory,
every other epoch's as a safetensors file in a folder of the session's.

Keeping every epoch's ``state_dict`` in memory costs the model's size per epoch (a
ResNet-50 over 30 epochs: 3 GB). Here memory holds two copies whatever the number of
epochs; an older epoch is read back from its file when asked for (a rollback, a
comparison). The folder is a fresh temporary one, removed by :meth:`Checkpoints.close`,
when the object is garbage-collected, or when the interpreter exits.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import weakref
from pathlib import Path


def _cpu_copy(state: dict) -> dict:
    """A copy of ``state`` on the CPU that shares no memory with the model (tensors; other entries as they are)."""
    import torch

    return {k: v.detach().to("cpu", copy=True).contiguous() if isinstance(v, torch.Tensor) else copy.deepcopy(v)
            for k, v in state.items()}


class Checkpoints:
    """Model state dicts: the start weights, then one per completed epoch.

    ``len(checkpoints)`` is 1 + the number of epochs; ``checkpoints[i]`` is epoch ``i``'s
    state dict (CPU tensors; ``[-1]`` the latest), ready for ``model.load_state_dict``.

    Parameters
    ----------
    start : dict
        The model's ``state_dict()`` when the session started (copied).
    folder : str or Path, optional
        Where the session's folder is made (a fresh subfolder); default the system's
        temporary folder.
    """

    def __init__(self, start: dict, folder=None):
        self._parent = None if folder is None else Path(folder)
        self._folder: Path | None = None  # made on the first file
        self._in_memory = {0: _cpu_copy(start)}
        self._extras: dict[int, dict] = {}  # non-tensor entries of files' state dicts
        self._length = 1
        self._finalizer = None

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, epoch: int) -> dict:
        if not isinstance(epoch, int) or isinstance(epoch, bool):
            raise TypeError(f"checkpoints are indexed by epoch (an int), got {type(epoch).__name__}")
        if epoch < 0:
            epoch += self._length
        if not 0 <= epoch < self._length:
            raise IndexError(f"epoch must be in [0, {self._length - 1}], got {epoch}")
        if epoch in self._in_memory:
            return self._in_memory[epoch]
        from safetensors.torch import load_file

        return load_file(str(self._path(epoch))) | self._extras[epoch]

    def __iter__(self):
        return (self[i] for i in range(self._length))

    @property
    def folder(self) -> Path | None:
        """The folder of the files (None until an epoch was written there)."""
        return self._folder

    def append(self, state: dict) -> int:
        """Keep a copy of ``state`` as the next epoch's; return that epoch. The latest before it goes to a file."""
        latest = self._length - 1
        if latest > 0 and latest in self._in_memory:  # after a rollback to it, it is in its file already
            self._write(latest, self._in_memory.pop(latest))
        self._in_memory[self._length] = _cpu_copy(state)
        self._length += 1
        return self._length - 1

    def truncate(self, length: int) -> None:
        """Drop the epochs from ``length`` on (``length >= 1``: the start stays)."""
        for epoch in range(max(length, 1), self._length):
            self._in_memory.pop(epoch, None)
            self._extras.pop(epoch, None)
            if self._folder is not None:
                self._path(epoch).unlink(missing_ok=True)
        self._length = min(self._length, max(length, 1))

    def close(self) -> None:
        """Remove the folder and every epoch but the start's; the object stays usable."""
        self.truncate(1)
        if self._finalizer is not None:
            self._finalizer()
            self._folder = self._finalizer = None

    def _path(self, epoch: int) -> Path:
        return self._folder / f"epoch-{epoch:05d}.safetensors"

    def _write(self, epoch: int, state: dict) -> None:
        import torch
        from safetensors.torch import save_file

        if self._folder is None:
            if self._parent is not None:
                self._parent.mkdir(parents=True, exist_ok=True)
            self._folder = Path(tempfile.mkdtemp(prefix="plsd-session-", dir=self._parent))
            self._finalizer = weakref.finalize(self, shutil.rmtree, str(self._folder), ignore_errors=True)
        save_file({k: v for k, v in state.items() if isinstance(v, torch.Tensor)}, str(self._path(epoch)))
        self._extras[epoch] = {k: v for k, v in state.items() if not isinstance(v, torch.Tensor)}
