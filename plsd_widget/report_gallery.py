"""The report's "fixed by PLSD" gallery: thumbnails of the images PLSD fixed, and of those it broke.

Each card shows an image (an inline PNG), its label, the baseline's and PLSD's predictions
and a small map of the frame with its position in both embeddings; the same images are
ringed and numbered (F1, F2, …; B1, …) on the report's baseline and PLSD panels.
"""

from __future__ import annotations

import base64
import html
import struct
import zlib

import numpy as np

from plsd_widget.widget.thumbnails import sprite_atlas

GALLERY_LIMIT = 24  # cards (and marks on the panels) per list; the counts are always complete
MAP_SIZE = 72
FIXED_COLOR, BROKEN_COLOR = "#111111", "#d62728"


def png_data_uri(pixels) -> str:
    """A ``data:image/png`` URI of ``pixels``, uint8 of shape (h, w) (grey) or (h, w, 3) (RGB).

    A minimal PNG (one IDAT chunk, filter 0) written with ``zlib``: no imaging library needed.
    """
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ValueError(f"pixels must be (h, w) grey or (h, w, 3) RGB, got shape {pixels.shape}")
    height, width = pixels.shape[:2]
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2 if pixels.ndim == 3 else 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def thumbnail_uris(images) -> list[str]:
    """One PNG data URI an image, scaled as :func:`~plsd_widget.widget.thumbnails.sprite_atlas` does; [] if not images."""
    atlas, side, channels = sprite_atlas(images) if len(images) else (None, 0, 0)
    if atlas is None:
        return []
    pixels = np.frombuffer(atlas, dtype=np.uint8).reshape(len(images), side, side, channels)
    return [png_data_uri(p[..., 0] if channels == 1 else p) for p in pixels]


def gallery_marks(result, limit: int = GALLERY_LIMIT) -> dict:
    """The rings of :func:`plsd_widget.report_figure.figure_html`: each shown card's image on the
    baseline and PLSD panels of its split."""
    marks = {(result.split, "baseline (CE)"): [], (result.split, "PLSD"): []}
    for prefix, changed, color in (("F", result.fixed, FIXED_COLOR), ("B", result.broken, BROKEN_COLOR)):
        for k in range(min(limit, len(changed))):
            marks[result.split, "baseline (CE)"].append((*changed.baseline_positions[k], f"{prefix}{k + 1}", color))
            marks[result.split, "PLSD"].append((*changed.plsd_positions[k], f"{prefix}{k + 1}", color))
    return marks


def _position_map(baseline, plsd, bounds, color) -> str:
    """A small map of the frame: the baseline's position (hollow square), PLSD's (dot), joined."""
    x0, x1, y0, y1 = bounds

    def at(point):
        inner = MAP_SIZE - 8
        return 4 + (point[0] - x0) / (x1 - x0) * inner, MAP_SIZE - 4 - (point[1] - y0) / (y1 - y0) * inner

    (bx, by), (px, py) = at(baseline), at(plsd)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{MAP_SIZE}" height="{MAP_SIZE}" class="posmap" role="img" '
            f'aria-label="position in both embeddings"><rect width="{MAP_SIZE}" height="{MAP_SIZE}" fill="#fafafa" '
            f'stroke="#ccc"/><line x1="{bx:.1f}" y1="{by:.1f}" x2="{px:.1f}" y2="{py:.1f}" stroke="#999" '
            f'stroke-dasharray="2 2"/><rect x="{bx - 3:.1f}" y="{by - 3:.1f}" width="6" height="6" fill="none" '
            f'stroke="{color}"/><circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}"/></svg>')


def _cards(changed, prefix, uris, class_names, colors, bounds, limit) -> str:
    cards = []
    for k in range(min(limit, len(changed))):
        label, base, plsd = (class_names[int(c)] for c in (changed.labels[k], changed.baseline_predictions[k],
                                                             changed.plsd_predictions[k]))
        image = f'<img src="{uris[k]}" width="56" height="56" alt="image {changed.indices[k]}">' if uris else ""
        (bx, by), (px, py) = changed.baseline_positions[k], changed.plsd_positions[k]
        cards.append(
            f'<figure class="card" data-index="{changed.indices[k]}">{image}'
            f'{_position_map((bx, by), (px, py), bounds, colors[int(changed.labels[k])])}'
            f"<figcaption><b>{prefix}{k + 1}</b> #{changed.indices[k]} · label {html.escape(label)}<br>"
            f"CE {html.escape(base)} · PLSD {html.escape(plsd)}<br>"
            f'<span class="xy">CE ({bx:.1f}, {by:.1f}) □ · PLSD ({px:.1f}, {py:.1f}) ●</span>'
            "</figcaption></figure>")
    return "".join(cards)


def gallery_html(result, images, class_names, colors, bounds, limit: int = GALLERY_LIMIT) -> str:
    """The gallery section: the counts, then the cards of the fixed and of the broken images.

    Parameters
    ----------
    result : FixedAndBroken
        From :func:`plsd_widget.fixed_by.session_fixed_by`.
    images : array-like of shape (n_samples, ...) or None
        The inputs of ``result.split``, for the thumbnails (none when they are not images).
    class_names, colors : list of str
    bounds : tuple
        The frame of the report's panels, for the position maps.
    limit : int
        Cards shown per list.
    """
    where = "held-out (test)" if result.split == "test" else "training (no test split was given)"
    n_fixed, n_broken = len(result.fixed), len(result.broken)
    parts = [f'<p class="counts" data-fixed="{n_fixed}" data-broken="{n_broken}">On the {where} split, PLSD '
             f"classifies <b>{n_fixed}</b> image(s) right that the CE baseline gets wrong, and <b>{n_broken}</b> "
             f"wrong that the baseline gets right (net {n_fixed - n_broken:+d}). Each card: the image, its label, "
             "both predictions, and its place in both embeddings (□ baseline, ● PLSD; ringed and numbered on the "
             "panels above).</p>"]
    for title, changed, prefix, kind in (("Fixed by PLSD", result.fixed, "F", "fixed"),
                                         ("Broken by PLSD (the reverse, for honesty)", result.broken, "B", "broken")):
        shown = min(limit, len(changed))
        more = f" (showing {shown} of {len(changed)})" if shown < len(changed) else ""
        uris = thumbnail_uris(np.asarray(images)[changed.indices[:shown]]) if images is not None and shown else []
        cards = _cards(changed, prefix, uris, class_names, colors, bounds, limit) or "<p>none</p>"
        parts.append(f'<h3>{title}: {len(changed)}{more}</h3><div class="gallery" data-kind="{kind}">{cards}</div>')
    return "\n".join(parts)
