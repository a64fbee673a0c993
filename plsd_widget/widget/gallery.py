"""The widget's Figure 2: which run's embedding the view shows, and the "fixed by PLSD" gallery.

The ``show`` trait picks the run whose positions (and predictions) the scatter shows:
``"before"`` (the start model), ``"baseline"`` (the CE baseline, once it has run for as many
epochs as PLSD) or ``"current"`` (the model as fine-tuned now); the contours follow the
positions. ``has_baseline`` says whether there is a baseline to show; while there is, the
``gallery`` trait holds one packet of the test images PLSD fixed and broke
(:func:`plsd_widget.fixed_by.session_fixed_by`; the training split when the session has no
test split, as ``gallery_split`` says). ``js/gallery.js`` is the reading side.

Gallery packet, little-endian; the 4-byte arrays first, so each array starts at a multiple
of its item size::

    uint32  k_fixed, k_broken, n_fixed, n_broken, side, channels     header, 24 bytes
    uint32  indices[k]                  k = k_fixed + k_broken: the fixed first; into gallery_split
    float32 baseline_positions[k, 2]    where the CE baseline's model puts each image
    float32 plsd_positions[k, 2]        where the current model puts it
    uint16  labels[k], baseline_predictions[k], plsd_predictions[k]
    uint8   thumbnails[k, side, side, channels]    (side 0: the inputs are not images)

``n_fixed`` / ``n_broken`` count every such image; at most :data:`GALLERY_LIMIT` of each are sent.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from plsd_widget.widget.binary import array_to_bytes

SHOW_CHOICES = ("before", "baseline", "current")
GALLERY_LIMIT = 48
HEADER = 24  # bytes: k_fixed, k_broken, n_fixed, n_broken, side, channels


class Gallery(NamedTuple):
    """A decoded gallery packet (tests; the view decodes it in JS)."""

    n_fixed: int
    n_broken: int
    kinds: list  # "fixed" / "broken" per item
    indices: np.ndarray
    baseline_positions: np.ndarray
    plsd_positions: np.ndarray
    labels: np.ndarray
    baseline_predictions: np.ndarray
    plsd_predictions: np.ndarray
    thumbnails: np.ndarray  # (k, side, side, channels) uint8


def shown_snapshot(session, show: str):
    """The snapshot whose positions the view shows for ``show``; the current one while no baseline stands."""
    if show == "before":
        return session.start_snapshot
    if show == "baseline" and session.baseline_snapshot is not None:
        return session.baseline_snapshot
    return session.snapshot


def encode_gallery(result, atlas: bytes | None, side: int, channels: int, limit: int = GALLERY_LIMIT) -> bytes:
    """The packet of a :class:`~plsd_widget.fixed_by.FixedAndBroken`, with thumbnails from the split's atlas.

    Parameters
    ----------
    result : FixedAndBroken
    atlas : bytes or None
        :func:`~plsd_widget.widget.thumbnails.sprite_atlas` of the whole split (None: no thumbnails).
    side, channels : int
        The atlas's.
    limit : int
        The most images of each list sent.
    """
    fixed, broken = result.fixed, result.broken
    take = [np.arange(min(limit, len(part))) for part in (fixed, broken)]

    def both(name):
        return np.concatenate([getattr(fixed, name)[take[0]], getattr(broken, name)[take[1]]])

    indices = both("indices")
    pixels = side * side * channels if atlas else 0
    if pixels:
        sprites = np.frombuffer(atlas, dtype=np.uint8).reshape(-1, pixels)[indices]
    else:
        sprites, side, channels = np.empty((0,), np.uint8), 0, 0
    header = [len(take[0]), len(take[1]), len(fixed), len(broken), side, channels]
    return b"".join([array_to_bytes(header, np.uint32), array_to_bytes(indices, np.uint32),
                     array_to_bytes(both("baseline_positions"), np.float32),
                     array_to_bytes(both("plsd_positions"), np.float32),
                     *(array_to_bytes(both(name), np.uint16) for name in
                       ("labels", "baseline_predictions", "plsd_predictions")),
                     sprites.tobytes()])


def decode_gallery(packet) -> Gallery | None:
    """The arrays of a gallery packet, or None for an empty one."""
    raw = memoryview(packet).cast("B")
    if raw.nbytes == 0:
        return None
    if raw.nbytes < HEADER:
        raise ValueError(f"a gallery packet needs at least {HEADER} bytes, got {raw.nbytes}")
    k_fixed, k_broken, n_fixed, n_broken, side, channels = np.frombuffer(raw[:HEADER], dtype="<u4").tolist()
    k = k_fixed + k_broken
    expected = HEADER + 26 * k + k * side * side * channels
    if raw.nbytes != expected:
        raise ValueError(f"a gallery packet of {k} images ({side}x{side}x{channels} thumbnails) needs {expected} "
                         f"bytes, got {raw.nbytes}")
    parts, start = [], HEADER
    for dtype, count in (("<u4", k), ("<f4", 2 * k), ("<f4", 2 * k), ("<u2", k), ("<u2", k), ("<u2", k)):
        stop = start + np.dtype(dtype).itemsize * count
        parts.append(np.frombuffer(raw[start:stop], dtype=dtype).astype(np.dtype(dtype).newbyteorder("=")))
        start = stop
    thumbnails = np.frombuffer(raw[start:], dtype=np.uint8).reshape(k, side, side, channels)
    indices, baseline, plsd, labels, base_pred, plsd_pred = parts
    return Gallery(n_fixed, n_broken, ["fixed"] * k_fixed + ["broken"] * k_broken, indices.astype(np.int64),
                   baseline.reshape(-1, 2), plsd.reshape(-1, 2), labels, base_pred, plsd_pred, thumbnails)


def sync_runs(widget) -> None:
    """Bring ``has_baseline``, ``gallery`` and ``gallery_split`` up to date; ``show`` leaves a baseline that went.

    Called after every epoch, rollback and baseline (the session's "positions" and
    "metrics" events).
    """
    session = widget.session
    baseline = session.baseline_snapshot
    has_baseline = baseline is not None and len(session.checkpoints) > 1
    packet, split = b"", ""
    if has_baseline:
        split = "test" if session.y_test is not None else "train"
        atlas, side, channels = widget.atlas(split)
        packet = encode_gallery(session.fixed_by_plsd(split), atlas, side, channels)
    with widget.hold_sync():
        widget.has_baseline = has_baseline
        widget.gallery, widget.gallery_split = packet, split
        if not has_baseline and widget.show == "baseline":
            widget.show = "current"
