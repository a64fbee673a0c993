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
        ("move", {"targets": [[np.nan, 1.0]]}, [0], "finite"),
        ("move", {"targets": [[1.0, np.inf], [0.0, 0.0]]}, [0, 1], "finite"),
        ("contract", {"kappa": "half"}, [0], "numeric"),
        ("contract", {"kappa": None}, [0], "finite"),
        ("shift", {"delta": (1, 1)}, [0.5], "integers"),
        ("shift", {"delta": (1, 1)}, [[0, 1]], "1-D"),
    ],
)
def test_bad_edits_raise(kind, kwargs, indices, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make_edit(kind, indices, 20, **kwargs)


def test_bad_edit_leaves_log_unchanged(log):
    log.add(make_edit("shift", [0], 20, delta=(1, 1)))
    before = log.to_json()
    with pytest.raises(ValueError):
        log.add(make_edit("contract", [0, 99], 20, kappa=0.5))
    assert log.to_json() == before and log.can_undo and not log.can_redo


def test_session_edits_of_an_empty_class_or_unknown_names_apply_nothing(digits, trained_cnn, fitted_embedding):
    """A class with a name but no points in the session (here '9'), and names the session does not know."""
    from plsd_widget.session import Session

    train, _ = digits
    keep = train.labels != 9
    session = Session(trained_cnn, "latent", train.images[keep], train.labels[keep],
                      class_names=train.class_names, embedding=fitted_embedding)
    session.shift("3", (1.0, 0.0))
    before = session.edits.to_json()
    for edit in (lambda: session.shift("9", (1.0, 1.0)), lambda: session.contract(["3", "9"], 0.5),
                 lambda: session.shift(["3", "cat"], (1.0, 1.0)), lambda: session.shift(3, (1.0, 1.0)),
                 lambda: session.move_points(np.array([], dtype=int), np.zeros((0, 2)))):
        with pytest.raises((ValueError, TypeError), match=r"have no points|unknown class|indices must be 1-D|no points"):
            edit()
    with pytest.raises(ValueError, match=r"class\(es\) \['9'\] have no points"):
        session.shift("9", (1.0, 1.0))
    assert session.edits.to_json() == before
