"""Tests of the t-SNE input affinities (plsd_widget.embedding.affinity)."""

import logging
import math
import re

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.optimize import brentq

from plsd_widget import _exact_neighbors, neighbors
from plsd_widget.embedding import joint_probabilities
from plsd_widget.embedding.affinity import conditional_probabilities, nearest_neighbors


def blobs(n, d=5, centers=4, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=6.0, size=(centers, d))
    return (means[rng.integers(centers, size=n)] + rng.normal(size=(n, d))).astype(np.float32)


def entropies(p_cond):
    p = np.where(p_cond > 0, p_cond, 1.0)
    return -(p_cond * np.log(p)).sum(axis=1)


def test_joint_probabilities_is_sparse_symmetric_normalised():
    X = blobs(300)
    P = joint_probabilities(X, perplexity=15)
    assert isinstance(P, sp.csr_matrix)
    assert P.shape == (300, 300)
    assert P.nnz <= 2 * 300 * 45
    assert np.all(P.data > 0)
    assert P.diagonal().max() == 0
    assert abs(P - P.T).max() < 1e-15
    assert P.sum() == pytest.approx(1.0, abs=1e-10)


def test_conditional_rows_sum_to_one_and_hit_the_perplexity():
    X = blobs(400, d=8)
    _, sq = nearest_neighbors(X, 60)
    p_cond, beta = conditional_probabilities(sq, 20.0)
    np.testing.assert_allclose(p_cond.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(entropies(p_cond), math.log(20.0), atol=1e-5)
    assert np.all(beta > 0)


def test_calibration_agrees_with_a_per_row_root_finder():
    X = blobs(120, d=3, seed=3)
    _, sq = nearest_neighbors(X, 30)
    p_cond, _ = conditional_probabilities(sq, 10.0)
    for i in range(0, 120, 17):
        d = sq[i] - sq[i].min()

        def gap(log_beta, d=d):
            w = np.exp(-d * np.exp(log_beta))
            p = w / w.sum()
            return -(p * np.log(np.where(p > 0, p, 1.0))).sum() - math.log(10.0)

        log_beta = brentq(gap, -30, 30, xtol=1e-12)
        w = np.exp(-d * np.exp(log_beta))
        np.testing.assert_allclose(p_cond[i], w / w.sum(), atol=1e-5)


def test_calibration_adapts_to_the_data_scale():
    X = blobs(200, d=4)
    P = joint_probabilities(X, perplexity=10)
    for factor in (1e-4, 1e4):
        P_scaled = joint_probabilities(X * factor, perplexity=10)
        assert abs(P_scaled - P).max() < 1e-6 * P.max()


def test_duplicate_points_get_finite_affinities():
    X = blobs(200)
    X[1] = X[0]
    X[2] = X[0]
    X[50] = X[49]
    P = joint_probabilities(X, perplexity=10)
    assert np.all(np.isfinite(P.data))
    assert P.sum() == pytest.approx(1.0)
    # duplicates are each other's nearest neighbours, with the largest affinity
    assert P[0, 1] > 0 and P[0, 1] == P[0].max()
    assert P[49, 50] > 0 and P[49, 50] == P[49].max()
    _, sq = nearest_neighbors(X, 30)
    np.testing.assert_allclose(entropies(conditional_probabilities(sq, 10)[0]), math.log(10), atol=1e-5)


def test_too_many_duplicates_are_reported(caplog):
    X = blobs(150)
    X[:40] = X[0]  # 40 copies: every neighbour of a copy is at distance 0
    with caplog.at_level(logging.WARNING, logger="plsd_widget.embedding.affinity"):
        P = joint_probabilities(X, perplexity=10)
    # the 40 copies, plus any point whose nearest neighbours are all those copies
    count = int(re.search(r"did not converge for (\d+) of 150 points", caplog.text).group(1))
    assert 40 <= count <= 50
    assert np.all(np.isfinite(P.data))
    # a copy spreads its conditional affinity evenly over its k = 30 neighbours, all copies
    idx, sq = nearest_neighbors(X, 30)
    p_cond, _ = conditional_probabilities(sq, 10.0)
    assert np.all(idx[0] < 40)
    np.testing.assert_allclose(p_cond[0], 1 / 30)
    assert P.sum() == pytest.approx(1.0)


def test_constant_data_is_rejected():
    with pytest.raises(ValueError, match="rows of X are identical"):
        joint_probabilities(np.ones((100, 4)), perplexity=5)


def test_too_large_perplexity_suggests_one_that_fits():
    X = blobs(90)
    with pytest.raises(ValueError, match=r"perplexity 50 needs at least 151 samples, got 90; "
                                         r"lower perplexity to at most 29"):
        joint_probabilities(X, perplexity=50)
    assert joint_probabilities(X, perplexity=29).shape == (90, 90)


@pytest.mark.parametrize("perplexity", [0, -5, 0.5, float("nan"), float("inf")])
def test_invalid_perplexity(perplexity):
    with pytest.raises(ValueError, match="perplexity must be"):
        joint_probabilities(blobs(100), perplexity=perplexity)


def test_bad_input_shapes_and_values():
    with pytest.raises(ValueError, match="2-D"):
        joint_probabilities(np.arange(100.0), perplexity=5)
    X = blobs(100)
    X[[3, 7]] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf in 2 row\(s\) \(rows 3, 7\)"):
        joint_probabilities(X, perplexity=5)
    with pytest.raises(ValueError, match="must exceed perplexity"):
        joint_probabilities(blobs(100), perplexity=10, n_neighbors=10)
    with pytest.raises(ValueError, match="method must be one of"):
        joint_probabilities(blobs(100), perplexity=10, method="annoy")


def test_torch_tensor_input():
    X = blobs(120)
    P = joint_probabilities(torch.from_numpy(X), perplexity=10)
    assert abs(P - joint_probabilities(X, perplexity=10)).max() == 0


@pytest.mark.slow
def test_pynndescent_path_for_large_data_matches_exact(monkeypatch):
    """n = 2,500 through pynndescent (first use compiles numba code: ~30 s)."""
    X = blobs(2500, d=10, centers=6, seed=1)
    X[1] = X[0]  # a duplicate: the point itself need not come first in its list
    calls = []
    real = neighbors.NeighborIndex._approximate_search

    def spy(index, queries, *args):
        calls.append(queries.shape)
        return real(index, queries, *args)

    monkeypatch.setattr(neighbors.NeighborIndex, "_approximate_search", spy)
    monkeypatch.setattr(neighbors, "EXACT_MAX_WORK", 0)
    P_approx = joint_probabilities(X, perplexity=30, random_state=0)
    assert calls == [(2500, 10)]
    P_exact = joint_probabilities(X, perplexity=30, method="exact")
    assert len(calls) == 1
    assert P_approx.sum() == pytest.approx(1.0)
    assert abs(P_approx - P_approx.T).max() < 1e-15
    assert sp.linalg.norm(P_approx - P_exact) / sp.linalg.norm(P_exact) < 0.02

    idx_approx, sq_approx = nearest_neighbors(X, 90, method="pynndescent", random_state=0)
    idx_exact, _ = nearest_neighbors(X, 90, method="exact")
    assert not np.any(idx_approx == np.arange(2500)[:, None])
    assert np.all(np.diff(sq_approx, axis=1) >= 0)
    recall = np.mean([np.isin(a, e).mean() for a, e in zip(idx_approx, idx_exact)])
    assert recall > 0.98


@pytest.mark.parametrize("perplexity", [10, 30])
def test_agrees_with_opentsne(perplexity):
    """Same kNN, kernel and symmetrisation as openTSNE: P agrees to rounding on the digits."""
    from openTSNE.affinity import PerplexityBasedNN
    from sklearn.datasets import load_digits

    # The digits' pixels are integers, so many points tie at a k-th neighbour's distance;
    # openTSNE's search (scikit-learn's) picks among them in its own order, ours by index.
    # A jitter far below the pixels' unit separates the ties (the tie test is below).
    X = load_digits().data.astype(np.float32)
    X += np.random.default_rng(0).uniform(-1e-3, 1e-3, size=X.shape).astype(np.float32)
    reference = PerplexityBasedNN(X, perplexity=perplexity, method="exact", random_state=0).P.tocsr()
    P = joint_probabilities(X, perplexity, method="exact")
    assert P.nnz == reference.nnz
    assert abs(P - reference).sum() < 1e-5  # both sum to 1
    assert abs(P - reference).max() < 1e-4 * reference.max()  # both calibrate to an entropy tolerance


@pytest.mark.parametrize("perplexity", [10, 30])
def test_agrees_with_opentsne_up_to_the_choice_among_tied_neighbours(perplexity):
    """On the raw digits P differs from openTSNE's only where neighbours tie at the k-th distance."""
    from openTSNE.affinity import PerplexityBasedNN
    from sklearn.datasets import load_digits

    X = load_digits().data.astype(np.float32)
    reference = PerplexityBasedNN(X, perplexity=perplexity, method="exact", random_state=0).P.tocsr()
    P = joint_probabilities(X, perplexity, method="exact")
    sq = ((X.astype(np.float64)[:, None] - X[None]) ** 2).sum(-1)
    np.fill_diagonal(sq, np.inf)
    kth = np.sort(sq, axis=1)[:, 3 * perplexity - 1]
    differ = ((P != 0) != (reference != 0)).tocoo()
    assert 0 < differ.nnz < 0.002 * P.nnz
    at_a_tie = (sq[differ.row, differ.col] == kth[differ.row]) | (sq[differ.col, differ.row] == kth[differ.col])
    assert at_a_tie.all()
    assert abs(P - reference).sum() < 2e-4


def test_calibration_in_chunks_equals_one_pass(monkeypatch):
    from plsd_widget.embedding import affinity

    d = np.random.default_rng(0).exponential(size=(100, 20))
    d[5] = 0.0  # a row that cannot reach the perplexity (all neighbours tie)
    p_one, beta_one = affinity.conditional_probabilities(d, 5.0)
    monkeypatch.setattr(affinity, "_CALIBRATION_ROWS", 7)
    p_chunks, beta_chunks = affinity.conditional_probabilities(d, 5.0)
    np.testing.assert_array_equal(p_chunks, p_one)
    np.testing.assert_array_equal(beta_chunks, beta_one)


def test_pynndescent_graph_loses_the_point_itself_wherever_it_is(monkeypatch):
    """The self-drop on a stand-in for pynndescent's graph (the real one is the slow test above)."""
    import pynndescent

    graph_i = np.array([[0, 1, 2, 3], [0, 1, 2, 3], [3, 0, 1, 2], [3, 0, 1, 2]])
    graph_d = np.array([[0, 1, 2, 3], [0, 0, 1, 2], [1, 2, 3, 4], [0, 1, 1, 2]], dtype=np.float32)

    class Graph:
        def __init__(self, *args, **kwargs):
            self.neighbor_graph = graph_i, graph_d

    monkeypatch.setattr(pynndescent, "NNDescent", Graph)
    indices, sq = nearest_neighbors(np.zeros((4, 2)), 3, method="pynndescent")
    # row 1: itself second (a duplicate first); row 2: itself missing, the furthest goes; row 3: a tie, by index
    np.testing.assert_array_equal(indices, [[1, 2, 3], [0, 2, 3], [3, 0, 1], [0, 1, 2]])
    np.testing.assert_array_equal(sq, [[1, 4, 9], [0, 1, 4], [1, 4, 9], [1, 1, 4]])
    assert indices.dtype == np.int64 and sq.dtype == np.float64


def test_blockwise_device_search_finds_scikit_learns_neighbours(monkeypatch):
    """The exact torch search (the one CUDA runs), on the CPU in chunks of 7 rows, against scikit-learn's."""
    from sklearn.neighbors import NearestNeighbors

    X = blobs(300, d=6, seed=2)
    X[11] = X[10]  # exact duplicates: each is the other's nearest, the point itself is still left out
    X[12] = X[10]
    monkeypatch.setitem(_exact_neighbors._CHUNK_ENTRIES, "cpu", 7 * 300)
    indices, sq = nearest_neighbors(X, 20, method="exact", device="cpu")
    expected_sq, expected_indices = NearestNeighbors(n_neighbors=20, algorithm="brute").fit(X).kneighbors()
    expected_sq = expected_sq.astype(np.float64) ** 2
    assert not np.any(indices == np.arange(300)[:, None])
    assert set(indices[10, :2]) == {11, 12}
    assert np.all(np.diff(sq, axis=1) >= 0)
    np.testing.assert_allclose(sq, expected_sq, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(sq, ((X[indices] - X[:, None]) ** 2).sum(axis=2), rtol=1e-5, atol=1e-5)
    # Neighbour sets may differ only at a tie, to float32 rounding, at the k-th distance.
    assert np.mean([np.isin(a, b).mean() for a, b in zip(indices, expected_indices)]) > 0.999


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu"), "auto"])
def test_device_other_than_cuda_computes_on_the_cpu(device):
    if device == "auto" and torch.cuda.is_available():
        pytest.skip("'auto' is CUDA here")
    X = blobs(200, d=4, seed=4)
    P = joint_probabilities(X, perplexity=10, device=device)
    assert abs(P - joint_probabilities(X, perplexity=10)).max() == 0


@pytest.mark.cuda
def test_affinities_on_cuda_equal_those_on_the_cpu():
    X = blobs(5000, d=20, centers=8, seed=5)
    P_cpu = joint_probabilities(X, perplexity=30, method="exact")
    P_cuda = joint_probabilities(X, perplexity=30, method="exact", device="cuda")
    assert P_cuda.nnz == P_cpu.nnz
    assert abs(P_cuda - P_cpu).max() < 1e-4 * P_cpu.max()


def test_an_unknown_device_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown device 'gpu0'; use 'auto', 'cpu', 'cuda' or 'mps'"):
        joint_probabilities(blobs(100), perplexity=10, device="gpu0")
    with pytest.raises(ValueError, match="unknown device"):
        nearest_neighbors(blobs(100), 5, method="pynndescent", device="gpu0")  # before, not after, the search
