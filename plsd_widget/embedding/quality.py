"""How well a 2-D embedding keeps its data's structure: kNN recall, kNN accuracy, trustworthiness.

Pure functions of the data ``X`` and its embedding ``Y`` (any embedding: ours, openTSNE's,
a PCA), with exact neighbours from :mod:`plsd_widget.neighbors`. The benchmarks compare
``ParametricTSNE`` with openTSNE by them; :mod:`plsd_widget.declutter` measures class
separation in a view instead.
"""

from __future__ import annotations

import numpy as np

from plsd_widget._validation import as_float_array, check_positive_int
from plsd_widget.config import RANDOM_STATE
from plsd_widget.neighbors import NeighborIndex, check_k


def _check_points(X, name: str, n_rows: int | None = None) -> np.ndarray:
    """``X`` as a float32 array of shape (n, d), with ``n == n_rows`` when given."""
    X = as_float_array(X, name=name)
    if n_rows is not None and X.shape[0] != n_rows:
        raise ValueError(f"{name} must have one row per sample ({n_rows}), got {X.shape[0]} rows")
    return X


def _check_labels(labels, n_rows: int, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n_rows,):
        raise ValueError(f"{name} must have shape ({n_rows},), one label per row, got {labels.shape}")
    return labels


def _neighbors(X: np.ndarray, k: int) -> np.ndarray:
    """Indices of shape (n, k) of the ``k`` nearest neighbours of each row (itself excluded), exact."""
    return NeighborIndex(X, method="exact").query(k=k)[0]


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
    k = check_k(k, X.shape[0])
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
    Y = _check_points(Y, "Y")
    labels = _check_labels(labels, Y.shape[0], "labels")
    k = check_k(k, Y.shape[0])
    if (Y_test is None) != (labels_test is None):
        raise ValueError("pass both Y_test and labels_test, or neither (for leave-one-out accuracy)")
    classes, codes = np.unique(labels, return_inverse=True)
    index = NeighborIndex(Y, method="exact")
    if Y_test is None:
        return float((_vote(codes[index.query(k=k)[0]], classes.size) == codes).mean())
    Y_test = _check_points(Y_test, "Y_test")
    if Y_test.shape[1] != Y.shape[1]:
        raise ValueError(f"Y_test has {Y_test.shape[1]} columns but Y has {Y.shape[1]}; embed both the same way")
    labels_test = _check_labels(labels_test, Y_test.shape[0], "labels_test")
    predicted = classes[_vote(codes[index.query(Y_test, k)[0]], classes.size)]
    return float((predicted == labels_test).mean())


def trustworthiness(X, Y, k: int = 5, *, n_queries: int | None = None, random_state=RANDOM_STATE,
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
    random_state : int or numpy.random.Generator, default=plsd_widget.config.RANDOM_STATE
        Picks the query points when ``n_queries`` is given.
    chunk_size : int, default=256
        Query points per block of distances.

    Returns
    -------
    float
        Trustworthiness, 1 for a perfect embedding.
    """
    X = _check_points(X, "X")
    Y = _check_points(Y, "Y", X.shape[0])
    n = X.shape[0]
    k = check_k(k, n)
    if k >= n / 2:
        raise ValueError(f"trustworthiness needs k < n_samples / 2, got k={k} for {n} samples; lower k")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    queries = np.arange(n)
    if n_queries is not None and check_positive_int(n_queries, "n_queries") < n:
        queries = np.sort(np.random.default_rng(random_state).choice(n, size=n_queries, replace=False))
    near_y = NeighborIndex(Y, method="exact").query(Y[queries], k, exclude_self=queries)[0]
    X64 = X.astype(np.float64)
    sq_norms = (X64 * X64).sum(axis=1)
    penalty = 0.0
    for start in range(0, queries.size, chunk_size):
        rows = queries[start:start + chunk_size]
        d = sq_norms[rows, None] + sq_norms[None, :] - 2.0 * X64[rows] @ X64.T
        d[np.arange(rows.size), rows] = np.inf  # a point is not its own neighbour
        cand = near_y[start:start + rows.size]
        d_cand = np.take_along_axis(d, cand, axis=1)
        ranks = np.stack([(d < d_cand[:, [c]]).sum(axis=1) + 1 for c in range(k)], axis=1)
        penalty += np.maximum(ranks - k, 0).sum()
    penalty *= n / queries.size
    return float(1.0 - 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)) * penalty)
