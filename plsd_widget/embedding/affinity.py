"""t-SNE input affinities: a k-nearest-neighbour graph and per-point perplexity calibration.

The pipeline is split into three composable steps, each usable on its own:

1. :func:`nearest_neighbors` -- the ``k`` nearest neighbours of every point (self
   excluded), by the package's kNN engine (:mod:`plsd_widget.neighbors`): exact for
   small data and pynndescent for large data;
2. :func:`conditional_probabilities` -- a Gaussian kernel on the squared distances,
   with one precision per point calibrated so that each row has the requested
   perplexity;
3. :func:`joint_probabilities` -- both of the above, symmetrised into the sparse joint
   distribution ``P = (P_cond + P_cond^T) / (2 n)`` that t-SNE matches.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import scipy.sparse as sp
import torch

from plsd_widget._validation import as_float_array, check_positive_int
from plsd_widget.config import PERPLEXITY, RANDOM_STATE
from plsd_widget.devices import resolve_device
from plsd_widget.neighbors import NeighborIndex

logger = logging.getLogger(__name__)

def check_perplexity(perplexity, n_samples: int) -> float:
    """Validate ``perplexity`` against the number of samples.

    The kNN graph uses ``k = 3 * perplexity`` neighbours (as openTSNE and
    scikit-learn do), so the data needs at least ``3 * perplexity + 1`` samples.

    Parameters
    ----------
    perplexity : float
        Target perplexity, >= 1 (the entropy of a distribution is never negative,
        so a perplexity below 1 cannot be reached).
    n_samples : int
        Number of samples in the data.

    Returns
    -------
    perplexity : float

    Raises
    ------
    ValueError
        If ``perplexity`` is not a positive finite number or is too large for the
        data; the message says which perplexity would fit.
    """
    if isinstance(perplexity, bool):
        raise TypeError(f"perplexity must be a number >= 1, got {perplexity!r}")
    try:
        value = float(perplexity)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"perplexity must be a number >= 1, got {perplexity!r}") from exc
    if not math.isfinite(value) or value < 1:
        raise ValueError(
            f"perplexity must be a finite number >= 1 (it is an effective number of "
            f"neighbours; typical values are 5-50), got {perplexity!r}"
        )
    needed = math.floor(3 * value) + 1
    if n_samples < needed:
        largest = (n_samples - 1) // 3
        fix = (f"lower perplexity to at most {largest} or pass more data" if largest >= 1
               else "pass more data (t-SNE needs at least 4 samples)")
        raise ValueError(
            f"perplexity {perplexity:g} needs at least {needed} samples, got {n_samples}; {fix}"
        )
    return value


def nearest_neighbors(X, n_neighbors: int, *, method: str = "auto", random_state=RANDOM_STATE,
                      verbose: bool = False, device=None) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``n_neighbors`` nearest neighbours of every sample, itself excluded.

    A thin step over the package's kNN engine, :class:`plsd_widget.neighbors.NeighborIndex`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data.
    n_neighbors : int
        Neighbours per point, at most ``n_samples - 1``.
    method : {"auto", "exact", "pynndescent"}, default="auto"
        ``"exact"`` is exact search; ``"pynndescent"`` approximate nearest-neighbour
        descent; ``"auto"`` searches exactly while ``n_samples**2 * n_features <=
        EXACT_MAX_WORK`` (:data:`plsd_widget.neighbors.EXACT_MAX_WORK`: about 89,000
        points of 50 features or 28,000 of 512), with pynndescent above.
    random_state : int or numpy.random.Generator, default=plsd_widget.config.RANDOM_STATE
        Seed for pynndescent.
    verbose : bool, default=False
        Show the exact search's progress bar, or pynndescent's log.
    device : str or torch.device, optional
        A CUDA device runs the exact search there (the same neighbours); anything
        else, or None, searches on the CPU.

    Returns
    -------
    indices : ndarray of shape (n_samples, n_neighbors), int64
        Neighbour indices, nearest first (ties by index).
    sq_distances : ndarray of shape (n_samples, n_neighbors), float64
        Squared Euclidean distances to those neighbours.
    """
    X = as_float_array(X)
    n = X.shape[0]
    k = check_positive_int(n_neighbors, "n_neighbors")
    if k > n - 1:
        raise ValueError(f"n_neighbors={k} is too large for {n} samples; use at most {n - 1}")
    index = NeighborIndex(X, method=method, device=device, random_state=random_state, progress=verbose)
    indices, sq_distances = index.query(k=k, squared=True)
    return indices, sq_distances.astype(np.float64)


def _cuda_device(device) -> torch.device | None:
    """``device`` (as :func:`~plsd_widget.devices.resolve_device` reads it) when it is a CUDA one, else None."""
    if device is None:
        return None
    device = resolve_device(device)
    return device if device.type == "cuda" else None


def _row_entropy(sq_distances: torch.Tensor, beta: torch.Tensor):
    """Return (P, H, Var) of the Gaussian rows for precisions ``beta``.

    ``sq_distances`` must be shifted so that every row's minimum is 0; then each
    row's normaliser is >= 1 and nothing underflows to 0/0.
    """
    weights = torch.exp(-sq_distances * beta[:, None])
    total = weights.sum(dim=1)
    p = weights / total[:, None]
    mean_d = (p * sq_distances).sum(dim=1)
    var_d = (p * sq_distances.square()).sum(dim=1) - mean_d.square()
    entropy = torch.log(total) + beta * mean_d
    return p, entropy, var_d.clamp_min(0.0)


#: Rows calibrated at a time by :func:`conditional_probabilities`.
_CALIBRATION_ROWS = 65_536


def conditional_probabilities(sq_distances, perplexity: float, *, tol: float = 1e-5,
                              max_iter: int = 200, device=None) -> tuple[np.ndarray, np.ndarray]:
    """Calibrate one Gaussian precision per row so each row has the target perplexity.

    All rows are solved at once (vectorised) by a safeguarded Newton iteration on
    ``log(beta)``: Newton steps on the entropy ``H(beta)`` (whose derivative is
    ``-beta * Var_p(d)``), falling back to bisection inside a bracket that starts
    unbounded and expands geometrically, so it adapts to the data's scale. The first
    guess is ``beta = 1 / mean(d)`` of each row.

    Parameters
    ----------
    sq_distances : ndarray of shape (n_samples, n_neighbors)
        Squared distances from each point to its neighbours.
    perplexity : float
        Target perplexity ``exp(H)`` of every row, with ``H`` in nats. Must be below
        ``n_neighbors``.
    tol : float, default=1e-5
        Tolerance on the entropy, in nats.
    max_iter : int, default=200
        Iteration cap.
    device : str or torch.device, optional
        A CUDA device calibrates there; anything else, or None, on the CPU. The
        arithmetic is float64 either way.

    Returns
    -------
    P_cond : ndarray of shape (n_samples, n_neighbors), float64
        Rows sum to 1.
    beta : ndarray of shape (n_samples,)
        Precisions ``1 / (2 sigma^2)`` in units of the input's squared distances.

    Notes
    -----
    A row can fail to reach the target only when more than ``perplexity`` of its
    neighbours tie at its smallest distance, as when they are exact duplicates (its
    entropy never drops below the log of their number); such rows spread their mass
    evenly over the tied neighbours and are reported with a ``logging`` warning.
    """
    sq_distances = np.asarray(sq_distances)
    n, k = sq_distances.shape
    if not perplexity < k:
        raise ValueError(f"perplexity {perplexity:g} must be below the number of neighbours ({k})")
    p = np.empty((n, k), dtype=np.float64)
    beta = np.empty(n, dtype=np.float64)
    failed = 0
    device = _cuda_device(device) or torch.device("cpu")
    # Rows are independent: calibrating them in chunks bounds the temporaries (a few
    # copies of a chunk instead of the whole (n, k) array: gigabytes at a million points).
    for start in range(0, n, _CALIBRATION_ROWS):
        stop = min(n, start + _CALIBRATION_ROWS)
        chunk = torch.as_tensor(sq_distances[start:stop], dtype=torch.float64, device=device)
        p_chunk, beta_chunk, chunk_failed = _calibrate(chunk, perplexity, tol, max_iter)
        p[start:stop], beta[start:stop] = p_chunk.cpu().numpy(), beta_chunk.cpu().numpy()
        failed += chunk_failed
    if failed:
        logger.warning(
            "perplexity calibration did not converge for %d of %d points (entropy "
            "tolerance %g); such points have more than %g neighbours at exactly the "
            "same, smallest distance (usually exact duplicates), and their affinity is "
            "spread evenly over those. Deduplicate the data or raise perplexity.",
            failed, n, tol, perplexity,
        )
    return p, beta


def _calibrate(d: torch.Tensor, perplexity: float, tol: float, max_iter: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """:func:`conditional_probabilities` of the rows of ``d`` (float64); returns (P, beta, rows failed)."""
    n = d.shape[0]
    d = d - d.min(dim=1, keepdim=True).values
    target = math.log(perplexity)
    mean_d = d.mean(dim=1)
    log_beta = -torch.log(torch.where(mean_d > 0, mean_d, 1.0))
    lo = torch.full_like(log_beta, -math.inf)  # bracket on log(beta): H(lo) >= target >= H(hi)
    hi = torch.full_like(log_beta, math.inf)
    p = torch.empty_like(d)
    active = torch.arange(n, device=d.device)
    for _ in range(max_iter):
        lb = log_beta[active]
        p_a, h, var = _row_entropy(d[active], lb.exp())
        p[active] = p_a
        diff = h - target
        done = diff.abs() < tol
        too_flat = diff > 0  # entropy too high: raise beta
        lo_a = torch.where(too_flat, lb, lo[active])
        hi_a = torch.where(too_flat, hi[active], lb)
        lo[active], hi[active] = lo_a, hi_a
        slope = torch.exp(2 * lb) * var  # -dH/dlog(beta)
        newton = lb + diff / slope
        inside = (slope > 0) & (newton > lo_a) & (newton < hi_a)
        bisect = torch.where(lo_a.isfinite() & hi_a.isfinite(), 0.5 * (lo_a + hi_a),
                             torch.where(too_flat, lb + 2.0, lb - 2.0))
        # |log beta| <= 300 keeps beta * d and beta^2 * Var finite in float64.
        log_beta[active] = torch.where(done, lb, torch.where(inside, newton, bisect)).clamp(-300.0, 300.0)
        active = active[~done]
        if active.numel() == 0:
            break
    return p, log_beta.exp(), active.numel()


def joint_probabilities(X, perplexity: float = PERPLEXITY, *, n_neighbors: int | None = None,
                        method: str = "auto", random_state=RANDOM_STATE,
                        verbose: bool = False, device=None) -> sp.csr_matrix:
    """Return the sparse, symmetric t-SNE affinity matrix ``P`` of ``X``.

    Each point's ``k`` nearest neighbours (``k = min(3 * perplexity, n - 1)`` by
    default) get Gaussian weights on their squared Euclidean distances, with the
    precision calibrated per point so that its conditional distribution has the
    given perplexity (see :func:`conditional_probabilities`). The result is
    ``P = (P_cond + P_cond^T) / (2 n)``: symmetric, non-negative and summing to 1.
    It is never stored densely.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data; numpy arrays and torch tensors are accepted.
    perplexity : float, default=50.0
        Effective number of neighbours per point. Needs
        ``n_samples >= 3 * perplexity + 1``.
    n_neighbors : int, optional
        Override ``k``; must exceed ``perplexity``.
    method : {"auto", "exact", "pynndescent"}, default="auto"
        kNN search, see :func:`nearest_neighbors`.
    random_state : int or numpy.random.Generator, default=plsd_widget.config.RANDOM_STATE
        Seed for the approximate kNN search.
    verbose : bool, default=False
        Log timings at INFO level (DEBUG otherwise) and show the kNN search's progress.
    device : str or torch.device, optional
        A CUDA device runs the exact kNN search and the calibration there; the
        result is the same sparse matrix on the CPU.

    Returns
    -------
    P : scipy.sparse.csr_matrix of shape (n_samples, n_samples), float64
        Symmetric, without a diagonal, column indices sorted within each row.

    Raises
    ------
    ValueError
        For non-2-D input, NaN/inf rows, a perplexity too large for the data (the
        message says which would fit), or data whose rows are all identical.
    """
    X = as_float_array(X)
    n = X.shape[0]
    perplexity = check_perplexity(perplexity, n)
    if not np.any(X != X[0]):
        raise ValueError(
            f"all {n} rows of X are identical, so there is no structure to embed; "
            "check the input (e.g. a layer whose activations are all zero)"
        )
    if n_neighbors is None:
        k = min(math.floor(3 * perplexity), n - 1)
    else:
        k = check_positive_int(n_neighbors, "n_neighbors")
        if k <= perplexity:
            raise ValueError(
                f"n_neighbors={k} must exceed perplexity {perplexity:g}; use about "
                f"{min(math.floor(3 * perplexity), n - 1)} or leave it as None"
            )
    device = _cuda_device(device)  # checked before the search, which can take minutes
    log = logger.info if verbose else logger.debug
    start = time.perf_counter()
    indices, sq_distances = nearest_neighbors(X, k, method=method, random_state=random_state,
                                              verbose=verbose, device=device)
    log("kNN (k=%d) of %d points in %.2f s", k, n, time.perf_counter() - start)
    start = time.perf_counter()
    p_cond, _ = conditional_probabilities(sq_distances, perplexity, device=device)
    log("perplexity calibration in %.2f s", time.perf_counter() - start)
    del sq_distances
    # The conditional affinities as CSR straight away (k entries per row), no COO triplets.
    index_dtype = np.int32 if n * k < 2**31 else np.int64
    p_cond = sp.csr_matrix((p_cond.ravel(), indices.ravel().astype(index_dtype),
                            np.arange(0, n * k + 1, k, dtype=index_dtype)), shape=(n, n))
    del indices
    P = (p_cond + p_cond.T).tocsr()
    del p_cond
    P.data /= 2.0 * n
    P.eliminate_zeros()
    P.sort_indices()  # in place; lets edges_from_csr read P's arrays without a canonical copy
    return P
