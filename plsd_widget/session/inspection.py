"""What a session's model and embedding say about its points, for ``Session`` and the widget.

The four questions of ``plsd_widget.analysis`` asked of a live session: which points the
model thinks are alike, which to label next, what in an input moves it, and whether a
class hides subtypes. Each works on the session's current model (after fine-tuning, the
fine-tuned one) and the train or test split.
"""

from __future__ import annotations

import weakref

import numpy as np

from plsd_widget._validation import check_positive_int

SPACES = ("latent", "embedding", "input")
SALIENCY_KINDS = ("gradient", "integrated", "toward", "along")
GROUP_BY = ("label", "prediction")
#: Neighbour indices built on a snapshot's activations, by (split, metric); gone with the snapshot.
_INDICES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _inputs(session, split: str) -> np.ndarray:
    if split == "train":
        return session.x
    if split == "test" and session.x_test is not None:
        return session.x_test
    raise ValueError(f"split must be 'train' or 'test' (with x_test given), got {split!r}")


def _split_data(session, split: str, snapshot):
    """Inputs, labels and layer activations of a split, as ``snapshot`` (a session's) has them."""
    x = _inputs(session, split)
    if split == "train":
        return x, session.y, snapshot.activations
    return x, session.y_test, snapshot.test_activations


def neighbour_index(session, split: str = "train", metric: str = "euclidean", snapshot=None):
    """A :class:`~plsd_widget.neighbors.NeighborIndex` of the split's activations, built once per snapshot (model state)."""
    from plsd_widget.neighbors import NeighborIndex

    snapshot = session.snapshot if snapshot is None else snapshot
    cache = _INDICES.setdefault(snapshot, {})
    if (split, metric) not in cache:
        H = _split_data(session, split, snapshot)[2]
        cache[split, metric] = NeighborIndex(H, metric=metric, random_state=session.random_state)
    return cache[split, metric]


def neighbours_of(session, index, k: int = 8, *, split: str = "train", metric: str = "euclidean"):
    """The ``k`` points nearest to point ``index`` in the layer's activation space, and their distances.

    Returns
    -------
    indices : ndarray of shape (k,) int64
    distances : ndarray of shape (k,) float32
    """
    snapshot = session.snapshot
    H = _split_data(session, split, snapshot)[2]
    n = len(H)
    if n < 2:
        raise ValueError("the split has a single point: it has no neighbours")
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise ValueError(f"index must be an integer, got {index!r}")
    if not 0 <= index < n:
        raise ValueError(f"index must be in [0, {n - 1}], got {index!r}")
    k = min(check_positive_int(k, "k"), n - 1)
    indices, distances = neighbour_index(session, split, metric, snapshot).query(
        H[[int(index)]], k, exclude_self=np.array([int(index)]))
    return indices[0], distances[0]


def space_features(session, space: str, split: str = "train", snapshot=None) -> np.ndarray:
    """The points of a split in one of :data:`SPACES`: layer activations, 2-D positions or flat inputs."""
    snapshot = session.snapshot if snapshot is None else snapshot
    x = _inputs(session, split)
    if space == "latent":
        return _split_data(session, split, snapshot)[2]
    if space == "embedding":
        return snapshot.positions if split == "train" else snapshot.test_positions
    if space == "input":
        return x.reshape(len(x), -1)
    raise ValueError(f"space must be one of {SPACES}, got {space!r}")


def select_diverse(session, n: int, *, space: str = "latent", balanced: bool = False, method: str = "fps",
                   split: str = "train", progress: bool = False) -> np.ndarray:
    """``n`` points spread over a space, to label next; ``balanced`` splits them over predicted classes."""
    from plsd_widget.analysis.diverse import select_diverse as choose

    snapshot = session.snapshot
    X = space_features(session, space, split, snapshot)
    predicted = snapshot.predictions if split == "train" else snapshot.test_predictions
    return choose(X, n, labels=predicted if balanced else None, balanced=balanced, method=method,
                  random_state=session.random_state, progress=progress)


def _class_code(session, cls, name: str = "cls") -> int:
    """The index of class ``cls`` (a class name or an index), or a ValueError listing the names."""
    code = session.class_names.index(cls) if isinstance(cls, str) and cls in session.class_names else cls
    if isinstance(code, str) or isinstance(code, bool) or not isinstance(code, (int, np.integer)) \
            or not 0 <= code < len(session.class_names):
        raise ValueError(f"{name} must be one of the class names {session.class_names} or an index, got {cls!r}")
    return int(code)


def _is_class(group) -> bool:
    return isinstance(group, (str, int, np.integer)) and not isinstance(group, bool)


def _class_mask(session, cls, name: str, classes: np.ndarray) -> np.ndarray:
    mask = classes == _class_code(session, cls, name)
    if not mask.any():
        raise ValueError(f"class {cls!r} ({name}) has no points in this split; pass another class")
    return mask


def direction_between(session, a, b, *, split: str = "train", by: str = "label", center: str = "mean") -> np.ndarray:
    """Unit vector in the current 2-D view from the centre of ``a`` to the centre of ``b``.

    ``a`` and ``b`` are each a class (a name or an index; its points by ``by``: true
    label or the current model's prediction) or a selection (point indices or a boolean
    mask over the split).
    """
    from plsd_widget.analysis.saliency import direction_between_selections

    if by not in GROUP_BY:
        raise ValueError(f"by must be one of {GROUP_BY}, got {by!r}")
    snapshot = session.snapshot
    _, y, _ = _split_data(session, split, snapshot)
    classes = y if by == "label" else snapshot.predictions if split == "train" else snapshot.test_predictions
    if _is_class(a) and _is_class(b) and _class_code(session, a, "a") == _class_code(session, b, "b"):
        raise ValueError(f"a and b are the same class ({a!r}); pass two different classes")
    groups = [_class_mask(session, g, name, classes) if _is_class(g) else g for name, g in (("a", a), ("b", b))]
    positions = space_features(session, "embedding", split, snapshot)
    return direction_between_selections(positions, *groups, center=center)


def saliency(session, indices, *, kind: str = "gradient", toward=None, direction=None, split: str = "train",
             progress: bool = False) -> np.ndarray:
    """Saliency maps of points ``indices``, shaped like their inputs.

    ``kind="gradient"``: |∂ logit / ∂ x| of the predicted class; ``"integrated"``: integrated
    gradients; ``"toward"``: the directional saliency of the embedding, the gradient of
    where the point lands along the direction from the points' mean position to ``toward``
    (a 2-D target, e.g. where a drag put them): what in the input moves them there;
    ``"along"``: the same along a given 2-D ``direction`` (e.g. :func:`direction_between`).
    Positive is what moves the points along the direction (toward the target, toward b).
    """
    from plsd_widget.analysis import saliency as maps

    session.ensure_idle("saliency")
    x = _inputs(session, split)
    indices = np.asarray(indices)
    if indices.ndim != 1 or indices.size == 0 or not np.issubdtype(indices.dtype, np.integer) \
            or indices.min() < 0 or indices.max() >= len(x):
        raise ValueError(f"indices must be a non-empty 1-D array of integers in [0, {len(x) - 1}]")
    batch = x[indices]
    if kind == "gradient":
        return maps.gradient_saliency(session.model, batch, progress=progress)
    if kind == "integrated":
        return maps.integrated_gradients(session.model, batch, progress=progress)
    if kind == "toward":
        if toward is None:
            raise ValueError("kind='toward' needs toward=(x, y): the 2-D point to move the points toward")
        positions = space_features(session, "embedding", split, session.snapshot)[indices]
        direction = maps.direction_towards(positions, toward)
    elif kind == "along":
        if direction is None:
            raise ValueError("kind='along' needs direction=(dx, dy), e.g. session.direction_between('4', '9')")
    else:
        raise ValueError(f"kind must be one of {SALIENCY_KINDS}, got {kind!r}")
    return maps.directional_saliency(session.model, session.layer, session.embedding, batch, direction,
                                     progress=progress)


def subtypes(session, cls, *, split: str = "train", **options):
    """Subtypes of class ``cls`` (a name or an index) in the layer's space, and their outlines in 2-D.

    Returns
    -------
    found : Subtypes
        See :func:`plsd_widget.analysis.subtypes.find_subtypes`; ``found.indices`` index the split.
    outlines : list
        Per subtype, its density contours in the embedding (:func:`subtype_outlines`).
    """
    from plsd_widget.analysis.subtypes import find_subtypes, subtype_outlines

    snapshot = session.snapshot
    _, y, H = _split_data(session, split, snapshot)
    found = find_subtypes(H, y, _class_code(session, cls), random_state=session.random_state, **options)
    positions = space_features(session, "embedding", split, snapshot)
    return found, subtype_outlines(positions, found)


class InspectionFront:
    """The members of :class:`~plsd_widget.session.Session` that look inside, over the functions above."""

    def latent_neighbors(self, index: int, k: int = 8, *, split: str = "train", metric: str = "euclidean",
                         return_distance: bool = False):
        """Indices (and with ``return_distance`` the distances) of the ``k`` points nearest to point ``index``
        in the layer's activation space ("euclidean" or "cosine"): what the model thinks is similar."""
        indices, distances = neighbours_of(self, index, k, split=split, metric=metric)
        return (indices, distances) if return_distance else indices

    def select_diverse(self, n: int, *, space: str = "latent", balanced: bool = False, method: str = "fps",
                       split: str = "train", progress: bool = False) -> np.ndarray:
        """``n`` points to label next, spread over ``space`` ("latent", "embedding" or "input"); ``method``
        "fps" (furthest-point sampling) or "typical"; ``balanced`` splits them over the predicted classes."""
        return select_diverse(self, n, space=space, balanced=balanced, method=method, split=split,
                                         progress=progress)

    def saliency(self, indices, *, kind: str = "gradient", toward=None, direction=None, split: str = "train",
                 progress: bool = False) -> np.ndarray:
        """Saliency maps of points ``indices`` shaped like their inputs: ``kind`` "gradient", "integrated",
        "toward" (what would move each point toward the 2-D point ``toward``) or "along" (along the 2-D
        ``direction``, e.g. ``direction_between(a, b)``; positive: what moves it toward b); refused while a
        run goes on."""
        return saliency(self, indices, kind=kind, toward=toward, direction=direction, split=split,
                        progress=progress)

    def direction_between(self, a, b, *, split: str = "train", by: str = "label", center: str = "mean"):
        """Unit 2-vector in the current view from the centre of ``a`` to the centre of ``b``, each a class (name
        or index; its points by ``by``, "label" or "prediction") or a selection (indices or a boolean mask);
        ``center`` "mean" or "median". For ``saliency(..., kind="along", direction=...)``."""
        return direction_between(self, a, b, split=split, by=by, center=center)

    def subtypes(self, cls, *, split: str = "train", **options):
        """Subtypes of class ``cls`` in the layer's space and their outlines in the embedding
        (``options`` go to :func:`plsd_widget.analysis.subtypes.find_subtypes`)."""
        return subtypes(self, cls, split=split, **options)
