"""The synthetic shortcut (corner mark) and the strays edit."""

import numpy as np
import pytest

from plsd_widget.datasets import ImageSplit
from plsd_widget.shortcut import add_shortcut, gather_strays, mark_size, shortcut_test_sets, stamp


def _split(n_per_class=50, n_classes=3, size=28):
    labels = np.repeat(np.arange(n_classes), n_per_class)
    images = np.zeros((len(labels), 1, size, size), np.float32)
    images[:, :, 10:18, 10:18] = 0.5
    return ImageSplit(images, labels, [str(c) for c in range(n_classes)])


def test_stamp_sets_and_clears_the_corner_only():
    images = _split(2).images
    images[:, :, 1:3, 1:3] = 0.7  # something already in the corner is overwritten either way
    marked = np.arange(len(images)) % 2 == 0
    out = stamp(images, marked)
    s = mark_size(28)
    assert s == 4
    assert (out[marked, :, 1:1 + s, 1:1 + s] == images.max()).all()
    assert (out[~marked, :, 1:1 + s, 1:1 + s] == 0).all()
    np.testing.assert_array_equal(out[:, :, 10:18, 10:18], images[:, :, 10:18, 10:18])
    assert images[0, 0, 1, 1] == np.float32(0.7)  # the input is not changed


def test_add_shortcut_marks_with_the_given_probabilities():
    split = _split(2000)
    marked_split, marked = add_shortcut(split, [1], p_marked=0.9, p_other=0.1, random_state=0)
    rates = [marked[split.labels == c].mean() for c in range(3)]
    assert rates[1] == pytest.approx(0.9, abs=0.03) and rates[0] == pytest.approx(0.1, abs=0.03)
    assert (marked_split.images[marked, 0, 1, 1] > 0).all() and (marked_split.images[~marked, 0, 1, 1] == 0).all()
    np.testing.assert_array_equal(marked_split.labels, split.labels)
    again, marked_again = add_shortcut(split, [1], p_marked=0.9, p_other=0.1, random_state=0)
    np.testing.assert_array_equal(marked, marked_again)


def test_shortcut_test_sets_shift_the_mark_off_the_class():
    tests = shortcut_test_sets(_split(2000), [2], random_state=1)
    _, shifted = tests["shifted"]
    _, unshifted = tests["unshifted"]
    labels = _split(2000).labels
    assert [shifted[labels == c].mean() for c in range(3)] == pytest.approx([0.5] * 3, abs=0.04)
    assert unshifted[labels == 2].mean() > 0.9 > 0.1 > unshifted[labels == 0].mean()


def test_bad_shortcut_setups_say_how_to_fix_them():
    split = _split(5)
    with pytest.raises(ValueError, match=r"p_marked must be in \[0.0, 1.0\]"):
        add_shortcut(split, [1], p_marked=1.2)
    with pytest.raises(ValueError, match=r"p_other must be in \[0.0, 1.0\]"):
        add_shortcut(split, [1], p_other=-0.1)
    with pytest.raises(ValueError, match=r"class\(es\) \[7\] are not in the data"):
        add_shortcut(split, [1, 7])
    lacking = ImageSplit(split.images[split.labels != 2], split.labels[split.labels != 2], split.class_names)
    with pytest.raises(ValueError, match=r"no images of class\(es\) \[2\]"):
        shortcut_test_sets(lacking, [1])
    with pytest.raises(ValueError, match="one flag per image"):
        stamp(split.images, [True])


def test_gather_strays_pulls_a_split_off_part_into_its_class():
    rng = np.random.default_rng(0)
    core_a = rng.normal([0, 0], 1.0, (200, 2))
    core_b = rng.normal([20, 0], 1.0, (200, 2))
    strays_a = rng.normal([10, 10], 0.3, (8, 2))  # a few points of class 0 far from their class
    Y = np.vstack([core_a, strays_a, core_b])
    labels = np.r_[np.zeros(208, int), np.ones(200, int)]
    idx, targets = gather_strays(Y, labels, classes=[0], kappa=1.0)
    assert set(range(200, 208)) <= set(idx.tolist()) and (labels[idx] == 0).all()
    moved = np.isin(idx, np.arange(200, 208))
    assert np.linalg.norm(targets[moved].mean(0) - core_a.mean(0)) < 0.5
    half, half_targets = gather_strays(Y, labels, classes=[0], kappa=0.5)
    np.testing.assert_array_equal(half, idx)
    np.testing.assert_allclose(half_targets, Y[idx] + 0.5 * (targets - Y[idx]), atol=1e-4)
    with pytest.raises(ValueError, match="kappa must be in"):
        gather_strays(Y, labels, kappa=2)
    with pytest.raises(ValueError, match=r"class\(es\) \[5\] are not in the labels"):
        gather_strays(Y, labels, classes=[5])


def test_randomise_mark_sets_or_clears_it_on_about_half():
    import torch

    from plsd_widget.shortcut import randomise_mark

    x = torch.from_numpy(stamp(_split(200).images, np.ones(600, bool)))
    out = randomise_mark(0)(x)
    on = out[:, 0, 1, 1] == 1.0
    assert 0.4 < on.float().mean() < 0.6 and (out[~on, 0, 1:5, 1:5] == 0).all()
    torch.testing.assert_close(out[:, :, 10:18, 10:18], x[:, :, 10:18, 10:18])
    assert torch.equal(randomise_mark(0)(x), out)  # seeded
