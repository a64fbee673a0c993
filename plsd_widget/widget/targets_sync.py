"""Edit targets kernel -> view: the full (n, 2) array when needed, versioned deltas otherwise.

After an edit, undo or redo only the points whose targets changed travel: 12 bytes each
plus a 12-byte header, instead of the whole array (8 bytes a point: 8 MB at a million
points). The traits stay the authoritative state: ``targets`` holds the full array as of
``targets_version`` and ``targets_delta`` the last step, so a view that finds a gap (a
second view, a re-display, a reloaded page) asks for the full array once (the
``resync_targets`` message) and is current again. ``js/transport.js`` is the reading side.

Delta packet, little-endian: ``uint32 from_version, uint32 to_version, uint32 k``, then
``uint32 indices[k]`` and ``float32 targets[k, 2]`` (NaN: the point's edit was undone).
"""

from __future__ import annotations

import numpy as np

from plsd_widget.widget.binary import array_to_bytes

HEADER = 12  # bytes: from_version, to_version, k


def encode_delta(from_version: int, to_version: int, indices, targets) -> bytes:
    """The ``targets_delta`` packet of points ``indices`` now at ``targets`` (k, 2)."""
    indices = np.asarray(indices).reshape(-1)
    targets = np.asarray(targets).reshape(-1, 2)
    if len(targets) != len(indices):
        raise ValueError(f"{len(indices)} indices need {len(indices)} targets, got {len(targets)}")
    header = [from_version, to_version, len(indices)]
    return array_to_bytes(header, np.uint32) + array_to_bytes(indices, np.uint32) + array_to_bytes(targets, np.float32)


def decode_delta(packet) -> tuple[int, int, np.ndarray, np.ndarray]:
    """``(from_version, to_version, indices, targets)`` of a packet (tests; the view does it in JS)."""
    raw = memoryview(packet).cast("B")
    if raw.nbytes < HEADER:
        raise ValueError(f"a targets delta needs at least {HEADER} bytes, got {raw.nbytes}")
    start, stop, k = np.frombuffer(raw[:HEADER], dtype="<u4").tolist()
    if raw.nbytes != HEADER + 12 * k:
        raise ValueError(f"a targets delta of {k} points needs {HEADER + 12 * k} bytes, got {raw.nbytes}")
    indices = np.frombuffer(raw[HEADER:HEADER + 4 * k], dtype="<u4").astype(np.int64)
    targets = np.frombuffer(raw[HEADER + 4 * k:], dtype="<f4").reshape(k, 2).astype(np.float32)
    return start, stop, indices, targets


def changed_rows(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Indices of the rows of two (n, 2) target arrays that differ; NaN equals NaN."""
    same = (old == new) | (np.isnan(old) & np.isnan(new))
    return np.flatnonzero(~same.all(axis=1))


class TargetsSync:
    """What the widget's ``targets*`` traits must become so every view holds ``targets``.

    ``version`` counts the changes of the targets the views hold; a delta goes from one
    version to the next. ``update`` returns the trait values to set: a delta when it is
    smaller than the full array, else (or with ``full=True``) the full array.
    """

    def __init__(self) -> None:
        self.version = 0
        self.sent: np.ndarray | None = None  # the targets every view holds at ``version``

    def full(self) -> dict:
        """The full array at the current version (a resync, or the train split shown again)."""
        return {"targets": array_to_bytes(self.sent, np.float32), "targets_version": self.version}

    def update(self, targets: np.ndarray, *, full: bool = False) -> dict:
        targets = np.asarray(targets, dtype=np.float32)
        if self.sent is None or self.sent.shape != targets.shape:
            self.version += 1
            self.sent = targets.copy()
            return self.full()
        changed = changed_rows(self.sent, targets)
        if changed.size:
            self.version += 1
            self.sent[changed] = targets[changed]
        if full or (changed.size and HEADER + 12 * changed.size >= 8 * len(targets)):
            return self.full()
        if not changed.size:
            return {}
        return {"targets_delta": encode_delta(self.version - 1, self.version, changed, targets[changed])}
