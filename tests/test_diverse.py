"""select_diverse: furthest-point sampling against a slow reference, balanced counts, typical, errors."""
import numpy as np
import pytest

from plsd_widget.analysis.diverse import balanced_counts, select_diverse


def fps_min_dists(X, sel):
    """For each pick after the first: (its distance to the earlier picks, the largest such distance)."""
    X = X.astype(np.float64)
    out = []
    for i in range(1, len(sel)):
        d = np.sqrt(((X[:, None, :] - X[None, sel[:i], :]) ** 2).sum(-1)).min(1)
        out.append((d[sel[i]], d.max()))
    return np.array(out)


def test_fps_properties(rng):
    X = rng.normal(size=(500, 6)).astype(np.float32)
    sel = select_diverse(X, 40, start=17)
    assert sel.dtype == np.int64 and sel.shape == (40,)
    assert sel[0] == 17 and len(set(sel)) == 40
    got, best = fps_min_dists(X, sel).T
    np.testing.assert_allclose(got, best, rtol=1e-4, atol=1e-4)
    assert np.all(np.diff(got) <= 1e-4)  # min distances never grow


def test_fps_torch_path_picks_as_the_cpu_kernel(rng):
    """The torch loop (used on CUDA / MPS) and the numba kernel (CPU) pick the same points."""
    import torch
    from tqdm.auto import tqdm

    from plsd_widget.analysis.diverse import _fps, _fps_cpu

    X = rng.normal(size=(3000, 16)).astype(np.float32)
    with tqdm(disable=True) as bar:
        np.testing.assert_array_equal(_fps(torch.from_numpy(X), 200, 5, bar), _fps_cpu(X, 200, 5, bar))


def test_fps_on_digits_and_duplicates(digits):
    X = digits[0].images.reshape(len(digits[0].images), -1)
    X = np.vstack([X, X[:50]])  # exact duplicates
    sel = select_diverse(X, len(X), random_state=3)
    assert sorted(sel) == list(range(len(X)))  # all distinct even when only duplicates are left


def test_start_none_is_seeded(rng):
    X = rng.normal(size=(200, 3)).astype(np.float32)
    a = select_diverse(X, 10, random_state=5)
    np.testing.assert_array_equal(a, select_diverse(X, 10, random_state=5))


def test_balanced_counts():
    np.testing.assert_array_equal(balanced_counts([5, 100, 50, 50], 100), [5, 32, 32, 31])
    np.testing.assert_array_equal(balanced_counts([5, 100, 50, 50], 101), [5, 32, 32, 32])
    np.testing.assert_array_equal(balanced_counts([3, 3, 10], 16), [3, 3, 10])
    np.testing.assert_array_equal(balanced_counts([4, 4, 4], 7), [3, 2, 2])


@pytest.mark.parametrize("method", ["fps", "typical"])
def test_balanced_selection(rng, method):
    labels = np.repeat([0, 1, 2], [10, 200, 300])
    X = rng.normal(size=(510, 4)).astype(np.float32) + labels[:, None]
    sel = select_diverse(X, 61, labels=labels, balanced=True, method=method)
    assert len(set(sel)) == 61
    np.testing.assert_array_equal(np.bincount(labels[sel]), [10, 25, 26])
    assert len(set(labels[sel[:3]])) == 3  # classes take turns


def test_typical_distinct_and_dense(rng):
    centres = np.array([[0, 0], [10, 0], [0, 10]], float)
    X = (centres[rng.integers(0, 3, 600)] + rng.normal(size=(600, 2))).astype(np.float32)
    X = np.vstack([X, [[50, 50], [-40, 30]]]).astype(np.float32)  # outliers FPS would take
    sel = select_diverse(X, 3, method="typical")
    assert len(set(sel)) == 3
    assert np.all(np.linalg.norm(X[sel][:, None] - centres[None], axis=2).min(1) < 1.5)
    assert not set(sel) & {600, 601}
    fps = select_diverse(X, 3, start=0)
    assert set(fps) & {600, 601}


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(n=0), ValueError, "1..50"),
        (dict(n=51), ValueError, "1..50"),
        (dict(n=2.5), ValueError, "integer"),
        (dict(n=3, balanced=True), ValueError, "needs labels"),
        (dict(n=3, labels=np.zeros(7, int)), ValueError, "7 labels"),
        (dict(n=3, method="random"), ValueError, "method"),
        (dict(n=3, start=50), ValueError, "start"),
        (dict(n=3, labels=np.full(50, 0.5)), TypeError, "integer"),
    ],
)
def test_errors(rng, kwargs, exc, match):
    X = rng.normal(size=(50, 2))
    with pytest.raises(exc, match=match):
        select_diverse(X, **kwargs)
