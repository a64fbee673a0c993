"""Sample thumbnails for the hover tooltip, sent once as one binary sprite atlas."""

from __future__ import annotations

import numpy as np

MAX_SIDE = 32
MAX_BYTES = 32 * 2**20  # keeps the one-off transfer to the browser modest


def _as_images(x: np.ndarray) -> np.ndarray | None:
    """``x`` as (n, h, w, channels) with 1 or 3 channels, or None if it is not images."""
    if x.ndim == 3:
        return x[..., None]
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return np.moveaxis(x, 1, -1)
    if x.ndim == 4 and x.shape[-1] in (1, 3):
        return x
    return None


def sprite_atlas(x, *, max_side: int = MAX_SIDE, max_bytes: int = MAX_BYTES):
    """Thumbnails of every sample as uint8 pixels, one after another.

    Images are scaled by an integer factor (block means) to at most ``max_side`` pixels,
    and further while the atlas would exceed ``max_bytes``; intensities are mapped from
    the data's own range to 0–255.

    Parameters
    ----------
    x : ndarray of shape (n, h, w), (n, c, h, w) or (n, h, w, c) with c in {1, 3}

    Returns
    -------
    atlas : bytes or None
        ``n * side * side * channels`` bytes, row-major per image; None when ``x`` is not
        images (e.g. tabular features) or cannot fit even at 4 pixels a side.
    side : int
    channels : int
    """
    images = _as_images(np.asarray(x))
    if images is None or images.shape[1] != images.shape[2]:
        return None, 0, 0
    n, size, _, channels = images.shape
    factor = max(1, -(-size // max_side))
    while n * (size // factor) ** 2 * channels > max_bytes:
        factor += 1
    side = size // factor
    if side < 4:
        return None, 0, 0
    crop = images[:, : side * factor, : side * factor].astype(np.float32)
    small = crop.reshape(n, side, factor, side, factor, channels).mean(axis=(2, 4))
    lo, hi = float(small.min()), float(small.max())
    scaled = (small - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(small)
    return np.round(scaled).astype(np.uint8).tobytes(), side, channels


def heat_atlas(maps, side: int) -> bytes:
    """Saliency maps as uint8 heat at the thumbnails' ``side``, one map after another.

    The magnitude is summed over channels, block-averaged to ``side`` pixels a side like
    :func:`sprite_atlas`, and each map scaled by its own 99th percentile, so a faint map
    still shows where it looks.

    Parameters
    ----------
    maps : ndarray shaped like the images sprite_atlas took, (n, h, w[, c]) or (n, c, h, w)
    side : int
        The atlas's side, from :func:`sprite_atlas`.

    Returns
    -------
    bytes
        ``n * side * side`` bytes.
    """
    images = _as_images(np.abs(np.asarray(maps, dtype=np.float32)))
    if images is None or side < 1:
        raise ValueError(f"saliency maps must be images to draw over thumbnails, got shape {np.shape(maps)}")
    n, size = images.shape[:2]
    factor = size // side
    heat = images[:, : side * factor, : side * factor].sum(axis=-1)
    heat = heat.reshape(n, side, factor, side, factor).mean(axis=(2, 4)).reshape(n, -1)
    top = np.percentile(heat, 99, axis=1, keepdims=True)
    scaled = np.clip(heat / np.where(top > 0, top, 1.0), 0, 1) * 255
    return np.round(scaled).astype(np.uint8).tobytes()
