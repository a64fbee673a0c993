"""A synthetic shortcut: a corner mark that correlates with some classes in training only.

The realistic case in medical imaging is an acquisition artefact (a scanner mark, a text
overlay) present on most training images of some classes. A classifier learns it as a
shortcut; in the embedding each marked class shows up split in two (with and without the
mark), and the user's edit "these belong together" (contract the class) is knowledge the
labels do not carry. This module makes such data from any image split.

The mark is a bright square in the top-left corner, a seventh of the image's side (4×4
pixels on 28×28 MNIST, where the corners are empty), set to the images' maximum value.
"""

from __future__ import annotations

import numpy as np

from plsd_widget._validation import check_fraction
from plsd_widget.datasets import ImageSplit


def mark_size(image_size: int) -> int:
    """Side of the square mark in pixels: a seventh of the image's side, at least 1."""
    return max(1, round(image_size / 7))


def stamp(images, marked) -> np.ndarray:
    """A copy of ``images`` with the corner mark set on the images where ``marked`` is True and cleared elsewhere.

    Parameters
    ----------
    images : ndarray of shape (n, channels, h, w)
    marked : array-like of bool, shape (n,)

    Returns
    -------
    ndarray like ``images``
    """
    images = np.asarray(images)
    marked = np.asarray(marked, dtype=bool)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (n, channels, height, width), got {images.shape}")
    if marked.shape != (len(images),):
        raise ValueError(f"marked must have one flag per image, shape ({len(images)},), got {marked.shape}")
    out = images.copy()
    s = mark_size(min(images.shape[2:]))
    out[:, :, 1:1 + s, 1:1 + s] = np.where(marked[:, None, None, None], images.max() if images.size else 1, 0)
    return out


def _check_classes(classes, labels, what: str) -> np.ndarray:
    codes = np.unique(np.atleast_1d(np.asarray(classes)))
    if codes.size == 0 or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"classes must be a non-empty list of integer class labels, got {classes!r}")
    missing = sorted(set(codes.tolist()) - set(np.unique(labels).tolist()))
    if missing:
        raise ValueError(f"class(es) {missing} are not in the {what}, which has classes "
                         f"{np.unique(labels).tolist()}; mark classes the data has")
    return codes


def randomise_mark(random_state: int = 0):
    """The oracle's augmentation: a ``PLSDTrainer`` transform that sets or clears the mark at random.

    Every image of every batch gets the mark with probability ½, so the mark tells
    nothing about the class: cross-entropy with it is the upper bound of a fix that knows
    the artefact (an edit does not need to).

    Parameters
    ----------
    random_state : int
        Seeds the transform's own generator.

    Returns
    -------
    callable
        ``transform(x_batch) -> x_batch`` for ``PLSDTrainer(transform=...)``.
    """
    import torch

    gen = torch.Generator().manual_seed(int(random_state))

    def transform(xb):
        s = mark_size(min(xb.shape[-2:]))
        on = (torch.rand(len(xb), generator=gen) < 0.5).to(xb.dtype)
        xb = xb.clone()
        xb[:, :, 1:1 + s, 1:1 + s] = on[:, None, None, None]
        return xb

    return transform


def add_shortcut(split: ImageSplit, classes, *, p_marked: float = 0.95, p_other: float = 0.05,
                 random_state=0) -> tuple[ImageSplit, np.ndarray]:
    """Mark most images of ``classes`` and few of the others.

    Parameters
    ----------
    split : ImageSplit
        Images of shape (n, channels, h, w) with labels.
    classes : list of int
        The classes the mark goes with.
    p_marked, p_other : float in [0, 1]
        Chance that an image of ``classes`` / of any other class carries the mark.
        ``p_marked == p_other`` makes the mark independent of the class (a shifted test set).
    random_state : int or numpy.random.Generator

    Returns
    -------
    marked_split : ImageSplit
        A new split (the input is not changed) with the marks set and cleared.
    marked : ndarray of bool, shape (n,)
        Which images carry the mark.
    """
    p_marked = check_fraction(p_marked, "p_marked")
    p_other = check_fraction(p_other, "p_other")
    codes = _check_classes(classes, split.labels, "data")
    rng = np.random.default_rng(random_state)
    marked = rng.random(len(split.labels)) < np.where(np.isin(split.labels, codes), p_marked, p_other)
    return ImageSplit(stamp(split.images, marked), split.labels.copy(), list(split.class_names)), marked


def shortcut_test_sets(test: ImageSplit, classes, *, p_marked: float = 0.95, p_other: float = 0.05,
                       p_shifted: float = 0.5, random_state=0) -> dict[str, tuple[ImageSplit, np.ndarray]]:
    """The held-out split twice: as in training, and with the mark independent of the class.

    Returns
    -------
    dict
        ``{"unshifted": (split, marked), "shifted": (split, marked)}``: the mark with the
        training's probabilities, and on a ``p_shifted`` share of every class.

    Raises
    ------
    ValueError
        If the test split lacks a class: per-class scores on it would be undefined.
    """
    absent = sorted(set(range(len(test.class_names))) - set(np.unique(test.labels).tolist()))
    if absent:
        raise ValueError(f"the test split has no images of class(es) {absent}; per-class scores need every "
                         "class: draw the test set from every class")
    rng = np.random.default_rng(random_state)
    return {"unshifted": add_shortcut(test, classes, p_marked=p_marked, p_other=p_other, random_state=rng),
            "shifted": add_shortcut(test, classes, p_marked=p_shifted, p_other=p_shifted, random_state=rng)}


def gather_strays(positions, labels, *, classes=None, kappa: float = 0.8, mass: float = 0.9,
                  grid_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Targets that pull each class's strays into its core: the edit a user makes of a split class.

    A class's *core* is the largest connected piece (by its number of points) of the
    region inside its own ``mass`` density contour (the contour the widget draws); its
    *strays* are its points anywhere else: in another piece of the contour (a split-off
    part) or outside it. Each stray's target is ``κ`` of the way from where it is to the
    centroid of the core's points (Eq. 2, with the core's centroid instead of the
    selection's).

    Parameters
    ----------
    positions : array-like of shape (n_samples, 2)
    labels : array-like of shape (n_samples,)
    classes : list of int, optional
        Classes whose strays are gathered; default every class.
    kappa : float in [0, 1], default=0.8
    mass : float in (0, 1), default=0.9
    grid_size : int, default=128

    Returns
    -------
    indices : ndarray of int64, shape (n_strays,)
    targets : ndarray of float32, shape (n_strays, 2)
        Pass both to ``Session.move_points``.
    """
    from scipy import ndimage

    from plsd_widget.density import grid_cells, grid_densities, mass_level

    kappa = check_fraction(kappa, "kappa")
    Y = np.asarray(positions, dtype=np.float64)
    labels = np.asarray(labels)
    if Y.ndim != 2 or Y.shape[1] != 2 or len(Y) != len(labels):
        raise ValueError(f"positions must have shape (n_samples, 2) with one label each, got {Y.shape} "
                         f"and {len(labels)} labels")
    codes = np.unique(labels) if classes is None else _check_classes(classes, labels, "labels")
    grid = grid_densities(Y, labels, n_classes=int(labels.max()) + 1, grid_size=grid_size)
    row, col = grid_cells(grid, Y)  # the grid spans every point
    indices, targets = [], []
    for c in codes:
        density = grid.density[c]
        pieces, _ = ndimage.label(density >= mass_level(density, mass))
        own = np.flatnonzero(labels == c)
        piece = pieces[row[own], col[own]]  # 0: outside the contour
        if not piece.any():
            continue
        core = np.bincount(piece[piece > 0]).argmax()
        centre = Y[own[piece == core]].mean(axis=0)
        stray = own[piece != core]
        indices.append(stray)
        targets.append(Y[stray] + kappa * (centre - Y[stray]))
    if not indices:
        return np.zeros(0, np.int64), np.zeros((0, 2), np.float32)
    order = np.argsort(np.concatenate(indices))
    return np.concatenate(indices)[order].astype(np.int64), np.concatenate(targets)[order].astype(np.float32)
