"""Bad input and faults: each names the error and leaves edits, targets and weights as they were."""

import numpy as np
import pytest
import torch

from plsd_widget.models import SmallCNN


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("call, message", [
    (lambda s: s.shift("3", (float("nan"), 1.0)), "delta must be finite"),
    (lambda s: s.shift("3", (float("inf"), 1.0)), "delta must be finite"),
    (lambda s: s.shift("3", ("a", 1.0)), "delta must be numeric"),
    (lambda s: s.shift("3", (1.0, 2.0, 3.0)), r"delta must have shape \(2,\)"),
    (lambda s: s.contract("3", float("nan")), "kappa must be finite"),
    (lambda s: s.contract("3", "half"), "kappa must be numeric"),
    (lambda s: s.shift("no such class", (1, 1)), "unknown class name"),
    (lambda s: s.shift(np.array([], dtype=int), (1, 1)), "selects no points"),
    (lambda s: s.shift(np.array([-1, 2]), (1, 1)), r"indices must be in \[0, "),
    (lambda s: s.shift(np.array([0, 10**6]), (1, 1)), r"indices must be in \[0, "),
    (lambda s: s.shift(np.array([0.5, 2.0]), (1, 1)), "indices must be integers"),
    (lambda s: s.move_points(np.array([0, 1]), np.zeros((3, 2))), r"targets must have shape \(2, 2\)"),
    (lambda s: s.move_points(np.array([0, 1]), np.full((2, 2), np.nan)), "targets must be finite"),
])
def test_bad_edits_raise_and_change_nothing(session, call, message):
    session.shift("1", (1.0, 1.0))
    log_length, targets = len(session.edits.edits), session.targets.copy()
    with pytest.raises((ValueError, TypeError), match=message):
        call(session)
    assert len(session.edits.edits) == log_length
    np.testing.assert_array_equal(session.targets, targets)


@pytest.mark.parametrize("options, message", [
    ({"lam": float("nan")}, "lam must be in"),
    ({"lam": -0.1}, "lam must be in"),
    ({"lr": 0.0}, "lr must be a positive number"),
    ({"lr": float("nan")}, "lr must be a positive number"),
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"epochs": -1}, "epochs must be a positive integer"),
    ({"epochs": 1.5}, "epochs must be a positive integer"),
    ({"anchor": -1.0}, "anchor must be in"),
    ({"edit_weight": float("nan")}, "edit_weight must be in"),
])
def test_bad_fine_tuning_options_raise_before_any_work(session, options, message):
    session.shift("3", (1.0, 1.0))
    weights = _weights(session.model)
    with pytest.raises(ValueError, match=message):
        session.finetune(**options)
    assert not session.is_training and len(session.checkpoints) == 1
    assert _same(_weights(session.model), weights) and len(session.edits.edits) == 1


class FlakyCNN(SmallCNN):
    """The demo CNN whose training forward pass raises once, at call ``fail_at`` (counted across copies)."""

    calls = 0
    fail_at = None

    def forward(self, x):
        if self.training:
            FlakyCNN.calls += 1
            if FlakyCNN.calls == FlakyCNN.fail_at:
                raise RuntimeError("the data loader's disk went away")
        return super().forward(x)


def test_a_forward_that_raises_mid_epoch_keeps_the_last_good_epoch(digits, trained_cnn_state, fitted_embedding):
    from plsd_widget.session import Session

    train, _ = digits
    model = FlakyCNN()
    model.load_state_dict(trained_cnn_state)
    session = Session(model, "latent", train.images, train.labels, embedding=fitted_embedding)
    session.shift("3", (2.0, 2.0))
    n_batches = -(-len(train.labels) // 64)
    FlakyCNN.calls, FlakyCNN.fail_at = 0, n_batches + 3  # batch 3 of epoch 2
    try:
        session.finetune(epochs=3, block=False)
        session.wait(120)
        assert isinstance(session.last_error, RuntimeError) and "disk went away" in str(session.last_error)
        assert len(session.checkpoints) == 2  # the start and epoch 1
        assert _same(_weights(session.model), session.checkpoints[1])
        assert len(session.edits.edits) == 1 and np.isfinite(session.targets).all(axis=1).sum() > 0
        FlakyCNN.fail_at = None
        session.finetune(epochs=1, block=True)  # the next run works
        assert session.last_error is None and len(session.checkpoints) == 3
    finally:
        FlakyCNN.fail_at = None


def test_two_sessions_with_one_seed_agree_in_positions_and_weights(digits, trained_cnn_state):
    from plsd_widget.session import Session

    train, test = digits
    sessions = []
    for _ in range(2):
        model = SmallCNN()
        model.load_state_dict(trained_cnn_state)
        session = Session(model, "latent", train.images[:600], train.labels[:600], random_state=3, device="cpu")
        session.shift("3", (2.0, -1.0))
        session.finetune(epochs=1, block=True)
        sessions.append(session)
    a, b = sessions
    np.testing.assert_array_equal(a.edits.positions, b.edits.positions)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert _same(_weights(a.model), _weights(b.model))
