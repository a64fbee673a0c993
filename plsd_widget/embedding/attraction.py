"""t-SNE's attractive term on the CPU as one fused pass over the sparse ``P`` (numba).

The torch expression of the same sum (gathers, elementwise ops and a sparse
product) streams several arrays of ``nnz(P)`` entries through memory per step;
at 60,000 points (12 M entries) that took about 130 ms a step on the 2-core
development CPU. This kernel reads each entry once, keeps the running sums in
registers and runs rows in parallel. numba comes with pynndescent, so it adds no
dependency; it is imported (and the kernel compiled, then cached on disk) on
first use, or ahead of it by :mod:`~plsd_widget.embedding.warm_up`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from plsd_widget.embedding.lazy_kernel import LazyKernel

__all__ = ["attraction_cpu", "warm_up"]


def _compile():
    import numba

    @numba.njit(parallel=True, cache=True)
    def kernel(crow, col, p, Y, out, with_kl):  # pragma: no cover - compiled
        total = 0.0
        for i in numba.prange(Y.shape[0]):
            yx, yy = Y[i, 0], Y[i, 1]
            fx = 0.0
            fy = 0.0
            s = 0.0
            for k in range(crow[i], crow[i + 1]):
                j = col[k]
                dx = yx - Y[j, 0]
                dy = yy - Y[j, 1]
                d2 = dx * dx + dy * dy
                a = p[k] / (1.0 + d2)
                fx += a * dx
                fy += a * dy
                if with_kl:
                    s += p[k] * math.log1p(d2)
            out[i, 0] = fx
            out[i, 1] = fy
            total += s
        return total

    return kernel


_kernel = LazyKernel(_compile)


def _kernel_arguments(crow, col, p, Y, with_kl) -> tuple:
    """The kernel's arguments, the output array included, as numpy arrays in the layout it is compiled for."""
    Y_np = Y.detach().contiguous().numpy()
    out = np.empty_like(Y_np)
    return crow.numpy(), col.numpy(), p.numpy().astype(Y_np.dtype, copy=False), Y_np, out, bool(with_kl)


def warm_up() -> None:
    """Compile the kernel for the float32 arrays and int32 indices the t-SNE layout passes, or load it from cache."""
    index = torch.zeros(2, dtype=torch.int32)
    _kernel.compile_for(*_kernel_arguments(index, index, torch.zeros(1), torch.zeros(1, 2), True))


def attraction_cpu(crow: torch.Tensor, col: torch.Tensor, p: torch.Tensor, Y: torch.Tensor,
                   with_kl: bool = True) -> tuple[torch.Tensor, float]:
    """Attractive forces ``sum_j p_ij w_ij (y_i - y_j)`` and ``sum_ij p_ij log(1 + |y_i - y_j|^2)``.

    Parameters
    ----------
    crow, col : torch.Tensor, int32 or int64, on the CPU
        CSR layout of the full symmetric ``P``: row pointers of shape
        (n_samples + 1,) and column indices of shape (nnz,).
    p : torch.Tensor of shape (nnz,), on the CPU
        The entries of ``P`` in that layout.
    Y : torch.Tensor of shape (n_samples, 2), on the CPU
        The embedding.
    with_kl : bool, default=True
        Also accumulate the second sum (a logarithm per entry); 0.0 otherwise.

    Returns
    -------
    force : torch.Tensor of shape (n_samples, 2), dtype of ``Y``
    sum_p_log1p : float
        Over all ordered pairs (every pair of ``P`` counted twice).
    """
    crow_np, col_np, p_np, Y_np, out, with_kl = _kernel_arguments(crow, col, p, Y, with_kl)
    total = _kernel(crow_np, col_np, p_np, Y_np, out, with_kl)
    return torch.from_numpy(out), float(total)
