import numpy as np
import pytest

from plsd_widget.edits import EditLog, make_edit


@pytest.fixture
def log(rng):
    return EditLog(rng.normal(size=(20, 2)).astype(np.float32))


def test_untouched_points_are_nan(log):
    log.add(make_edit("shift", [1, 2], 20, delta=(1.0, -2.0)))
    t = log.targets()
    assert np.isfinite(t[[1, 2]]).all() and np.isnan(t[[0, 3]]).all()
    np.testing.assert_allclose(t[[1, 2]], log.positions[[1, 2]] + [1.0, -2.0], rtol=1e-6)


def test_contract_halves_distances_and_expands_for_negative_kappa(log):
    idx = np.arange(5)
    pts = log.positions[idx]
    c = pts.mean(axis=0)
    log.add(make_edit("contract", idx, 20, kappa=0.5))
    np.testing.assert_allclose(log.targets()[idx] - c, 0.5 * (pts - c), rtol=1e-5, atol=1e-6)
    log.reset()
    log.add(make_edit("contract", idx, 20, kappa=-1.0))
    np.testing.assert_allclose(log.targets()[idx] - c, 2.0 * (pts - c), rtol=1e-5, atol=1e-6)


def test_edits_compose_in_order(log):
    log.add(make_edit("shift", [0, 1], 20, delta=(10, 0)))
    log.add(make_edit("shift", [1], 20, delta=(0, 5)))
    t = log.targets()
    np.testing.assert_allclose(t[1], log.positions[1] + [10, 5], rtol=1e-6)
    np.testing.assert_allclose(t[0], log.positions[0] + [10, 0], rtol=1e-6)


def test_move_keeps_pairing_of_unsorted_indices(log):
    log.add(make_edit("move", [5, 2], 20, targets=[[1, 1], [2, 2]]))
    t = log.targets()
    np.testing.assert_array_equal(t[5], [1, 1])
    np.testing.assert_array_equal(t[2], [2, 2])


def test_undo_redo(log):
    log.add(make_edit("shift", [0], 20, delta=(1, 1)))
    log.add(make_edit("shift", [1], 20, delta=(1, 1)))
    assert log.undo() and np.isnan(log.targets()[1]).all()
    assert log.redo() and np.isfinite(log.targets()[1]).all()
    assert not log.redo()
    log.undo()
    log.add(make_edit("shift", [3], 20, delta=(1, 1)))
    assert not log.redo()  # a new edit clears the redo stack


def test_json_round_trip_and_fingerprint(log, rng):
    log.add(make_edit("shift", [0, 4], 20, delta=(1, 2), label="a"))
    log.add(make_edit("contract", [1, 2, 3], 20, kappa=0.3))
    log.add(make_edit("move", [7], 20, targets=[[3, 4]]))
    back = EditLog.from_json(log.to_json(), log.positions)
    np.testing.assert_array_equal(back.targets(), log.targets())
    with pytest.raises(ValueError, match="different embedding"):
        EditLog.from_json(log.to_json(), rng.normal(size=(20, 2)))


@pytest.mark.parametrize(
    "kind, kwargs, indices, match",
    [
        ("shift", {"delta": (np.nan, 1)}, [0], "finite"),
        ("shift", {"delta": (1, 2, 3)}, [0], "shape"),
        ("contract", {"kappa": np.inf}, [0], "finite"),
        ("shift", {"delta": (1, 1)}, [25], r"in \[0, 19\]"),
        ("shift", {"delta": (1, 1)}, [-1], r"in \[0, 19\]"),
        ("shift", {"delta": (1, 1)}, [], "no points"),
        ("move", {"targets": [[1, 1]]}, [0, 1], "shape"),
        ("move", {"targets": [[1, 1], [2, 2]]}, [3, 3], "repeat"),
        ("twist", {}, [0], "unknown edit kind"),
    ],
)
def test_bad_edits_raise(kind, kwargs, indices, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make_edit(kind, indices, 20, **kwargs)
