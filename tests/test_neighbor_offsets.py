"""Tests of borrowing training neighbours' offsets (plsd_widget.embedding.neighbor_offsets)."""

import numpy as np
import pytest

from plsd_widget.embedding.neighbor_offsets import OffsetLookup


def reference(n=200, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    Y = rng.normal(size=(n, 2)).astype(np.float32)
    offsets = rng.normal(size=(n, 2)).astype(np.float32)
    return X, Y, offsets


def test_a_training_point_borrows_its_own_offset():
    X, Y, offsets = reference()
    np.testing.assert_allclose(OffsetLookup(X, Y, offsets)(X, Y), Y + offsets, rtol=0, atol=1e-6)


def test_the_nearest_in_input_space_wins_among_the_candidates():
    X, Y, offsets = reference()
    # a query placed by the network on point 0 but lying in input space at point 1, whose
    # network position is among the 16 nearest to point 0's
    distance = np.linalg.norm(Y - Y[0], axis=1)
    near = np.argsort(distance)[5]
    lookup = OffsetLookup(X, Y, offsets)
    assert lookup.nearest(X[[near]], Y[[0]])[0] == near
    np.testing.assert_allclose(lookup(X[[near]], Y[[0]]), Y[[0]] + offsets[[near]], rtol=0, atol=1e-6)
    # outside the candidates it is not found, however near in input space
    far = np.argsort(distance)[100]
    assert lookup.nearest(X[[far]], Y[[0]])[0] != far


def test_the_nearest_is_exact_when_every_point_is_a_candidate():
    X, Y, offsets = reference(n=12)
    queries = np.random.default_rng(1).normal(size=(30, 5)).astype(np.float32)
    positions = np.random.default_rng(2).normal(size=(30, 2)).astype(np.float32)
    lookup = OffsetLookup(X, Y, offsets)  # 16 candidates, 12 points: all of them
    exact = ((queries[:, None] - X[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(lookup.nearest(queries, positions), exact)


def test_rows_must_match():
    X, Y, offsets = reference()
    with pytest.raises(ValueError, match="one row per training point"):
        OffsetLookup(X, Y[:-1], offsets)
