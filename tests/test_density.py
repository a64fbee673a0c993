import numpy as np
import pytest

from plsd_widget.contours import density_contours, marching_squares, pack_contours, unpack_contours
from plsd_widget.density import grid_densities, mass_level


def _blob(rng, n, centre=(0.0, 0.0), sd=1.0):
    return rng.normal(size=(n, 2)) * sd + np.asarray(centre)


def _signed_area(line):
    x, y = line[:, 0].astype(np.float64), line[:, 1].astype(np.float64)
    return 0.5 * np.sum(x[:-1] * y[1:] - x[1:] * y[:-1])


def test_gaussian_blob_gives_one_closed_contour_at_the_analytic_radius(rng):
    n, mass = 20000, 0.9
    Y = _blob(rng, n)
    (lines,) = density_contours(Y, np.zeros(n, int), level=mass)
    assert len(lines) == 1
    line = lines[0]
    assert line.dtype == np.float32 and line.shape[1] == 2
    np.testing.assert_array_equal(line[0], line[-1])  # closed
    assert _signed_area(line) > 0  # counter-clockwise: high side on the left
    h = n ** (-1 / 6)  # Scott's bandwidth for sd=1
    expected = np.sqrt(1 + h**2) * np.sqrt(-2 * np.log(1 - mass))
    r = np.linalg.norm(line, axis=1)
    assert abs(np.median(r) - expected) < 0.03 * expected
    assert r.std() < 0.05 * expected


def test_paper_level_is_the_density_1_over_n_of_every_point(rng):
    """Two Gaussian classes (sd 10, as t-SNE units) of 1,500 and 500 points, N = 2,000:
    a class's density integrates to 1, so each 1/N contour is the circle where
    exp(-r²/2σ²)/(2πσ²) = 1/N, whatever the class's own count."""
    sd, h = 10.0, 3.0
    Y = np.vstack([_blob(rng, 1500, sd=sd), _blob(rng, 500, (80, 0), sd=sd)])
    labels = np.r_[np.zeros(1500, int), np.ones(500, int)]
    var = sd**2 + h**2
    expected = np.sqrt(2 * var * np.log(len(Y) / (2 * np.pi * var)))  # 15.3: inside the blob, not its edge
    contours = density_contours(Y, labels, level="1/N", bandwidth=h)
    for lines, centre, tolerance in zip(contours, ((0, 0), (80, 0)), (0.03, 0.06)):
        line = max(lines, key=len)
        r = np.linalg.norm(line - np.asarray(centre, np.float32), axis=1)
        assert abs(np.median(r) - expected) < tolerance * expected
    mass = density_contours(Y, labels, level=0.9, bandwidth=h)
    assert np.linalg.norm(mass[0][0], axis=1).mean() > 1.2 * expected  # 0.9 of the mass: r = 22.0


def test_paper_level_moves_out_with_n_and_vanishes_for_a_spread_class(rng):
    Y = _blob(rng, 2000, sd=10.0)
    labels = np.zeros(2000, int)
    (few,) = density_contours(Y[:500], labels[:500], level="1/N", bandwidth=1.0)
    (many,) = density_contours(Y, labels, level="1 / n", bandwidth=1.0)
    assert np.linalg.norm(many[0], axis=1).mean() > np.linalg.norm(few[0], axis=1).mean() + 3
    (spread,) = density_contours(Y * 10, labels, level="1/N", bandwidth=1.0)  # 2πσ² = 63,000 > N
    assert spread == []


def test_density_sums_to_one_per_class_and_reports_counts(rng):
    Y = np.vstack([_blob(rng, 500), _blob(rng, 300, (5, 5))])
    labels = np.r_[np.zeros(500, int), np.ones(300, int)]
    grid = grid_densities(Y, labels, grid_size=64)
    assert grid.density.shape == (2, 64, 64)
    np.testing.assert_allclose(grid.density.sum(axis=(1, 2)), 1.0, rtol=1e-6)
    assert grid.counts.tolist() == [500, 300]
    assert (grid.density >= 0).all()


def test_two_far_blobs_of_one_class_give_two_contours(rng):
    Y = np.vstack([_blob(rng, 3000, (-10, 0)), _blob(rng, 3000, (10, 0))])
    (lines,) = density_contours(Y, np.zeros(len(Y), int), bandwidth=0.5, grid_size=128)
    assert len(lines) == 2
    centres = sorted(float(line[:, 0].mean()) for line in lines)
    assert centres[0] == pytest.approx(-10, abs=0.3) and centres[1] == pytest.approx(10, abs=0.3)


def test_classes_get_their_own_contours(rng):
    Y = np.vstack([_blob(rng, 2000, (-6, 0)), _blob(rng, 2000, (6, 0))])
    labels = np.r_[np.zeros(2000, int), np.ones(2000, int)]
    left, right = density_contours(Y, labels, grid_size=128)
    assert len(left) == 1 and len(right) == 1
    assert left[0][:, 0].max() < 0 < right[0][:, 0].min()


def test_train_and_test_sizes_give_similar_contours(rng):
    """The level is size-independent: a 5x smaller subsample draws nearly the same line."""
    n = 30000
    Y = np.vstack([_blob(rng, n, (0, 0), 1.0), _blob(rng, n, (6, 1), 2.0)])
    labels = np.r_[np.zeros(n, int), np.ones(n, int)]
    sub = rng.choice(len(Y), len(Y) // 5, replace=False)
    extent = (-8.0, 16.0, -10.0, 10.0)
    full = density_contours(Y, labels, extent=extent, grid_size=128)
    small = density_contours(Y[sub], labels[sub], extent=extent, grid_size=128)
    for c, (a, b) in enumerate(zip(full, small)):
        assert len(a) == len(b) == 1
        area_a, area_b = _signed_area(a[0]), _signed_area(b[0])
        assert abs(area_a - area_b) < 0.08 * area_a, (c, area_a, area_b)
        ra = np.linalg.norm(a[0] - a[0].mean(0), axis=1).mean()
        rb = np.linalg.norm(b[0] - b[0].mean(0), axis=1).mean()
        assert abs(ra - rb) < 0.04 * ra


def test_mass_level_encloses_the_requested_mass(rng):
    d = rng.random((32, 32))
    d /= d.sum()
    t = mass_level(d, 0.7)
    assert d[d >= t].sum() >= 0.7
    assert d[d > t].sum() < 0.7


def test_marching_squares_on_a_cone_gives_a_circle():
    yy, xx = np.mgrid[0:41, 0:41]
    field = -np.hypot(xx - 20, yy - 20)
    (line,) = marching_squares(field, -10.0)
    r = np.hypot(line[:, 0] - 20, line[:, 1] - 20)
    np.testing.assert_allclose(r, 10.0, atol=0.1)
    assert marching_squares(field, 1.0) == []


def test_marching_squares_closes_lines_at_the_border():
    field = np.ones((10, 10))
    (line,) = marching_squares(field, 0.5)
    np.testing.assert_array_equal(line[0], line[-1])
    assert line.min() >= -1 and line.max() <= 10


def test_pack_round_trip(rng):
    Y = np.vstack([_blob(rng, 1000, (-10, 0)), _blob(rng, 1000, (10, 0)), _blob(rng, 800, (0, 8))])
    labels = np.r_[np.zeros(2000, int), np.ones(800, int)]
    contours = density_contours(Y, labels, bandwidth=0.5, grid_size=96)
    vertices, offsets, classes = pack_contours(contours)
    assert vertices.dtype == np.float32 and vertices.shape[1] == 2
    assert offsets.dtype == np.uint32 and offsets[0] == 0 and offsets[-1] == len(vertices)
    assert classes.dtype == np.uint16 and classes.tolist() == [0, 0, 1]
    back = unpack_contours(vertices, offsets, classes, 2)
    assert [len(c) for c in back] == [len(c) for c in contours]
    for a_cls, b_cls in zip(contours, back):
        for a, b in zip(a_cls, b_cls):
            np.testing.assert_array_equal(a, b)


def test_pack_empty():
    vertices, offsets, classes = pack_contours([[], []])
    assert vertices.shape == (0, 2) and offsets.tolist() == [0] and classes.size == 0
    assert unpack_contours(vertices, offsets, classes, 2) == [[], []]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"Y": [[np.nan, 0.0], [1.0, 1.0]]}, "NaN"),
        ({"Y": np.zeros((5, 3))}, r"shape \(n_samples, 2\)"),
        ({"labels": [0, 1]}, "labels"),
        ({"labels": [0, 0, 2, 2, 0]}, r"class\(es\) \[1\] have no points"),
        ({"n_classes": 2, "labels": [0, 1, 2, 0, 1]}, "raise n_classes"),
        ({"grid_size": 4}, "grid_size must be an integer >= 8"),
        ({"bandwidth": "silverman-ish"}, "bandwidth"),
        ({"bandwidth": -1.0}, "bandwidth"),
        ({"level": 1.0}, "strictly between 0 and 1.*'1/N'"),
        ({"level": "1/n_c"}, "'1/N'"),
        ({"extent": (1.0, 0.0, 0.0, 1.0)}, "extent"),
    ],
)
def test_bad_input_raises_with_the_fix(rng, kwargs, match):
    args = {"Y": rng.normal(size=(5, 2)), "labels": [0, 1, 0, 1, 0]}
    args.update(kwargs)
    Y, labels = args.pop("Y"), args.pop("labels")
    with pytest.raises(ValueError, match=match):
        density_contours(Y, labels, **args)


def test_unpack_rejects_mismatched_offsets():
    with pytest.raises(ValueError, match="pack_contours"):
        unpack_contours(np.zeros((4, 2)), [0, 2], [0, 0], 1)


def test_crowded_targets_finds_edits_landing_in_another_class():
    from plsd_widget.density import crowded_targets, grid_densities

    rng = np.random.default_rng(0)
    Y = np.vstack([rng.normal((0, 0), 1, (300, 2)), rng.normal((10, 0), 1, (300, 2)),
                   rng.normal((0, 10), 1, (300, 2))])
    labels = np.repeat([0, 1, 2], 300)
    targets = np.full_like(Y, np.nan)
    targets[:50] = Y[:50] + (10, 0)  # 50 points of class 0 dropped into class 1
    targets[300:320] = Y[300:320] + (0, 25)  # 20 points of class 1 sent to empty space
    grid = grid_densities(Y, labels, grid_size=128)
    counts = crowded_targets(grid, labels, targets)
    assert counts[0, 1] >= 40 and counts[0, 2] == 0
    assert counts[1].sum() == 0 and np.trace(counts) == 0
    assert not crowded_targets(grid, labels, np.full_like(Y, np.nan)).any()
    with pytest.raises(ValueError, match="900 labels but the data has 10 samples"):
        crowded_targets(grid, labels, targets[:10])


def test_crowded_points_counts_each_point_once():
    from plsd_widget.density import crowded_points, crowded_targets, grid_densities

    rng = np.random.default_rng(1)
    Y = np.vstack([rng.normal((0, 0), 1, (300, 2)), rng.normal((10, 0), 2, (300, 2)),
                   rng.normal((10, 0.5), 2, (300, 2))])  # classes 1 and 2 overlap
    labels = np.repeat([0, 1, 2], 300)
    targets = np.full_like(Y, np.nan)
    targets[:40] = (10.0, 0.2)  # into both 1 and 2
    targets[40:60] = (0.0, 30.0)  # empty space
    grid = grid_densities(Y, labels, grid_size=128)
    mask = crowded_points(grid, labels, targets)
    assert mask.dtype == bool and mask.shape == (900,)
    assert mask[:40].all() and not mask[40:].any()
    assert crowded_targets(grid, labels, targets).sum() == 80  # the pair counts double
