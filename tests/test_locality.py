"""Tests of the points' memory order for the CPU layout (plsd_widget.embedding.locality)."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from plsd_widget.embedding import joint_probabilities
from plsd_widget.embedding.edges import edges_from_csr
from plsd_widget.embedding.layout import tsne_layout
from plsd_widget.embedding.locality import in_original_order, permuted_csr, z_order


def test_z_order_keeps_each_of_two_far_blobs_together():
    rng = np.random.default_rng(0)
    blob = rng.integers(2, size=500)
    Y = rng.normal(size=(500, 2)) + 50.0 * blob[:, None]
    order = z_order(Y)
    assert np.array_equal(np.sort(order), np.arange(500))
    assert np.count_nonzero(np.diff(blob[order])) == 1


def test_z_order_of_points_in_one_place_is_a_permutation():
    assert np.array_equal(np.sort(z_order(np.ones((7, 2)))), np.arange(7))


@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_permuted_csr_equals_scipys_fancy_indexing(index):
    P = sp.random(80, 80, density=0.1, random_state=0, format="csr")
    P = (P + P.T).tocsr()
    P.indptr, P.indices = P.indptr.astype(index), P.indices.astype(index)
    order = np.random.default_rng(1).permutation(80)
    permuted = permuted_csr(P, order)
    expected = P[order][:, order].tocsr()
    expected.sort_indices()
    assert permuted.has_sorted_indices
    np.testing.assert_array_equal(permuted.indptr, expected.indptr)
    np.testing.assert_array_equal(permuted.indices, expected.indices)
    np.testing.assert_array_equal(permuted.data, expected.data)


def test_in_original_order_undoes_the_order():
    Y = torch.arange(10.0).reshape(5, 2)
    order = np.array([3, 0, 4, 1, 2])
    torch.testing.assert_close(in_original_order(Y[order], order), Y)
    assert in_original_order(Y, None) is Y


def test_a_layout_run_in_z_order_is_the_layout_run_in_the_points_order():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(500, 8)) + 6.0 * rng.integers(3, size=(500, 1))).astype(np.float32)
    P = joint_probabilities(X, 20)
    init = (rng.normal(size=(500, 2)) * 1e-4).astype(np.float32)
    order = z_order(init)
    plain = tsne_layout(edges_from_csr(P), torch.from_numpy(init), n_early=20, n_late=20)
    ordered = tsne_layout(edges_from_csr(permuted_csr(P, order)), torch.from_numpy(init[order]), n_early=20,
                          n_late=20)
    # only the order of floating-point sums differs
    torch.testing.assert_close(in_original_order(ordered, order), plain, rtol=1e-3, atol=1e-3 * float(plain.std()))
