"""An order of the points that keeps t-SNE neighbours near each other in memory.

Each iteration of the layout's attraction (:mod:`~plsd_widget.embedding.attraction`)
reads the position of every neighbour of every point. In the order the user's data
comes in (often random) those reads miss the CPU's caches once the positions outgrow
them: at 1M points and 247M entries of ``P`` a layout iteration took 1.14 s, against
0.61 s with the points sorted along a Z-order curve of the layout's PCA start, which
puts most neighbours near each other (``benchmarks/RESULTS.md``, issue 14). The layout
runs in that order and its result is put back in the user's order.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from plsd_widget.embedding.lazy_kernel import LazyKernel

__all__ = ["in_original_order", "permuted_csr", "warm_up", "z_order"]

#: Bits per coordinate of the Z-order code: a 65,536 x 65,536 grid.
_Z_BITS = 16


def z_order(Y: np.ndarray) -> np.ndarray:
    """The points sorted along a Z-order (Morton) curve of their 2-D coordinates.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, 2)
        Finite coordinates.

    Returns
    -------
    order : ndarray of shape (n_samples,), int64
        A permutation of ``range(n_samples)``: ``Y[order]`` follows the curve.
    """
    low, high = Y.min(axis=0), Y.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    cells = ((Y - low) / span * (2**_Z_BITS - 1)).astype(np.uint64)
    code = np.zeros(len(Y), np.uint64)
    for bit in range(_Z_BITS):
        for axis in range(2):
            code |= ((cells[:, axis] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(2 * bit + axis)
    return np.argsort(code, kind="stable")


def _compile():
    import numba

    @numba.njit(parallel=True, cache=True)
    def kernel(indptr, indices, data, order, position, new_indptr, new_indices, new_data):  # pragma: no cover
        for row in numba.prange(order.size):
            old = order[row]
            start, stop, to = indptr[old], indptr[old + 1], new_indptr[row]
            columns = np.empty(stop - start, new_indices.dtype)
            for k in range(start, stop):
                columns[k - start] = position[indices[k]]
            by_column = np.argsort(columns)
            for k in range(stop - start):
                new_indices[to + k] = columns[by_column[k]]
                new_data[to + k] = data[start + by_column[k]]

    return kernel


_kernel = LazyKernel(_compile)


def _kernel_arguments(P: sp.csr_matrix, order: np.ndarray) -> tuple:
    """The kernel's arguments, the output arrays included, in the layout it is compiled for."""
    order = order.astype(np.int64, copy=False)
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    new_indptr = np.zeros(order.size + 1, P.indptr.dtype)
    np.cumsum(np.diff(P.indptr)[order], out=new_indptr[1:])
    return (P.indptr, P.indices, P.data, order, position.astype(P.indices.dtype), new_indptr,
            np.empty_like(P.indices), np.empty_like(P.data))


def permuted_csr(P: sp.csr_matrix, order: np.ndarray) -> sp.csr_matrix:
    """``P[order][:, order]``, with sorted indices, in one parallel pass: no copies but the result.

    Parameters
    ----------
    P : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        Without duplicate entries (as
        :func:`~plsd_widget.embedding.affinity.joint_probabilities` returns it).
    order : ndarray of shape (n_samples,)
        A permutation of ``range(n_samples)``.

    Returns
    -------
    scipy.sparse.csr_matrix
        Row ``r`` and column ``c`` are ``P``'s row and column ``order[r]`` and ``order[c]``.
    """
    args = _kernel_arguments(P, order)
    _kernel(*args)
    return sp.csr_matrix((args[7], args[6], args[5]), shape=P.shape)


def in_original_order(Y: torch.Tensor, order: np.ndarray | None) -> torch.Tensor:
    """Rows of ``Y``, computed for the points in ``order``, put back in the points' own order (``order=None``: ``Y``)."""
    if order is None:
        return Y
    restored = torch.empty_like(Y)
    restored[torch.from_numpy(order).to(Y.device)] = Y
    return restored


def warm_up() -> None:
    """Compile the kernel for the matrices the parametric t-SNE passes, or load it from numba's cache."""
    P = sp.csr_matrix(np.zeros((2, 2)))
    P.indices = P.indices.astype(np.int32)
    P.indptr = P.indptr.astype(np.int32)
    _kernel.compile_for(*_kernel_arguments(P, np.arange(2)))
