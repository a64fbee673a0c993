"""The widget's "look inside" actions: neighbours with distances, what to label next,
saliency over thumbnails (of a selection, after a drag, from one class or group toward
another), and a class's subtypes as outlines.

Each function takes the :class:`PLSDWidget` and the view's message, asks the session
(``plsd_widget.session.inspection``) and writes the traits the view draws.
"""

from __future__ import annotations

import reprlib

import numpy as np

from plsd_widget.contours import pack_contours
from plsd_widget.widget.binary import array_to_bytes, bytes_to_array
from plsd_widget.widget.outlines import encode_outlines
from plsd_widget.widget.thumbnails import heat_atlas

NEIGHBORS = 8  # latent-space neighbours shown for a clicked point
MAX_SUGGEST = 10_000  # more is no longer "what to label next"
#: The most selected points a mean saliency map is computed from: a deterministic sample
#: above it keeps the answer interactive (about a second on a laptop CPU).
MAX_SALIENCY_POINTS = 512
SALIENCY_KINDS = ("off", "gradient", "integrated")


def _heat(widget, maps) -> bytes:
    side = widget.thumbnail_side
    return heat_atlas(maps, side) if side else b""


def show_neighbors(widget, index) -> None:
    """The clicked point's neighbours in the layer's space, their distances and, if on, saliency."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValueError(f"index must be an integer, got {reprlib.repr(index)}")
    nearest, distances = widget.session.latent_neighbors(index, NEIGHBORS, split=widget.split,
                                                         return_distance=True)
    heat = b""
    if widget.saliency != "off" and widget.thumbnail_side:
        shown = np.concatenate([[index], nearest])
        heat = _heat(widget, widget.session.saliency(shown, kind=widget.saliency, split=widget.split))
    with widget.hold_sync():
        widget.neighbors = array_to_bytes(nearest, np.uint32)
        widget.neighbor_distances = array_to_bytes(distances, np.float32)
        widget.neighbor_heat = heat
        widget.neighbors_of = index


def suggest(widget) -> None:
    """Highlight ``suggest_n`` points to label next (furthest-point sampling in the layer's space)."""
    n = widget.suggest_n
    if not 1 <= n <= min(MAX_SUGGEST, len(widget.session.labels)):
        raise ValueError(f"suggest between 1 and {min(MAX_SUGGEST, len(widget.session.labels))} points, got {n}")
    chosen = widget.session.select_diverse(n, balanced=widget.suggest_balanced, split=widget.split)
    widget.suggested = array_to_bytes(chosen, np.uint32)


def _check_images(widget) -> None:
    if not widget.thumbnail_side:
        raise ValueError("saliency maps are drawn over image thumbnails; these inputs are not images")


def _sample(indices: np.ndarray) -> tuple[np.ndarray, str]:
    """At most MAX_SALIENCY_POINTS of ``indices`` (a fixed sample), and the caption's note when sampled."""
    if indices.size <= MAX_SALIENCY_POINTS:
        return indices, ""
    picked = np.sort(np.random.default_rng(0).choice(indices, MAX_SALIENCY_POINTS, replace=False))
    return picked, f" (a sample of {picked.size} of the {indices.size})"


def _indices(widget, buffer, name: str) -> np.ndarray:
    return bytes_to_array(buffer, np.uint32, name, len(widget.session.labels)).astype(np.int64)


def selection_saliency(widget, buffers) -> None:
    """The mean saliency map of the selected points; for edited ones also what moves them to their targets."""
    _check_images(widget)
    if len(buffers) != 1:
        raise ValueError(f"a saliency request needs 1 buffer (indices), got {len(buffers)}")
    session = widget.session
    indices = _indices(widget, buffers[0], "saliency indices")
    if indices.size == 0:
        raise ValueError("select points before asking for their saliency")
    n_selected = indices.size
    indices, sample = _sample(indices)
    maps = [session.saliency(indices, kind="gradient").mean(axis=0)]
    captions = [f"mean |gradient| of {n_selected} selected{sample}"]
    targets = session.targets[indices]
    edited = np.isfinite(targets).all(axis=1)
    if edited.any():
        goal = targets[edited].mean(axis=0)
        toward = session.saliency(indices[edited], kind="toward", toward=goal).mean(axis=0)
        maps.append(toward)
        captions.append(f"what moves {int(edited.sum())} edited toward their targets (red: more ink there moves "
                        "them, by its magnitude)")
    with widget.hold_sync():
        widget.selection_heat = _heat(widget, np.stack(maps))
        widget.selection_heat_captions = captions


def _direction_end(content, key: str, group: np.ndarray, name: str):
    """A class name (``content[key]``), or for ``None`` the group sent in the buffer; and its caption."""
    value = content.get(key, "missing")
    if value is None:
        if group.size == 0:
            raise ValueError(f"group {name} is empty; select points and press '{name} = selection' first, "
                             "or pick a class")
        return group, f"group {name} ({group.size})"
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a class name, or null for group {name}; got {reprlib.repr(value)}")
    return value, f"class {value}"


def direction_saliency(widget, content, buffers) -> None:
    """What moves points from one class or group toward another in the view: the mean directional saliency.

    ``content["from"]`` / ``content["to"]``: class names, or ``None`` for the groups in
    buffers 1 and 2; buffer 0: the points whose maps are averaged (empty: the "from"
    class's or group's own points). The direction is ``session.direction_between`` on the
    train split's current view; positive (red) is what moves a point toward "to".
    """
    _check_images(widget)
    if len(buffers) != 3:
        raise ValueError(f"a direction request needs 3 buffers (points, group A, group B), got {len(buffers)}")
    session = widget.session
    points, group_a, group_b = (_indices(widget, b, name) for b, name in
                                zip(buffers, ("direction points", "group A", "group B")))
    a, from_text = _direction_end(content, "from", group_a, "A")
    b, to_text = _direction_end(content, "to", group_b, "B")
    direction = session.direction_between(a, b)
    if points.size:
        whose = f"{points.size} selected"
    else:
        points = group_a if isinstance(a, np.ndarray) else np.flatnonzero(
            session.labels == session.class_names.index(a))
        whose = f"the {points.size} of {from_text}"
    points, sample = _sample(points)
    heat = session.saliency(points, kind="along", direction=direction).mean(axis=0)
    with widget.hold_sync():
        widget.selection_heat = _heat(widget, heat[None])
        widget.selection_heat_captions = [f"what moves {whose}{sample} from {from_text} toward {to_text} "
                                          "(red: more ink there moves them toward it)"]


def show_subtypes(widget, content) -> None:
    """Subtypes of one class as dashed outlines, or clear them when ``content["class"]`` is None."""
    name = content.get("class")
    if name is None:
        clear_subtypes(widget)
        return
    if not isinstance(name, str):
        raise ValueError(f"class must be a class name, got {reprlib.repr(name)}")
    found, outlines = widget.session.subtypes(name, split=widget.split)
    with widget.hold_sync():
        widget.subtypes = encode_outlines(*pack_contours(outlines), found.indices, found.labels)
        widget.subtypes_info = (f"class {name}: {found.k} subtypes" if found.k > 1
                                else f"class {name}: one group, no subtypes found")


def clear_subtypes(widget) -> None:
    """Remove the subtype outlines from the view."""
    with widget.hold_sync():
        widget.subtypes = b""
        widget.subtypes_info = ""
