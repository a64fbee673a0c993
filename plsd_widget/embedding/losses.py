"""Pure torch losses for training embeddings.

Nothing here holds state or touches numpy, so every function runs on any device
and is differentiable with respect to its tensor arguments.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

__all__ = ["student_t_log_kernel", "tsne_kl_loss"]


def student_t_log_kernel(sq_dist: torch.Tensor, dof: float = 1.0) -> torch.Tensor:
    """Return ``log w`` of the Student-t kernel ``w = (1 + d^2 / dof) ** (-(dof + 1) / 2)``.

    Parameters
    ----------
    sq_dist : torch.Tensor
        Squared distances ``d^2``, any shape.
    dof : float, default=1.0
        Degrees of freedom; 1 is the Cauchy kernel of standard t-SNE.

    Returns
    -------
    torch.Tensor
        Same shape as ``sq_dist``.
    """
    return -0.5 * (dof + 1.0) * torch.log1p(sq_dist / dof)


def tsne_kl_loss(Y: torch.Tensor, P_batch, *, exaggeration: float = 1.0,
                 dof: float = 1.0) -> torch.Tensor:
    """KL divergence ``KL(P || Q)`` of t-SNE, restricted to one batch of points.

    ``Q`` is the Student-t similarity of the embedded points, normalised over all
    ordered pairs ``i != j`` of the batch::

        q_ij = w_ij / sum_{k != l} w_kl,   w_ij = (1 + |y_i - y_j|^2 / dof) ** (-(dof + 1) / 2)

    ``P_batch`` is renormalised to sum to 1 over the batch, so for a full batch this
    is exactly the t-SNE objective, and for a sub-batch it is the t-SNE objective of
    the sub-problem. The value is::

        sum_ij p_ij log p_ij - exaggeration * sum_ij p_ij log w_ij + log sum_{k != l} w_kl

    which equals the KL divergence when ``exaggeration == 1``. A larger
    ``exaggeration`` scales the attractive term only, giving the early-exaggeration
    gradient ``4 sum_j (exaggeration * p_ij - q_ij) w_ij (y_i - y_j)`` (the value is
    then an upper bound of the KL divergence rather than the KL divergence itself).

    The gradient with respect to ``Y`` is written out by hand (the closed form
    above, for general ``dof``): autograd through the pairwise expressions would
    store and re-read about a dozen b x b temporaries, the closed form needs one.
    Cost is O(b^2) time and memory in the batch size ``b`` plus O(nnz) for the
    attractive term. Only first derivatives are supported.

    Parameters
    ----------
    Y : torch.Tensor of shape (b, n_components)
        Embedding of the batch.
    P_batch : torch.Tensor of shape (b, b) or tuple of three 1-D tensors
        Input affinities among the batch points: a dense or sparse COO tensor, or
        the edge list ``(rows, cols, values)`` of one (which needs no sparse support
        on the device). Non-negative with a positive sum; diagonal entries are
        ignored.
    exaggeration : float, default=1.0
        Factor on the attractive term.
    dof : float, default=1.0
        Degrees of freedom of the Student-t kernel.

    Returns
    -------
    torch.Tensor
        Scalar loss, differentiable with respect to ``Y``.
    """
    b = Y.shape[0]
    if isinstance(P_batch, (tuple, list)):
        rows, cols, p = P_batch
    elif P_batch.shape != (b, b):
        raise ValueError(f"P_batch must have shape ({b}, {b}) to match Y, got {tuple(P_batch.shape)}")
    elif P_batch.is_sparse:
        P_batch = P_batch.coalesce()
        rows, cols = P_batch.indices()
        p = P_batch.values()
    else:
        rows, cols = torch.nonzero(P_batch, as_tuple=True)
        p = P_batch[rows, cols]
    keep = (rows != cols) & (p > 0)
    if not bool(keep.all()):
        rows, cols, p = rows[keep], cols[keep], p[keep]
    p = p.to(Y.dtype)
    p = p / p.sum()
    return _TSNEKL.apply(Y, rows * b + cols, p, float(exaggeration), float(dof))


class _TSNEKL(torch.autograd.Function):
    """Exaggerated t-SNE KL of a batch from flat edge indices ``rows * b + cols``."""

    @staticmethod
    def forward(ctx, Y, flat_edges, p, exaggeration, dof):
        sq_norms = Y.pow(2).sum(dim=1)
        # The b x b buffer goes d^2 -> w in place; addmm_ in place is much faster
        # than the out-of-place form for this skinny (K = n_components) product.
        w = (sq_norms[:, None] + sq_norms[None, :]).addmm_(Y, Y.T, alpha=-2.0).clamp_min_(0.0)
        if dof == 1.0:
            w.add_(1.0).reciprocal_()
        else:
            w.div_(dof).log1p_().mul_(-0.5 * (dof + 1.0)).exp_()
        # Every w is in (0, 1], so the plain sum cannot overflow; w_ii = 1 is removed.
        z = w.sum() - w.diagonal().sum()
        w_edges = torch.take(w, flat_edges)
        loss = (p * torch.log(p)).sum() - exaggeration * (p * torch.log(w_edges)).sum() + torch.log(z)
        ctx.save_for_backward(Y, w, flat_edges, p, w_edges, z)
        ctx.exaggeration, ctx.dof = exaggeration, dof
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        Y, w, flat_edges, p, w_edges, z = ctx.saved_tensors
        exaggeration, dof = ctx.exaggeration, ctx.dof
        factor = (dof + 1.0) / dof
        # Symmetric force matrix M, gradient_i = sum_j M_ij (y_i - y_j).
        # Repulsion: -2 factor / z * w_ij ** ((dof + 3) / (dof + 1)); the diagonal
        # multiplies (y_i - y_i) = 0, so it needs no masking.
        force = w * w if dof == 1.0 else w.pow((dof + 3.0) / (dof + 1.0))
        force.mul_(-2.0 * factor / z)
        # Attraction of edge (i, j) pulls on both ends: add it at (i, j) and (j, i).
        b = Y.shape[0]
        attract = exaggeration * factor * p * (w_edges if dof == 1.0 else w_edges.pow(2.0 / (dof + 1.0)))
        transposed = (flat_edges % b) * b + torch.div(flat_edges, b, rounding_mode="floor")
        force.view(-1).scatter_add_(0, torch.cat([flat_edges, transposed]), torch.cat([attract, attract]))
        # M is symmetric, so M @ Y == (Y^T @ M)^T, which is the faster skinny product.
        grad = force.sum(dim=1, keepdim=True) * Y - (Y.T @ force).T
        return grad * grad_out, None, None, None, None
