"""How decluttered a 2-D embedding is: kNN class purity, contour overlap, distance to the edit targets.

Three measures, computed per run ("before", "baseline (CE)", "PLSD") and split by
``Session.declutter``:

* **kNN purity** (:func:`knn_purity`): the mean over points of the fraction of their
  ``k`` nearest neighbours in the embedding (the point itself excluded) that share their
  label. 1 when classes never mix locally; about ``sum_c p_c²`` (``1 / n_classes`` for
  balanced classes) when labels are unrelated to position.
* **Contour overlap** (:func:`contour_overlap`): per class, the fraction of the area
  inside its density contour that also lies inside another class's contour. The contour
  is the one the widget draws: the boundary of the highest-density region holding
  ``mass = 0.9`` of the class's kernel density (see
  :func:`plsd_widget.contours.density_contours` for why that level). 0 = clear of every
  other class, 1 = entirely inside others.
* **Distance to target** (:func:`target_distance`): the mean Euclidean distance of the
  edited points to their targets, divided by a scale (the session's
  ``embedding_scale``, the points' RMS distance from their centre). 0 when every edit
  was achieved.
"""

from __future__ import annotations

import numpy as np

from plsd_widget._validation import as_float_array, as_labels, check_positive_int
from plsd_widget.density import check_mass, grid_densities, mass_level
from plsd_widget.neighbors import check_k, neighbors
from plsd_widget.tables import html_table, markdown_table, mean_sd, number, text_table


def _points_and_labels(Y, labels) -> tuple[np.ndarray, np.ndarray]:
    Y = as_float_array(Y, "Y")
    return Y, as_labels(labels, len(Y), "labels")


def _check_n_classes(n_classes, labels: np.ndarray) -> int:
    if n_classes is None:
        return int(labels.max()) + 1
    n_classes = check_positive_int(n_classes, "n_classes")
    if labels.max() >= n_classes:
        raise ValueError(f"labels go up to {labels.max()} but n_classes={n_classes}; raise n_classes")
    return n_classes


def knn_purity(Y, labels, k: int = 10, *, per_class: bool = False, n_classes: int | None = None):
    """Mean fraction of each point's ``k`` nearest neighbours in ``Y`` that share its label.

    Parameters
    ----------
    Y : array-like of shape (n_samples, n_components)
        Embedded points (any dimension; exact Euclidean neighbours, ties broken by index).
    labels : array-like of shape (n_samples,)
        Integer class indices ``0..n_classes-1``.
    k : int, default=10
        Neighbours per point, the point itself excluded; needs ``k < n_samples``.
    per_class : bool, default=False
        Return the mean purity of each class's points instead of the overall mean.
    n_classes : int, optional
        Length of the per-class result; default ``labels.max() + 1``.

    Returns
    -------
    float or ndarray of shape (n_classes,)
        Purity in [0, 1]; per class, NaN for a class without points.
    """
    Y, labels = _points_and_labels(Y, labels)
    n = len(Y)
    idx, _ = neighbors(Y, k=check_k(k, n), method="exact")  # each point left out of its own list
    purity = (labels[idx] == labels[:, None]).mean(axis=1)
    if not per_class:
        return float(purity.mean())
    n_classes = _check_n_classes(n_classes, labels)
    counts = np.bincount(labels, minlength=n_classes)
    sums = np.bincount(labels, purity, minlength=n_classes)
    return np.divide(sums, counts, out=np.full(n_classes, np.nan), where=counts > 0)


def contour_overlap(Y, labels, *, n_classes: int | None = None, mass: float = 0.9, grid_size: int = 128,
                    extent=None, return_area: bool = False):
    """Per class, the fraction of the area inside its density contour that other classes' contours cover.

    Each class ``c`` present gets a binned Gaussian KDE on one shared grid
    (:func:`plsd_widget.density.grid_densities`) and its region ``R_c``: the grid nodes
    where its density is at or above the level whose super-level set holds ``mass`` of
    its probability (:func:`plsd_widget.density.mass_level`), i.e. the inside of the
    contour the widget draws at the same ``mass``. Then
    ``overlap_c = area(R_c ∩ ∪_{b≠c} R_b) / area(R_c)``.

    Parameters
    ----------
    Y : array-like of shape (n_samples, 2)
        Embedded points.
    labels : array-like of shape (n_samples,)
        Integer class indices ``0..n_classes-1``.
    n_classes : int, optional
        Length of the result; default ``labels.max() + 1``.
    mass : float in (0, 1), default=0.9
        Probability mass inside each class's contour (the widget's contours use 0.9).
    grid_size : int, default=128
        Grid nodes per axis (the widget's contour grid).
    extent : tuple of float, optional
        ``(xmin, xmax, ymin, ymax)`` of the grid; default the points' bounding box
        with a margin. Points outside it are dropped.
    return_area : bool, default=False
        Also return the overlapping areas.

    Returns
    -------
    overlap : ndarray of shape (n_classes,)
        Fractions in [0, 1]: 0 = clean, 1 = entirely inside other classes; NaN for a
        class without points (on the grid).
    area : ndarray of shape (n_classes,)
        Only with ``return_area``: ``area(R_c ∩ ∪_{b≠c} R_b)`` in squared embedding
        units (grid nodes times the area of one grid cell); NaN where ``overlap`` is.
    """
    Y, labels = _points_and_labels(Y, labels)
    n_classes = _check_n_classes(n_classes, labels)
    mass = check_mass(mass)
    present, codes = np.unique(labels, return_inverse=True)
    grid = grid_densities(Y, codes, n_classes=len(present), grid_size=grid_size, extent=extent)
    regions = np.stack([dens >= mass_level(dens, mass) for dens in grid.density])
    covered = regions.sum(axis=0)  # how many classes' regions hold each node
    inside = regions.sum(axis=(1, 2))
    shared = (regions & (covered > 1)).sum(axis=(1, 2))
    overlap = np.full(n_classes, np.nan)
    overlap[present] = np.divide(shared, inside, out=np.full(len(present), np.nan), where=inside > 0)
    if not return_area:
        return overlap
    x0, x1, y0, y1 = grid.extent
    G = grid.density.shape[1]
    area = np.full(n_classes, np.nan)
    area[present] = shared * (x1 - x0) * (y1 - y0) / (G - 1) ** 2
    area[np.isnan(overlap)] = np.nan
    return overlap, area


def target_distance(Y, targets, scale: float = 1.0) -> float:
    """Mean Euclidean distance of the edited points to their targets, divided by ``scale``.

    Parameters
    ----------
    Y : array-like of shape (n_samples, n_components)
        Where the points are.
    targets : array-like of shape (n_samples, n_components)
        Their edit targets; rows with a NaN are unedited and ignored.
    scale : float, default=1.0
        Unit of the result, e.g. ``session.embedding_scale``.

    Returns
    -------
    float
        NaN when no point is edited.
    """
    Y = as_float_array(Y, "Y").astype(np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if targets.shape != Y.shape:
        raise ValueError(f"targets must have the shape of Y {Y.shape}, one row per point with NaN where "
                         f"unedited (as session.targets), got {targets.shape}")
    scale = float(scale)
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a positive number (e.g. session.embedding_scale), got {scale!r}")
    edited = np.isfinite(targets).all(axis=1)
    if not edited.any():
        return float("nan")
    return float(np.linalg.norm(Y[edited] - targets[edited], axis=1).mean() / scale)


def declutter_scores(Y, labels, targets=None, *, scale: float = 1.0, k: int = 10, n_classes: int | None = None,
                     mass: float = 0.9, grid_size: int = 128) -> dict:
    """All three measures of one embedding.

    Parameters
    ----------
    Y : array-like of shape (n_samples, 2)
    labels : array-like of shape (n_samples,)
        Integer class indices.
    targets : array-like of shape (n_samples, 2), optional
        Edit targets, NaN where unedited; without them there is no ``"distance"``.
    scale : float, default=1.0
        Unit of the distance (see :func:`target_distance`).
    k : int, default=10
        See :func:`knn_purity`; a split of ``k`` points or fewer uses all its other points.
    n_classes, mass, grid_size
        See :func:`contour_overlap`.

    Returns
    -------
    dict
        ``"purity"`` (float), ``"class_overlap"`` (ndarray of shape (n_classes,)),
        ``"overlap"`` (its mean over the classes present, weighted by their point
        counts) and, with ``targets``, ``"distance"`` (float, NaN when nothing is edited).
    """
    Y, labels = _points_and_labels(Y, labels)
    k = check_positive_int(k, "k")
    # a split smaller than k + 1 points (a tiny test set) is scored on all its other points
    purity = knn_purity(Y, labels, min(k, len(Y) - 1)) if len(Y) > 1 else float("nan")
    class_overlap = contour_overlap(Y, labels, n_classes=n_classes, mass=mass, grid_size=grid_size)
    weights = np.bincount(labels, minlength=len(class_overlap)) * np.isfinite(class_overlap)
    out = {"purity": purity,
           "class_overlap": class_overlap,
           "overlap": float(np.nansum(weights * class_overlap) / weights.sum())}
    if targets is not None:
        out["distance"] = target_distance(Y, targets, scale)
    return out


class DeclutterTable:
    """kNN purity, contour overlap and distance to the targets of several runs and splits.

    Renders as text (``str``), HTML (notebooks, css class ``plsd-declutter``) and
    Markdown; :meth:`legend` says what each column means.

    Parameters
    ----------
    runs : dict of (str, str) to tuple
        ``(run, split)`` (like ``("PLSD", "train")``) to ``(Y, labels, targets)``, in
        display order; ``targets`` (NaN where unedited) or None, shown as "—".
    class_names : list of str
    scale : float, default=1.0
        Unit of the distance to the targets (``session.embedding_scale``).
    k : int, default=10
        Neighbours for the purity.
    mass : float in (0, 1), default=0.9
        Level of the contours: the mass each encloses.
    grid_size : int, default=128
        Nodes per axis of the density grid.

    Attributes
    ----------
    scores : dict of (str, str) to dict
        :func:`declutter_scores` of each ``(run, split)``.
    """

    def __init__(self, runs, class_names, *, scale: float = 1.0, k: int = 10, mass: float = 0.9,
                 grid_size: int = 128):
        if not runs:
            raise ValueError("DeclutterTable needs at least one (run, split), e.g. {('before', 'train'): "
                             "(positions, labels, targets)}")
        self.class_names = [str(c) for c in class_names]
        self.k, self.mass = k, mass
        self.scores = {}
        for key, (Y, labels, targets) in runs.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise TypeError(f"runs must be keyed by (run, split) pairs like ('PLSD', 'train'), got {key!r}")
            try:
                self.scores[key] = declutter_scores(Y, labels, targets, scale=scale, k=k, mass=mass,
                                                    n_classes=len(self.class_names), grid_size=grid_size)
            except ValueError as exc:
                raise ValueError(f"{key[0]} / {key[1]}: {exc}") from exc

    def rows(self) -> list[list[str]]:
        """Header plus one row per (run, split), as strings."""
        out = [["run", "split", f"kNN purity (k={self.k})", "mean contour overlap", "worst class overlap",
                "distance to target"]]
        for (run, split), s in self.scores.items():
            worst = "—"
            if np.isfinite(s["class_overlap"]).any():
                c = int(np.nanargmax(s["class_overlap"]))
                worst = f"{number(s['class_overlap'][c])} ({self.class_names[c]})"
            out.append([run, split, number(s["purity"]), number(s["overlap"]), worst,
                        number(s.get("distance", float("nan")))])
        return out

    def _sections(self, rows) -> set[int]:
        """Rows where the split changes (a rule above them)."""
        return {i for i in range(2, len(rows)) if rows[i][1] != rows[i - 1][1]}

    def legend(self) -> list[str]:
        """One line per measured column saying what it means."""
        return [f"kNN purity (k={self.k}): share of each point's {self.k} nearest neighbours in the 2-D "
                "embedding that have its class (1 = classes never mix).",
                f"mean contour overlap: share of a class's area inside its {self.mass:g}-mass density contour "
                "(the one the widget draws) that other classes' contours cover, averaged over classes "
                "weighted by their points (0 = clean, 1 = entirely inside others).",
                "worst class overlap: the class with the largest contour overlap.",
                "distance to target: mean distance of the edited training points to their targets, in units "
                "of the embedding's scale (RMS distance from the centre; 0 = every edit achieved)."]

    def __str__(self) -> str:
        rows = self.rows()
        return text_table(rows, self._sections(rows))

    __repr__ = __str__  # a console shows the table, a notebook its HTML

    def to_html(self) -> str:
        rows = self.rows()
        return html_table(rows, "plsd-declutter", self._sections(rows))

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown table."""
        return markdown_table(self.rows())


def seeds_markdown(per_seed) -> str:
    """Mean ± sd over seeds of each (run, split)'s purity, mean overlap and distance to target, as Markdown.

    Parameters
    ----------
    per_seed : list of dict of (str, str) to dict
        One dict per seed, ``(run, split)`` to its :func:`declutter_scores`; the same keys
        in the same order for every seed.
    """
    per_seed = list(per_seed)
    if not per_seed or any(list(s) != list(per_seed[0]) for s in per_seed):
        raise ValueError("pass one dict per seed with the same (run, split) keys in the same order")
    rows = [["run", "split", "kNN purity (k=10)", "mean contour overlap", "distance to target"]]
    for run, split in per_seed[0]:
        cells = []
        for measure in ("purity", "overlap", "distance"):
            v = np.array([seed[(run, split)].get(measure, np.nan) for seed in per_seed], dtype=np.float64)
            cells.append(mean_sd(v))
        rows.append([run, split, *cells])
    return markdown_table(rows)
