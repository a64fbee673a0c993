"""Subtypes inside a class: k-means vs a Gaussian reference, outlines in the embedding."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from plsd_widget.analysis.subtypes import Subtypes, find_all_subtypes, find_subtypes, subtype_outlines
from plsd_widget.contours import pack_contours


def blobs(n_blobs, n=240, d=6, sep=8.0, seed=0):
    """``n_blobs`` unit Gaussians on the corners of a simplex, ``sep`` apart; returns X and membership."""
    rng = np.random.default_rng(seed)
    centres = np.eye(max(n_blobs, 1), d) * sep / np.sqrt(2)
    member = np.repeat(np.arange(n_blobs), n // n_blobs)
    return (rng.normal(size=(len(member), d)) + centres[member]).astype(np.float32), member


def with_other_class(X, seed=1):
    """Put class 1 (the one searched) after a class-0 blob far away, to check indexing."""
    rng = np.random.default_rng(seed)
    other = rng.normal(size=(50, X.shape[1])).astype(np.float32) - 30
    H = np.concatenate([other, X])
    labels = np.concatenate([np.zeros(len(other), int), np.ones(len(X), int)])
    return H, labels


def test_one_blob_is_one_subtype():
    X, _ = blobs(1)
    H, labels = with_other_class(X)
    s = find_subtypes(H, labels, 1, k_max=4)
    assert isinstance(s, Subtypes)
    assert s.k == 1 and s.gain < 0.04
    assert np.array_equal(s.indices, np.arange(50, 50 + len(X)))
    assert (s.labels == 0).all()
    assert s.centroids.shape == (1, X.shape[1])
    np.testing.assert_allclose(s.centroids[0], X.mean(axis=0), atol=1e-5)
    assert set(s.silhouette) == set(s.reference) == {2, 3, 4}


def test_one_elongated_blob_is_one_subtype():
    """A long thin Gaussian has a high silhouette at k=2, but so does its reference."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 3)) * [6.0, 1.0, 0.5]
    s = find_subtypes(X, np.zeros(300, int), 0, k_max=4)
    assert s.silhouette[2] > 0.4
    assert s.k == 1


def test_two_blobs_are_two_subtypes():
    X, member = blobs(2)
    H, labels = with_other_class(X)
    s = find_subtypes(H, labels, 1, k_max=4)
    assert s.k == 2 and s.best_k == 2
    assert s.gain > 0.2
    assert adjusted_rand_score(member, s.labels) >= 0.95
    assert s.centroids.shape == (2, X.shape[1])
    assert (s.sizes == 120).all()


def test_three_blobs_are_three_subtypes():
    X, member = blobs(3, n=300)
    s = find_subtypes(X, np.zeros(len(X), int), 0, k_max=5)
    assert s.k == 3
    assert adjusted_rand_score(member, s.labels) >= 0.95
    assert np.array_equal(np.sort(np.unique(s.labels)), [0, 1, 2])


def test_subtype_zero_is_the_largest():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(80, 4)), rng.normal(size=(200, 4)) + 10])
    s = find_subtypes(X, np.zeros(len(X), int), 0, k_max=3)
    assert s.k == 2
    assert s.sizes.tolist() == [200, 80]
    assert (s.labels[80:] == 0).all()


def test_min_gain_controls_the_call():
    X, _ = blobs(2, sep=8.0)
    lab = np.zeros(len(X), int)
    s = find_subtypes(X, lab, 0, k_max=3)
    assert s.k == 2
    assert find_subtypes(X, lab, 0, k_max=3, min_gain=s.gain + 0.01).k == 1


def test_deterministic_with_a_seed():
    X, _ = blobs(2, sep=4.0)
    lab = np.zeros(len(X), int)
    a = find_subtypes(X, lab, 0, k_max=3, random_state=7)
    b = find_subtypes(X, lab, 0, k_max=3, random_state=7)
    assert np.array_equal(a.labels, b.labels)
    assert a.silhouette == b.silhouette and a.reference == b.reference and a.gain == b.gain


def test_large_class_uses_a_silhouette_sample():
    X, member = blobs(2, n=1200)
    s = find_subtypes(X, np.zeros(len(X), int), 0, k_max=3, sample_size=300)
    assert s.k == 2 and adjusted_rand_score(member, s.labels) >= 0.95


def test_standardise_finds_blobs_hidden_by_a_large_noise_feature():
    X, member = blobs(2, sep=8.0, d=4)
    X[:, 3] *= 1000.0  # one huge pure-noise feature dominates Euclidean distances
    lab = np.zeros(len(X), int)
    assert find_subtypes(X, lab, 0, k_max=3).k == 1
    s = find_subtypes(X, lab, 0, k_max=3, standardise=True)
    assert s.k == 2 and adjusted_rand_score(member, s.labels) >= 0.95


def test_find_all_subtypes():
    X1, _ = blobs(1, seed=1)
    X2, _ = blobs(2, seed=2)
    H = np.concatenate([X1, X2 + 50])
    labels = np.repeat([0, 1], [len(X1), len(X2)])
    out = find_all_subtypes(H, labels, k_max=3)
    assert list(out) == [0, 1]
    assert out[0].k == 1 and out[1].k == 2
    assert out[0].cls == 0 and out[1].cls == 1
    assert list(find_all_subtypes(H, labels, classes=[1], k_max=3)) == [1]


def test_outlines_per_subtype_and_closed():
    X, member = blobs(2, d=2, sep=10.0)
    H, labels = with_other_class(X)
    s = find_subtypes(H, labels, 1, k_max=3)
    assert s.k == 2
    outlines = subtype_outlines(H, s, mass=0.8, grid_size=64)
    assert len(outlines) == 2
    for j, lines in enumerate(outlines):
        assert len(lines) >= 1
        for line in lines:
            assert line.dtype == np.float32 and line.shape[1] == 2 and len(line) >= 4
            np.testing.assert_array_equal(line[0], line[-1])
        # the main outline of subtype j surrounds that subtype's centroid, not the other's
        pts = np.concatenate(lines)
        centre = H[s.indices[s.labels == j]].mean(axis=0)
        assert np.linalg.norm(pts.mean(axis=0) - centre) < 2.0
    vertices, offsets, classes = pack_contours(outlines)
    assert set(classes.tolist()) == {0, 1} and offsets[-1] == len(vertices)


def test_outlines_of_one_blob():
    X, _ = blobs(1, d=2)
    s = find_subtypes(X, np.zeros(len(X), int), 0, k_max=3)
    assert s.k == 1
    assert len(subtype_outlines(X, s, grid_size=32)) == 1


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(cls=5), ValueError, r"class 5 has no points.*classes present: \[0, 1\]"),
        (dict(cls=1.0), TypeError, "cls must be an integer"),
        (dict(k_max=1), ValueError, "k_max must be an integer >= 2"),
        (dict(k_max=True), ValueError, "k_max must be an integer >= 2"),
        (dict(k_max=20), ValueError, r"class 1 has 40 points but k_max=20 needs at least 3 \* k_max = 60"),
        (dict(min_gain="big"), TypeError, "min_gain must be a number"),
        (dict(min_gain=float("nan")), ValueError, "min_gain must be finite"),
        (dict(n_init=0), ValueError, "n_init must be a positive integer"),
        (dict(sample_size=4), ValueError, "sample_size must be at least 2 \\* k_max"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    rng = np.random.default_rng(0)
    H = rng.normal(size=(80, 3))
    labels = np.repeat([0, 1], 40)
    args = dict(cls=1) | kwargs
    with pytest.raises(error, match=match):
        find_subtypes(H, labels, **args)


def test_bad_data():
    rng = np.random.default_rng(0)
    H = rng.normal(size=(60, 3))
    H[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"H contains NaN or inf in 1 row\(s\) \(rows 7\)"):
        find_subtypes(H, np.zeros(60, int), 0)
    with pytest.raises(ValueError, match="labels has 59 labels but the data has 60 samples"):
        find_subtypes(rng.normal(size=(60, 3)), np.zeros(59, int), 0)
    with pytest.raises(ValueError, match="H must be 2-D"):
        find_subtypes(np.zeros(60), np.zeros(60, int), 0)


def test_bad_outline_input():
    X, _ = blobs(2, d=2)
    s = find_subtypes(X, np.zeros(len(X), int), 0, k_max=3)
    with pytest.raises(ValueError, match=r"positions must have shape \(n_samples, 2\)"):
        subtype_outlines(np.zeros((len(X), 3)), s)
    with pytest.raises(ValueError, match="positions has 10 rows"):
        subtype_outlines(X[:10], s)
    with pytest.raises(TypeError, match="subtypes must be a Subtypes"):
        subtype_outlines(X, {"labels": s.labels})
    with pytest.raises(ValueError, match="mass must be strictly between 0 and 1"):
        subtype_outlines(X, s, mass=1.0)
