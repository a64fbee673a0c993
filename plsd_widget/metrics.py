"""Per-class classification metrics and a before / baseline / PLSD comparison table."""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import precision_recall_fscore_support


@dataclass(frozen=True)
class ClassReport:
    """Per-class precision, recall, F1 and support, each an array of shape (n_classes,)."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    accuracy: float


def class_report(y_true, y_pred, n_classes: int) -> ClassReport:
    """Per-class precision/recall/F1 (0 where a class is never predicted) and accuracy."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {y_true.shape} vs {y_pred.shape}")
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(n_classes), zero_division=0
    )
    return ClassReport(p, r, f, s, float((y_true == y_pred).mean()) if y_true.size else float("nan"))


def _signed(value: float) -> str:
    """``value`` with an explicit sign and 3 decimals; a change that rounds to 0 reads "+0.000"."""
    return f"{round(value, 3) + 0.0:+.3f}"  # + 0.0 turns -0.0 into 0.0


class MetricsTable:
    """Per-class F1 (and precision/recall) of several runs, with deltas against the first.

    Renders as text (``str``) and as HTML in notebooks.

    Parameters
    ----------
    reports : dict of str to ClassReport
        Runs in display order, e.g. ``{"before": ..., "baseline (CE)": ..., "PLSD": ...}``.
    class_names : list of str
    """

    def __init__(self, reports: dict[str, ClassReport], class_names: list[str]):
        if not reports:
            raise ValueError("MetricsTable needs at least one report")
        self.reports = dict(reports)
        self.class_names = list(class_names)

    def rows(self) -> list[list[str]]:
        """Header plus one row per class and an accuracy row, as strings."""
        names = list(self.reports)
        first = self.reports[names[0]]
        header = ["class", "support"]
        for i, name in enumerate(names):
            header += [f"P {name}", f"R {name}", f"F1 {name}"] + ([f"ΔF1 {name}"] if i else [])
        out = [header]
        for c, cname in enumerate(self.class_names):
            row = [cname, str(int(first.support[c]))]
            for i, name in enumerate(names):
                rep = self.reports[name]
                row += [f"{rep.precision[c]:.3f}", f"{rep.recall[c]:.3f}", f"{rep.f1[c]:.3f}"]
                if i:
                    row.append(_signed(rep.f1[c] - first.f1[c]))
            out.append(row)
        acc = ["accuracy", str(int(first.support.sum()))]
        for i, name in enumerate(names):
            rep = self.reports[name]
            acc += ["", "", f"{rep.accuracy:.3f}"] + ([_signed(rep.accuracy - first.accuracy)] if i else [])
        out.append(acc)
        return out

    def __str__(self) -> str:
        rows = self.rows()
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in rows)

    def to_html(self) -> str:
        rows = self.rows()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
        body = []
        for r in rows[1:]:
            cells = []
            for h, c in zip(rows[0], r):
                style = ""
                if h.startswith("Δ") and c:
                    value = float(c)
                    style = ' style="color:#1a7f37"' if value > 0 else (' style="color:#cf222e"' if value < 0 else "")
                cells.append(f"<td{style}>{html.escape(c)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return (
            '<table class="plsd-metrics"><thead><tr>' + head + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()



# ----------------------------------------------------------- embedding quality
def _check_points(X, name: str, n_rows: int | None = None) -> np.ndarray:
    """``X`` as a float32 array of shape (n, d), with ``n == n_rows`` when given."""
    from plsd_widget._validation import as_float_array

    X = as_float_array(X, name=name)
    if n_rows is not None and X.shape[0] != n_rows:
        raise ValueError(f"{name} must have one row per sample ({n_rows}), got {X.shape[0]} rows")
    return X


def _check_k(k, n_samples: int) -> int:
    from plsd_widget._validation import check_positive_int

    k = check_positive_int(k, "k")
    if k >= n_samples:
        raise ValueError(f"k={k} needs at least {k + 1} samples, got {n_samples}; lower k")
    return k


def _check_labels(labels, n_rows: int, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n_rows,):
        raise ValueError(f"{name} must have shape ({n_rows},), one label per row, got {labels.shape}")
    return labels


def _neighbors(X: np.ndarray, k: int) -> np.ndarray:
    """Indices of shape (n, k) of the ``k`` nearest neighbours of each row (itself excluded), exact."""
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k).fit(X).kneighbors(return_distance=False)


def knn_recall(X, Y, k: int = 10) -> float:
    """Mean fraction of each point's ``k`` nearest neighbours in ``X`` that are among its ``k`` nearest in ``Y``.

    Also called k-NN preservation: 1 when every neighbourhood survives the
    embedding, about ``k / n`` for a random one. Neighbours are exact Euclidean
    nearest neighbours; a point is never its own neighbour.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data in the original (high-dimensional) space.
    Y : array-like of shape (n_samples, n_components)
        Its embedding, row ``i`` being the image of ``X[i]``.
    k : int, default=10
        Neighbourhood size; needs ``k < n_samples``.

    Returns
    -------
    float
        Recall in [0, 1].
    """
    X = _check_points(X, "X")
    Y = _check_points(Y, "Y", X.shape[0])
    k = _check_k(k, X.shape[0])
    nx, ny = _neighbors(X, k), _neighbors(Y, k)
    hits = sum(np.intersect1d(a, b, assume_unique=True).size for a, b in zip(nx, ny))
    return hits / (k * X.shape[0])


def _vote(neighbor_codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Majority code per row of ``neighbor_codes`` (ints in [0, n_classes)); ties go to the smallest."""
    counts = np.zeros((neighbor_codes.shape[0], n_classes), dtype=np.int64)
    np.add.at(counts, (np.arange(neighbor_codes.shape[0])[:, None], neighbor_codes), 1)
    return counts.argmax(axis=1)


def knn_accuracy(Y, labels, Y_test=None, labels_test=None, *, k: int = 10) -> float:
    """Accuracy of a ``k``-nearest-neighbour majority-vote classifier on an embedding.

    Without test data this is the leave-one-out accuracy on ``Y``: each point is
    classified by its ``k`` nearest *other* points. With ``Y_test`` and
    ``labels_test``, the classifier is ``Y`` with ``labels`` and the accuracy is
    measured on the test points. Neighbours are exact Euclidean; votes are
    unweighted, and a tie goes to the label that sorts first.

    Parameters
    ----------
    Y : array-like of shape (n_samples, n_components)
        Embedding of the labelled (training) points.
    labels : array-like of shape (n_samples,)
        Their labels (any sortable values).
    Y_test : array-like of shape (n_test, n_components), optional
        Embedding of test points; give ``labels_test`` with it.
    labels_test : array-like of shape (n_test,), optional
        Labels of the test points.
    k : int, default=10
        Number of neighbours that vote.

    Returns
    -------
    float
        Fraction of correctly classified points, in [0, 1].
    """
    from sklearn.neighbors import NearestNeighbors

    Y = _check_points(Y, "Y")
    labels = _check_labels(labels, Y.shape[0], "labels")
    k = _check_k(k, Y.shape[0])
    if (Y_test is None) != (labels_test is None):
        raise ValueError("pass both Y_test and labels_test, or neither (for leave-one-out accuracy)")
    classes, codes = np.unique(labels, return_inverse=True)
    index = NearestNeighbors(n_neighbors=k).fit(Y)
    if Y_test is None:
        return float((_vote(codes[index.kneighbors(return_distance=False)], classes.size) == codes).mean())
    Y_test = _check_points(Y_test, "Y_test")
    if Y_test.shape[1] != Y.shape[1]:
        raise ValueError(f"Y_test has {Y_test.shape[1]} columns but Y has {Y.shape[1]}; embed both the same way")
    labels_test = _check_labels(labels_test, Y_test.shape[0], "labels_test")
    predicted = classes[_vote(codes[index.kneighbors(Y_test, return_distance=False)], classes.size)]
    return float((predicted == labels_test).mean())


def trustworthiness(X, Y, k: int = 5, *, n_queries: int | None = None, random_state=None,
                    chunk_size: int = 256) -> float:
    """Trustworthiness of an embedding (Venna and Kaski, 2001).

    Penalises points that are among the ``k`` nearest neighbours of ``i`` in ``Y``
    but not in ``X``, by how far down ``i``'s neighbour ranking in ``X`` they are::

        T = 1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j in U_i} (r(i, j) - k)

    where ``U_i`` holds the embedding neighbours of ``i`` that are not among its
    ``k`` nearest in ``X`` and ``r(i, j)`` is the rank of ``j`` by distance from
    ``i`` in ``X`` (1 for the nearest). This is the definition of
    :func:`sklearn.manifold.trustworthiness`, computed in row chunks so that
    memory stays ``O(chunk_size * n)`` instead of ``O(n^2)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data in the original space.
    Y : array-like of shape (n_samples, n_components)
        Its embedding.
    k : int, default=5
        Neighbourhood size; needs ``k < n_samples / 2``.
    n_queries : int, optional
        Average the penalty over this many randomly chosen points instead of all
        of them (each still ranked against all ``n_samples``): an unbiased
        estimate at ``n_queries / n_samples`` of the cost.
    random_state : int, numpy.random.Generator or None, default=None
        Picks the query points when ``n_queries`` is given.
    chunk_size : int, default=256
        Query points per block of distances.

    Returns
    -------
    float
        Trustworthiness, 1 for a perfect embedding.
    """
    from plsd_widget._validation import check_positive_int

    X = _check_points(X, "X")
    Y = _check_points(Y, "Y", X.shape[0])
    n = X.shape[0]
    k = _check_k(k, n)
    if k >= n / 2:
        raise ValueError(f"trustworthiness needs k < n_samples / 2, got k={k} for {n} samples; lower k")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    queries = np.arange(n)
    if n_queries is not None and check_positive_int(n_queries, "n_queries") < n:
        queries = np.sort(np.random.default_rng(random_state).choice(n, size=n_queries, replace=False))
    from sklearn.neighbors import NearestNeighbors

    near_y = NearestNeighbors(n_neighbors=k + 1).fit(Y).kneighbors(Y[queries], return_distance=False)
    X64 = X.astype(np.float64)
    sq_norms = (X64 * X64).sum(axis=1)
    penalty = 0.0
    for start in range(0, queries.size, chunk_size):
        rows = queries[start:start + chunk_size]
        d = sq_norms[rows, None] + sq_norms[None, :] - 2.0 * X64[rows] @ X64.T
        d[np.arange(rows.size), rows] = np.inf  # a point is not its own neighbour
        # Drop each query from its own embedding neighbours (it is usually, not always, the first).
        cand = near_y[start:start + rows.size]
        cand = np.array([[j for j in c if j != i][:k] for i, c in zip(rows, cand)])
        d_cand = np.take_along_axis(d, cand, axis=1)
        ranks = np.stack([(d < d_cand[:, [c]]).sum(axis=1) + 1 for c in range(k)], axis=1)
        penalty += np.maximum(ranks - k, 0).sum()
    penalty *= n / queries.size
    return float(1.0 - 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)) * penalty)
