"""What PLSD fixed and broke: the sets on a constructed case, and the session's errors that say what to call."""

from types import SimpleNamespace

import numpy as np
import pytest

from plsd_widget.fixed_by import fixed_and_broken, session_fixed_by


def _case():
    labels = np.array([0, 1, 2, 0, 1, 2])
    baseline = np.array([0, 2, 2, 1, 1, 0])  # right: 0, 2, 4
    plsd = np.array([0, 1, 1, 0, 1, 1])  # right: 0, 1, 3, 4
    base_pos = np.arange(12, dtype=np.float32).reshape(6, 2)
    return labels, baseline, plsd, base_pos, base_pos + 100


def test_fixed_are_plsd_right_and_baseline_wrong_and_broken_the_reverse():
    labels, baseline, plsd, base_pos, plsd_pos = _case()
    result = fixed_and_broken(labels, baseline, plsd, base_pos, plsd_pos)
    assert result.split == "test"
    assert result.fixed.indices.tolist() == [1, 3]  # both right (0, 4) and both wrong (5) are in neither
    assert result.broken.indices.tolist() == [2]
    np.testing.assert_array_equal(result.fixed.labels, [1, 0])
    np.testing.assert_array_equal(result.fixed.baseline_predictions, [2, 1])
    np.testing.assert_array_equal(result.fixed.plsd_predictions, [1, 0])
    np.testing.assert_array_equal(result.broken.baseline_positions, [[4, 5]])
    np.testing.assert_array_equal(result.broken.plsd_positions, [[104, 105]])
    assert repr(result) == "FixedAndBroken(split='test': 2 fixed by PLSD, 1 broken by PLSD)"


def test_shapes_and_split_are_checked():
    labels, baseline, plsd, base_pos, plsd_pos = _case()
    with pytest.raises(ValueError, match=r"plsd_predictions must have shape \(6,\)"):
        fixed_and_broken(labels, baseline, plsd[:5], base_pos, plsd_pos)
    with pytest.raises(ValueError, match=r"baseline_positions must have shape \(6, 2\)"):
        fixed_and_broken(labels, baseline, plsd, base_pos[:, :1], plsd_pos)
    with pytest.raises(ValueError, match="split must be one of"):
        fixed_and_broken(labels, baseline, plsd, base_pos, plsd_pos, split="val")


def _fake_session(*, epochs=1, baseline=True, test=True):
    labels, baseline_pred, plsd_pred, base_pos, plsd_pos = _case()
    snap = SimpleNamespace(epoch=epochs, predictions=plsd_pred, positions=plsd_pos, test_predictions=plsd_pred,
                           test_positions=plsd_pos)
    base = SimpleNamespace(epoch=epochs, predictions=baseline_pred, positions=base_pos,
                           test_predictions=baseline_pred, test_positions=base_pos)
    return SimpleNamespace(checkpoints=[None] * (epochs + 1), baseline_snapshot=base if baseline else None,
                           snapshot=snap, y=labels, y_test=labels if test else None)


def test_a_session_without_what_is_needed_is_told_what_to_call():
    with pytest.raises(ValueError, match=r"run session.finetune\(...\), then session.run_baseline\(\)"):
        session_fixed_by(_fake_session(epochs=0))
    with pytest.raises(ValueError, match=r"call session.run_baseline\(\)"):
        session_fixed_by(_fake_session(baseline=False))
    with pytest.raises(ValueError, match="pass x_test and y_test to Session, or ask for split='train'"):
        session_fixed_by(_fake_session(test=False))
    result = session_fixed_by(_fake_session(test=False), "train")  # clearly labelled: the training split
    assert result.split == "train" and result.fixed.indices.tolist() == [1, 3]


def test_session_fixed_by_plsd_reads_the_baseline_and_current_models(session):
    with pytest.raises(ValueError, match="run session.finetune"):
        session.fixed_by_plsd()
    session.shift("3", (2.0, 0.0))
    session.finetune(epochs=1, lam=0.5, block=True)
    with pytest.raises(ValueError, match=r"call session.run_baseline\(\)"):
        session.fixed_by_plsd()
    session.run_baseline(block=True)
    result = session.fixed_by_plsd()
    base, plsd = session.baseline_snapshot, session.snapshot
    right = (plsd.test_predictions == session.y_test) & (base.test_predictions != session.y_test)
    assert result.fixed.indices.tolist() == np.flatnonzero(right).tolist()
    wrong = (plsd.test_predictions != session.y_test) & (base.test_predictions == session.y_test)
    assert result.broken.indices.tolist() == np.flatnonzero(wrong).tolist()
    np.testing.assert_array_equal(result.fixed.plsd_positions, session.test_positions[result.fixed.indices])
    np.testing.assert_array_equal(result.fixed.baseline_positions, base.test_positions[result.fixed.indices])
    assert session.fixed_by_plsd("train").split == "train"
    session.rollback(0)  # the baseline no longer has as many epochs as PLSD
    assert session.baseline_snapshot is None
