"""The exact search of :class:`plsd_widget.neighbors.NeighborIndex`, with torch on the CPU or a CUDA device.

For a chunk of queries it computes ``|x|^2 - 2 q.x`` (on data centred on the points' mean,
so the norms stay small) against all points with one float32 matrix product. It ranks
without sorting whole rows: the columns are split into ``g`` strided groups, the groups
with the smallest minima are found first (a row's ``c`` smallest values always lie in its
``c`` groups with the smallest minima) and only their members are ranked. The ``k``
nearest of the ``k`` + margin survivors are picked by squared distances recomputed in
float64 from the coordinate differences (exact for float32 coordinates, so equal
distances stay equal and ties go by index). A query whose k-th distance the float32
product cannot tell apart from the points left out (ties, or rounding far from the
centre) is searched again with four times the candidates, up to all points: the result is
that of a float64 brute-force search.

torch is imported when a search runs, not with this module.
"""

from __future__ import annotations

import math

import numpy as np

from plsd_widget.progress import progress_bar

#: Float32 entries of one chunk of the query-by-points products: 16 MB on the CPU (4 MB
#: and 64 MB were slower), 512 MB on a CUDA device (fewer kernel launches).
_CHUNK_ENTRIES = {"cpu": 2**22, "cuda": 2**27}


def _margin(k: int) -> int:
    """Candidates beyond ``k`` that the exact search ranks, so that rounding seldom needs a second search."""
    return max(4, min(16, k // 2))


def _group_size(n: int, n_candidates: int) -> int:
    """Strided group size: balances the group-minimum top-k against the candidates ranked."""
    return int(min(32, max(1, math.isqrt(max(1, n // max(n_candidates, 1))))))


def exact_neighbors(points: np.ndarray, queries: np.ndarray, k: int, exclude, *, device=None,
                    progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Indices (int64) and squared distances (float32) of shape (n_queries, k) of each query's nearest points.

    ``points`` and ``queries`` are float32 arrays of shape (n, d); ``exclude`` (int64 of
    shape (n_queries,), or None) is the point each query leaves out, -1 for none; ``device``
    a CUDA device, or None for the CPU. Sorted by (distance, index).
    """
    import torch

    m = len(queries)
    search = _ExactSearch(points, device or torch.device("cpu"), k)
    queries = torch.from_numpy(queries).to(search.device)
    excluded = None if exclude is None else torch.from_numpy(exclude).to(search.device)
    indices, sq_distances = np.empty((m, k), np.int64), np.empty((m, k), np.float32)

    def search_chunk(start: int) -> int:
        stop = min(m, start + search.chunk)
        own = None if excluded is None else excluded[start:stop]
        found = search.nearest(queries[start:stop], own)
        indices[start:stop], sq_distances[start:stop] = (a.cpu().numpy() for a in found)
        return stop - start

    with progress_bar(m, enabled=progress, desc="NeighborIndex (exact)", unit="query") as bar:
        for start in range(0, m, search.chunk):
            bar.update(search_chunk(start))
    return indices, sq_distances


class _ExactSearch:
    """The exact search of a set of points on a torch device (see the module docstring)."""

    def __init__(self, points: np.ndarray, device, k: int):
        import torch

        n, d = points.shape
        self.device, self.k, self.n = device, k, n
        self.n_candidates = min(n, k + _margin(k))
        self.points = torch.from_numpy(points).to(device)
        self.centre = self.points.double().mean(0).float()
        centred = self.points - self.centre
        sq_norms = centred.square().sum(1)
        g = _group_size(n, self.n_candidates)
        self.n_groups = -(-n // g)
        augmented = torch.zeros(self.n_groups * g, d + 1, device=device)  # rows (-2 x, |x|^2)
        augmented[:n, :d] = centred * -2.0
        augmented[:n, d] = sq_norms
        augmented[n:, d] = math.inf  # padding never wins
        self.transposed = augmented.T  # a transposed view: BLAS reads it row-major, 3x faster than a copy
        self.offsets = torch.arange(g, device=device) * self.n_groups  # group j: columns j + n_groups * t
        # |x|^2 - 2 q.x, a float32 dot product of d + 1 terms after float32 centring, is within
        # rounding * (|q|^2 + 2 max |x|^2) of its exact value (centred q and x).
        self.rounding = (2 * d + 8) * 2.0**-24
        self.max_sq_norm = float(sq_norms.max())
        self.d, self.entries = d, _CHUNK_ENTRIES.get(device.type, _CHUNK_ENTRIES["cpu"])
        self.chunk = max(1, self.entries // max(len(augmented), self.n_candidates * d))

    def nearest(self, queries, own):
        """Indices and squared distances of shape (rows, k) of the ``queries``' ``k`` nearest points.

        ``own`` (or None) holds the index each query leaves out, -1 for none. Queries whose
        k-th neighbour the float32 product cannot tell apart from the points beyond the
        candidates (ties, or rounding far from the centre) are searched again with four
        times the candidates, up to all points.
        """
        n_candidates = self.n_candidates
        cand, floor = self._candidates(queries, own, n_candidates)
        indices, sq = self._rerank(queries, cand, own)
        unsure = sq[:, -1] >= floor
        while unsure.any():
            n_candidates = min(self.n, 4 * n_candidates)
            for rows in unsure.nonzero().flatten().split(max(1, self.entries // (n_candidates * self.d))):
                own_rows = None if own is None else own[rows]
                cand, floor = self._candidates(queries[rows], own_rows, n_candidates)
                indices[rows], sq[rows] = self._rerank(queries[rows], cand, own_rows)
                unsure[rows] = sq[rows, -1] >= floor
        return indices, sq

    def _candidates(self, queries, own, n_candidates: int):
        """The ``n_candidates`` columns of the smallest ``|x|^2 - 2 q.x``, and a floor under the others'."""
        import torch

        rows = len(queries)
        centred = queries - self.centre
        D = torch.mm(torch.cat([centred, torch.ones(rows, 1, device=self.device)], 1), self.transposed)
        if own is not None:
            has = torch.nonzero(own >= 0).flatten()
            D[has, own[has]] = math.inf
        g = len(self.offsets)
        if g > 1 and n_candidates < self.n:
            minima = D.view(rows, g, self.n_groups).amin(1)
            groups, _ = _smallest(minima, min(n_candidates, self.n_groups))
            cand = (groups[:, :, None] + self.offsets).reshape(rows, -1)
            best, largest = _smallest(torch.gather(D, 1, cand), n_candidates)
            cand = torch.gather(cand, 1, best)
        else:
            cand, largest = _smallest(D, n_candidates)
        # Every other point's product is >= the largest candidate's; its exact |q - x|^2 above the floor.
        sq_q = centred.square().sum(1)
        floor = largest + sq_q - self.rounding * (sq_q + 2 * self.max_sq_norm)
        if n_candidates == self.n:
            floor.fill_(math.inf)  # every point is a candidate
        return cand, floor

    def _rerank(self, queries, cand, own):
        """The ``k`` nearest candidates by squared distances from the differences, ties by index.

        The differences of float32 coordinates are exact in float64, so the distances carry
        float64 rounding only: equal ones (duplicates, integer data) stay equal, and different
        ones are told apart as by a float64 brute-force search.
        """
        rows, n_candidates = cand.shape
        cand = cand.sort(1).values
        near = self.points.index_select(0, cand.flatten()).view(rows, n_candidates, -1)
        sq = (near.double() - queries[:, None].double()).square_().sum(2)
        if own is not None:
            sq[cand == own[:, None]] = math.inf
        sq, order = sq.sort(dim=1, stable=True)  # stable: equal distances stay in index order
        return cand.gather(1, order[:, :self.k]), sq[:, :self.k]


def _smallest(values, count: int):
    """Columns of the ``count`` smallest values of each row (in any order), and the largest of those.

    numpy's partition on the CPU (eight times faster there than torch's ``topk``), ``topk`` elsewhere.
    """
    import torch

    if values.device.type != "cpu":
        best = torch.topk(values, count, 1, largest=False, sorted=False)
        return best.indices, best.values.amax(1)
    array = values.numpy()
    columns = np.argpartition(array, count - 1, axis=1)[:, :count]
    largest = np.take_along_axis(array, columns[:, -1:], 1)[:, 0]
    return torch.from_numpy(columns), torch.from_numpy(largest)

