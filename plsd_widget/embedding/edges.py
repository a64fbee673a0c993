"""The symmetric affinity matrix ``P`` laid out for the FFT t-SNE gradient.

:class:`SymmetricEdges` holds ``P`` twice: each pair once (for the KL divergence and
the gather of the torch path) and the full matrix in CSR order (for the row sums of
the attraction). At a million points ``P`` has 150–300 M entries (150 neighbours a point,
symmetrised), so the layout is
built straight from ``P``'s CSR arrays in one pass of a numba kernel (no sort, no
COO copy, int32 indices while they fit): about 30 bytes per pair on top of ``P``,
where building it through ``scipy.sparse.triu`` and an argsort peaked at about
100 (18.7 GB at 1M points against 6.9 GB now, ``benchmarks/million.py``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch

from plsd_widget.embedding.lazy_kernel import LazyKernel

__all__ = ["SymmetricEdges", "edges_from_csr", "index_dtype", "symmetric_edges", "warm_up"]


class SymmetricEdges(NamedTuple):
    """A symmetric sparse affinity matrix laid out for :func:`~plsd_widget.embedding.fft_gradient.tsne_gradient_fft`.

    Build it with :func:`edges_from_csr` or :func:`symmetric_edges`. ``rows``,
    ``cols``, ``values`` hold each pair once (``rows < cols``, in row-major order);
    ``crow``, ``col`` and ``pair`` are the CSR layout of the full matrix, where
    ``pair[k]`` is the index of entry ``k``'s pair, and
    ``full_values[k] = values[pair[k]]``. Index tensors are int32 while the number
    of entries fits, int64 beyond.
    """

    rows: torch.Tensor
    cols: torch.Tensor
    values: torch.Tensor
    crow: torch.Tensor
    col: torch.Tensor
    pair: torch.Tensor
    full_values: torch.Tensor


#: What the kernel returns for each way ``P`` can be wrong, and how to say it.
_PROBLEMS = {
    1: "P has entries on its diagonal; t-SNE affinities have none (set them to 0 and call eliminate_zeros())",
    2: "P's sparsity pattern is not symmetric; symmetrise it first, e.g. P = (P + P.T) / 2",
    3: "P's values are not symmetric; symmetrise it first, e.g. P = (P + P.T) / 2",
}


def _compile():
    import numba

    @numba.njit(cache=True)
    def kernel(indptr, indices, data, rows, cols, values, pair, atol):  # pragma: no cover - compiled
        n = indptr.size - 1
        upper_start = np.empty(n + 1, np.int64)  # where row i's pairs (i, j > i) start in the pair list
        n_pairs = 0
        for i in range(n):
            upper_start[i] = n_pairs
            for k in range(indptr[i], indptr[i + 1]):
                j = indices[k]
                if j == i:
                    return 1
                if j > i:
                    n_pairs += 1
        upper_start[n] = n_pairs
        if 2 * n_pairs != indices.size:
            return 2
        cursor = upper_start[:n].copy()  # next unmatched pair of row j, for the entries (i, j < i)
        for i in range(n):
            slot = upper_start[i]
            for k in range(indptr[i], indptr[i + 1]):
                j = indices[k]
                if j > i:
                    rows[slot] = i
                    cols[slot] = j
                    values[slot] = data[k]
                    pair[k] = slot
                    slot += 1
                else:
                    # rows are visited in increasing i, so (i, j) meets row j's pairs in column order
                    match = cursor[j]
                    if match == upper_start[j + 1] or cols[match] != i:
                        return 2
                    if abs(values[match] - data[k]) > 1e-6 * max(abs(values[match]), abs(data[k])) + atol:
                        return 3
                    pair[k] = match
                    cursor[j] = match + 1
        return 0

    return kernel


_kernel = LazyKernel(_compile)


def index_dtype(nnz: int) -> np.dtype:
    """int32 while ``nnz`` entries can be indexed with it, int64 beyond."""
    return np.dtype(np.int32 if nnz < np.iinfo(np.int32).max else np.int64)


def _kernel_arguments(indptr, indices, data, dtype) -> tuple:
    """The kernel's arguments, the output arrays included, in the layout it is compiled for."""
    index = index_dtype(indices.size)
    n_pairs = indices.size // 2
    # values below the output dtype's normal range lose their relative precision when stored
    # (affinities of far-apart points can be 1e-45), so they are compared to this absolute tolerance
    atol = float(np.finfo(dtype).tiny)
    return (indptr, indices, data, np.empty(n_pairs, index), np.empty(n_pairs, index),
            np.empty(n_pairs, dtype), np.empty(indices.size, index), atol)


def warm_up() -> None:
    """Compile the kernel for the arrays the parametric t-SNE passes, or load it from numba's cache."""
    index = np.zeros(2, np.int32)
    _kernel.compile_for(*_kernel_arguments(index, index, np.zeros(2, np.float64), np.float32))


def edges_from_csr(P, device=None, dtype=torch.float32) -> SymmetricEdges:
    """Lay out the symmetric sparse matrix ``P`` for the FFT t-SNE gradient.

    Parameters
    ----------
    P : scipy.sparse matrix of shape (n_samples, n_samples)
        Symmetric affinities, no diagonal (as from
        :func:`~plsd_widget.embedding.affinity.joint_probabilities`). Its arrays are
        read, not changed, unless its indices are unsorted or duplicated, in which
        case a canonical copy is made.
    device : str or torch.device, optional
        Where the tensors go; the CPU by default. The CPU ones share ``P``'s column
        indices when they are already int32.
    dtype : torch.dtype, default=torch.float32
        Of ``values`` and ``full_values``.

    Returns
    -------
    SymmetricEdges

    Raises
    ------
    ValueError
        If ``P`` is not square, has a diagonal, or is not symmetric (pattern or values,
        to a relative 1e-6).
    """
    P = sp.csr_matrix(P)
    if P.shape[0] != P.shape[1]:
        raise ValueError(f"P must be square (the affinities of n points with each other, n x n), got shape {P.shape}; "
                         "build it with plsd_widget.embedding.joint_probabilities(X, perplexity)")
    if not P.has_canonical_format:
        P = P.copy()
        P.sum_duplicates()
    index = index_dtype(P.nnz)
    indptr, indices = P.indptr.astype(index, copy=False), P.indices.astype(index, copy=False)
    args = _kernel_arguments(indptr, indices, P.data, torch.empty(0, dtype=dtype).numpy().dtype)
    status = _kernel(*args)
    if status:
        raise ValueError(_PROBLEMS[status])
    rows, cols, values, pair = (torch.from_numpy(a).to(device) for a in args[3:7])
    full_values = torch.from_numpy(P.data).to(device=device, dtype=dtype)
    return SymmetricEdges(rows, cols, values, torch.from_numpy(indptr).to(device),
                          torch.from_numpy(indices).to(device), pair, full_values)


def symmetric_edges(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor,
                    n_samples: int) -> SymmetricEdges:
    """Lay out the strict upper triangle of a symmetric affinity matrix ``P``.

    Parameters
    ----------
    rows, cols : torch.Tensor of shape (n_pairs,), integer
        Pairs ``(i, j)`` with ``i < j`` (a pair given twice is summed).
    values : torch.Tensor of shape (n_pairs,)
        ``p_ij`` (so they sum to 1/2 when ``P`` sums to 1).
    n_samples : int
        Number of points.

    Returns
    -------
    SymmetricEdges
        On the device of ``rows``, values of the dtype of ``values``.
    """
    if not bool((rows < cols).all()):
        raise ValueError("pass the strict upper triangle of P: every pair once, with rows < cols")
    upper = sp.csr_matrix((values.cpu().numpy(), (rows.cpu().numpy(), cols.cpu().numpy())),
                          shape=(n_samples, n_samples))
    return edges_from_csr(upper + upper.T, rows.device, values.dtype)
