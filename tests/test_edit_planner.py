"""The edit planner (demo and paper table): destinations in empty space, on synthetic blobs."""

import numpy as np

from plsd_widget.edit_planner import plan_edits


def _blobs(rng, centres, n=60, sd=1.0):
    Y = np.concatenate([rng.normal(c, sd, size=(n, 2)) for c in centres]).astype(np.float32)
    return Y, np.repeat(np.arange(len(centres)), n)


def test_planned_targets_land_away_from_other_classes(rng):
    # classes 0..3 on a ring, 4 and 5 overlapping in the middle of it: the ones to separate
    Y, y = _blobs(rng, [(-10, 0), (10, 0), (0, -10), (0, 10), (0, 0), (0.5, 0.5)])
    log, desc = plan_edits(Y, y, classes=(4, 5), kappa=0.5)
    targets = log.targets()
    edited = np.isfinite(targets).all(1)
    np.testing.assert_array_equal(edited, np.isin(y, [4, 5]))
    assert all(d["clearance_ok"] for d in desc) and [d["class"] for d in desc] == [4, 5]
    others = Y[~edited]
    margin = 0.05 * np.ptp(Y, axis=0).max()
    for c in (4, 5):
        t = targets[y == c]
        clearance = np.sqrt(((t[:, None] - others[None]) ** 2).sum(-1)).min(axis=1)
        assert (clearance >= margin).mean() >= 0.9  # no target on top of another class (90 % radius cleared)
    for c, other in ((4, 5), (5, 4)):  # nor on the other edited class, which stays put until fine-tuning
        clearance = np.sqrt(((targets[y == c][:, None] - Y[y == other][None]) ** 2).sum(-1)).min(axis=1)
        assert (clearance >= margin).mean() >= 0.9
    c4, c5 = targets[y == 4].mean(0), targets[y == 5].mean(0)
    assert np.linalg.norm(c4 - c5) > 3  # and the two confused classes went to different places
    spread = np.linalg.norm(targets[y == 4] - c4, axis=1).mean()
    assert spread < 0.6 * np.linalg.norm(Y[y == 4] - Y[y == 4].mean(0), axis=1).mean()  # contracted


def test_a_class_on_top_of_another_moves_off_it(rng):
    Y, y = _blobs(rng, [(-10, 0), (10, 0), (10.5, 0.5)])
    targets = plan_edits(Y, y, classes=(2,), kappa=0.5)[0].targets()
    t = targets[y == 2]
    clearance = np.sqrt(((t[:, None] - Y[y != 2][None]) ** 2).sum(-1)).min(axis=1)
    assert (clearance >= 0.05 * np.ptp(Y, axis=0).max()).mean() >= 0.9  # the planner clears the 90 % radius
    assert np.linalg.norm(t.mean(0) - Y[y == 2].mean(0)) > 3


def test_contract_only_and_hold_control(rng):
    Y, y = _blobs(rng, [(-10, 0), (10, 0), (0, 0)])
    log, desc = plan_edits(Y, y, classes=(2,), kappa=0.5, shift=False)
    np.testing.assert_allclose(log.targets()[y == 2].mean(0), Y[y == 2].mean(0), atol=1e-4)
    assert desc[0]["delta"] == [0.0, 0.0]
