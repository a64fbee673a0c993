"""Embedding-quality metrics in plsd_widget.metrics: kNN recall, kNN accuracy, trustworthiness."""

import numpy as np
import pytest
from sklearn.manifold import trustworthiness as sk_trustworthiness
from sklearn.neighbors import KNeighborsClassifier

from plsd_widget.embedding.quality import knn_accuracy, knn_recall, trustworthiness


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8))
    Y = X[:, :2] + 0.3 * rng.normal(size=(200, 2))
    labels = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0)
    return X, Y, labels


def test_identity_embedding_is_perfect(data):
    X, _, _ = data
    assert knn_recall(X, X, k=10) == 1.0
    assert trustworthiness(X, X, k=5) == pytest.approx(1.0)


def test_knn_recall_hand_computed():
    # Two far-apart pairs; the embedding keeps the pairs: every 1-NN survives.
    X = np.array([[0.0, 0], [0.1, 0], [10, 0], [10.1, 0]])
    assert knn_recall(X, X[:, ::-1] * 3 + 1, k=1) == 1.0
    # Swap partners: 0 sits with 2, 1 with 3 -> no 1-NN survives.
    Y = np.array([[0.0], [10.0], [0.1], [10.1]])
    assert knn_recall(X, Y, k=1) == 0.0
    # k=2, 2-NN in X: 0 {1, 2}, 1 {0, 2}, 2 {3, 1}, 3 {2, 1};
    # in Y: 0 {2, 1}, 1 {3, 2}, 2 {0, 1}, 3 {1, 2} -> 2 + 1 + 1 + 2 shared of 8.
    assert knn_recall(X, Y, k=2) == pytest.approx((2 + 1 + 1 + 2) / 8)


def test_knn_accuracy_loo_exact():
    # Two clusters of three; one point of the first cluster carries the wrong label.
    Y = np.array([[0.0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10]])
    labels = np.array(["a", "a", "b", "b", "b", "b"])
    # 2-NN leave-one-out: point 0 sees {1, 2} = a, b -> tie -> "a" (sorts first): right.
    # Point 1 sees {0, 2} -> tie -> "a": right. Point 2 sees {0, 1} -> "a": wrong.
    # Points 3-5 see two "b": right. 5 of 6.
    assert knn_accuracy(Y, labels, k=2) == pytest.approx(5 / 6)


def test_knn_accuracy_matches_sklearn_on_test_data(data):
    X, Y, labels = data
    Y_train, Y_test, l_train, l_test = Y[:150], Y[150:], labels[:150], labels[150:]
    ref = KNeighborsClassifier(n_neighbors=7).fit(Y_train, l_train).score(Y_test, l_test)
    assert knn_accuracy(Y_train, l_train, Y_test, l_test, k=7) == pytest.approx(ref)


def test_knn_accuracy_loo_excludes_self_with_duplicates():
    # Each point has an exact duplicate with the other label: LOO 1-NN is always wrong.
    Y = np.array([[0.0], [0.0], [5.0], [5.0]])
    assert knn_accuracy(Y, [0, 1, 0, 1], k=1) == 0.0


def test_trustworthiness_matches_sklearn(data):
    X, Y, _ = data
    for k in (1, 5, 12):
        assert trustworthiness(X, Y, k=k, chunk_size=37) == pytest.approx(sk_trustworthiness(X, Y, n_neighbors=k))


def test_trustworthiness_subsample_is_close(data):
    X, Y, _ = data
    full = trustworthiness(X, Y, k=5)
    est = trustworthiness(X, Y, k=5, n_queries=150, random_state=0)
    assert est == pytest.approx(full, abs=0.02)
    assert est == trustworthiness(X, Y, k=5, n_queries=150, random_state=0)


def test_random_embedding_scores_low(data):
    X, _, labels = data
    Y = np.random.default_rng(1).normal(size=(X.shape[0], 2))
    assert knn_recall(X, Y, k=10) < 0.15
    assert trustworthiness(X, Y, k=5) < 0.6


@pytest.mark.parametrize("call, message", [
    (lambda: knn_recall(np.zeros((5, 3)), np.zeros((4, 2))), "one row per sample"),
    (lambda: knn_recall(np.zeros((5, 3)), np.zeros((5, 2)), k=5), "lower k"),
    (lambda: knn_accuracy(np.zeros((5, 2)), [0, 1]), "one label per row"),
    (lambda: knn_accuracy(np.zeros((5, 2)), np.arange(5), np.zeros((3, 2)), k=2), "neither"),
    (lambda: knn_accuracy(np.zeros((5, 2)), np.arange(5), np.zeros((3, 3)), np.arange(3), k=2), "columns"),
    (lambda: trustworthiness(np.zeros((10, 3)), np.zeros((10, 2)), k=5), "n_samples / 2"),
    (lambda: knn_recall([[np.nan, 0]] * 5, np.zeros((5, 2)), k=1), "finite|NaN"),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
