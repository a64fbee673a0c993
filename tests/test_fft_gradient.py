"""The grid (FFT) t-SNE gradient against the exact O(n^2) gradient."""

import numpy as np
import pytest
import torch

from plsd_widget.embedding.edges import symmetric_edges
from plsd_widget.embedding.fft_gradient import tsne_gradient_fft


def exact_gradient(Y, P, exaggeration=1.0):
    W = 1.0 / (1.0 + torch.cdist(Y, Y) ** 2)
    W.fill_diagonal_(0)
    Z = W.sum()
    M = (exaggeration * P - W / Z) * W
    grad = 4.0 * (M.sum(dim=1, keepdim=True) * Y - M @ Y)
    mask = P > 0
    kl = (P[mask] * torch.log(P[mask] * Z / W[mask])).sum()
    return grad, kl


def clustered(n, scale, seed):
    """A t-SNE-like layout: 10 clusters whose spread is a sixth of their spacing."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(10, 2, generator=g, dtype=torch.float64) * scale
    Y = centres[torch.randint(10, (n,), generator=g)] + torch.randn(n, 2, generator=g, dtype=torch.float64) * scale / 6
    P = torch.rand(n, n, generator=g, dtype=torch.float64) * (torch.rand(n, n, generator=g) < 0.01)
    P = P + P.T
    P.fill_diagonal_(0)
    return Y, P / P.sum()


def upper(P):
    rows, cols = torch.nonzero(torch.triu(P, diagonal=1), as_tuple=True)
    return symmetric_edges(rows, cols, P[rows, cols], P.shape[0])


@pytest.mark.parametrize("scale", [1.0, 5.0, 30.0])
@pytest.mark.parametrize("exaggeration", [1.0, 12.0])
def test_matches_the_exact_gradient(scale, exaggeration):
    Y, P = clustered(2000, scale, seed=0)
    grad, kl = tsne_gradient_fft(Y, upper(P), exaggeration=exaggeration)
    exact, exact_kl = exact_gradient(Y, P, exaggeration)
    assert grad.dtype == Y.dtype and grad.shape == Y.shape
    assert ((grad - exact).norm() / exact.norm()).item() < 0.04
    assert kl.item() == pytest.approx(exact_kl.item(), rel=1e-3)


def test_float32_agrees_with_float64():
    Y, P = clustered(500, 5.0, seed=1)
    edges = upper(P)
    grad64, _ = tsne_gradient_fft(Y, edges)
    grad32, _ = tsne_gradient_fft(Y.float(), upper(P.float()))
    np.testing.assert_allclose(grad32.numpy(), grad64.numpy(), rtol=1e-3, atol=1e-4 * grad64.abs().max().item())


def test_checks_its_input():
    Y, P = clustered(50, 1.0, seed=2)
    rows, cols = torch.nonzero(P, as_tuple=True)
    with pytest.raises(ValueError, match="strict upper triangle"):
        symmetric_edges(rows, cols, P[rows, cols], 50)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        tsne_gradient_fft(torch.zeros(50, 3), upper(P))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_kernel_agrees_with_the_torch_expression(dtype):
    """The fused numba pass (CPU) and the torch ops (other devices) compute the same attraction."""
    from plsd_widget.embedding.attraction import attraction_cpu
    from plsd_widget.embedding.fft_gradient import _attraction_torch

    Y, P = clustered(800, 5.0, seed=3)
    Y = Y.to(dtype)
    edges = upper(P.to(dtype))
    force, p_log1p = attraction_cpu(edges.crow, edges.col, edges.full_values, Y)
    expected, expected_p_log1p = _attraction_torch(Y, edges, with_kl=True)
    assert force.dtype == dtype
    np.testing.assert_allclose(force.numpy(), expected.numpy(), rtol=1e-4, atol=1e-6 * expected.abs().max().item())
    assert p_log1p == pytest.approx(expected_p_log1p, rel=1e-5)
    assert attraction_cpu(edges.crow, edges.col, edges.full_values, Y, with_kl=False)[1] == 0.0


def test_without_kl_the_gradient_is_the_same():
    Y, P = clustered(500, 5.0, seed=4)
    edges = upper(P)
    grad, kl = tsne_gradient_fft(Y, edges)
    grad_only, none = tsne_gradient_fft(Y, edges, with_kl=False)
    assert none is None and torch.equal(grad_only, grad)
