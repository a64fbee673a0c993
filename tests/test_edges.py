"""The layout of a symmetric P for the FFT gradient (plsd_widget.embedding.edges)."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from plsd_widget.embedding import edges as edges_module
from plsd_widget.embedding.edges import edges_from_csr, index_dtype, symmetric_edges


def random_affinities(n=300, density=0.05, seed=0):
    rng = np.random.default_rng(seed)
    A = sp.random(n, n, density=density, random_state=rng, format="csr")
    P = A + A.T
    P.setdiag(0)
    P.eliminate_zeros()
    return P / P.sum()


def reference(P):
    """The same layout by the straightforward route: triu for the pairs, a sort for the full matrix."""
    upper = sp.triu(P, k=1).tocoo()
    order = np.lexsort((upper.col, upper.row))
    rows, cols, values = upper.row[order], upper.col[order], upper.data[order]
    slot = {(i, j): s for s, (i, j) in enumerate(zip(rows, cols))}
    full = P.tocsr().copy()
    full.sort_indices()
    row_of = np.repeat(np.arange(P.shape[0]), np.diff(full.indptr))
    pair = np.array([slot[(min(i, j), max(i, j))] for i, j in zip(row_of, full.indices)])
    return rows, cols, values, full.indptr, full.indices, pair


def test_matches_the_straightforward_layout():
    P = random_affinities()
    edges = edges_from_csr(P)
    for got, expected in zip(edges, reference(P)):
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
    assert torch.equal(edges.full_values, edges.values[edges.pair.long()])
    assert edges.values.sum().item() == pytest.approx(0.5, rel=1e-6)
    assert {t.dtype for t in (edges.rows, edges.cols, edges.crow, edges.col, edges.pair)} == {torch.int32}
    assert edges.values.dtype == edges.full_values.dtype == torch.float32


def test_reads_p_without_changing_it_and_copies_only_an_unsorted_one():
    P = random_affinities(seed=1)
    P.sort_indices()
    before = P.copy()
    edges = edges_from_csr(P)
    assert np.shares_memory(edges.col.numpy(), P.indices)  # int32 indices used in place
    assert (P != before).nnz == 0 and np.array_equal(P.indices, before.indices)

    shuffled = P.copy()
    for i in range(shuffled.shape[0]):  # reverse each row's entries: same matrix, unsorted indices
        lo, hi = shuffled.indptr[i], shuffled.indptr[i + 1]
        shuffled.indices[lo:hi] = shuffled.indices[lo:hi][::-1].copy()
        shuffled.data[lo:hi] = shuffled.data[lo:hi][::-1].copy()
    shuffled.has_sorted_indices = False
    unsorted_indices = shuffled.indices.copy()
    for got, expected in zip(edges_from_csr(shuffled), edges):
        assert torch.equal(got, expected)
    assert np.array_equal(shuffled.indices, unsorted_indices)


def test_int64_indices_give_the_same_layout(monkeypatch):
    """Beyond 2**31 entries the indices are int64; the kernel is the same for both."""
    assert index_dtype(2**31 - 2) == np.int32 and index_dtype(2**31) == np.int64
    P = random_affinities(seed=2)
    narrow = edges_from_csr(P)
    monkeypatch.setattr(edges_module, "index_dtype", lambda nnz: np.dtype(np.int64))
    wide = edges_from_csr(P)
    assert wide.crow.dtype == wide.col.dtype == wide.pair.dtype == torch.int64
    for a, b in zip(wide, narrow):
        assert torch.equal(a, b.to(a.dtype))


def test_symmetric_edges_from_pairs_keeps_device_and_dtype():
    P = random_affinities(seed=3)
    upper = sp.triu(P, k=1).tocoo()
    edges = symmetric_edges(torch.from_numpy(upper.row.astype(np.int64)), torch.from_numpy(upper.col.astype(np.int64)),
                            torch.from_numpy(upper.data), P.shape[0])
    assert edges.values.dtype == edges.full_values.dtype == torch.float64
    np.testing.assert_allclose(edges.full_values.numpy(), edges_from_csr(P, dtype=torch.float64).full_values.numpy())


@pytest.mark.parametrize("break_it, message", [
    (lambda P: P + sp.eye(P.shape[0], format="csr") * 1e-3, "diagonal"),
    (lambda P: sp.triu(P, k=1).tocsr(), "pattern is not symmetric"),
    (lambda P: sp.csr_matrix(([0.5, 0.5], ([0, 2], [1, 0])), shape=(3, 3)), "pattern is not symmetric"),
    (lambda P: sp.triu(P, k=1).tocsr() * 1.5 + sp.tril(P, k=-1).tocsr(), "values are not symmetric"),
    (lambda P: P[:, :-1], "square"),
])
def test_a_p_that_is_not_symmetric_without_diagonal_is_refused(break_it, message):
    with pytest.raises(ValueError, match=message):
        edges_from_csr(break_it(random_affinities(seed=4)))


def test_affinities_below_float32_range_are_still_symmetric():
    # far-apart points get affinities such as 5e-45, which float32 holds with almost no precision
    P = random_affinities().tolil()
    P[0, 1] = P[1, 0] = 4.9e-45
    P[2, 3] = P[3, 2] = 7.9e-44
    edges = edges_from_csr(P.tocsr())
    assert edges.values.dtype == torch.float32 and edges.values.min().item() < 1e-40
