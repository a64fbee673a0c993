"""Bad input and faults: each names the error and leaves edits, targets and weights as they were."""

import threading

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


class HookedCNN(SmallCNN):
    """The demo CNN that calls ``on_train_batch()`` (class-wide, so copies do too) in each training forward pass."""

    on_train_batch = None

    def forward(self, x):
        if self.training and HookedCNN.on_train_batch is not None:
            HookedCNN.on_train_batch()
        return super().forward(x)


class Gate:
    """Holds training batches until ``open()``; counts them and says when the first one arrived."""

    def __init__(self):
        self.arrived, self.opened, self.batches = threading.Event(), threading.Event(), 0

    def __call__(self):
        self.batches += 1
        self.arrived.set()
        if not self.opened.wait(60):
            raise TimeoutError("the test never opened the gate")

    def open(self):
        self.opened.set()


@pytest.fixture
def small_session(digits, trained_cnn_state, fitted_embedding):
    """A session of ``HookedCNN`` on 600 digits with one edit; no hook set."""
    from plsd_widget.session import Session

    train, _ = digits
    model = HookedCNN()
    model.load_state_dict(trained_cnn_state)
    session = Session(model, "latent", train.images[:600], train.labels[:600], embedding=fitted_embedding,
                      device="cpu")
    session.shift("3", (2.0, -1.0))
    yield session
    HookedCNN.on_train_batch = None


def _busy(what):
    return (r"fine-tuning is running: stop it \(session\.stop\(\)\) or wait for it to finish \(session\.wait\(\)\) "
            rf"before {what}")


def test_a_second_run_and_edits_while_fine_tuning_are_refused_and_the_run_goes_on(
        small_session, digits, trained_cnn_state, fitted_embedding, tmp_path):
    from plsd_widget.session import Session

    session = small_session
    saved = session.save_edits(tmp_path / "edits.json")
    session.contract("5", 0.5)
    session.undo()  # something to redo
    gate = HookedCNN.on_train_batch = Gate()
    try:
        session.finetune(epochs=1, block=False)
        assert gate.arrived.wait(60) and session.is_training  # the run holds in its first batch
        weights, targets = _weights(session.model), session.targets.copy()
        for call, what in [
            (lambda: session.finetune(epochs=1), "starting another run"),
            (lambda: session.finetune(epochs=1, lam=2.0), "starting another run"),  # refused before checking
            (lambda: session.shift("1", (1.0, 1.0)), "editing"),
            (lambda: session.contract("1", 0.5), "editing"),
            (lambda: session.move_points(np.array([0]), np.zeros((1, 2))), "editing"),
            (lambda: session.undo(), "undoing an edit"),
            (lambda: session.redo(), "redoing an edit"),
            (lambda: session.reset_edits(), "resetting the edits"),
            (lambda: session.load_edits(saved), "loading edits"),
            (lambda: session.rollback(0), "rolling back"),
            (lambda: session.run_baseline(), "running the baseline"),
        ]:
            with pytest.raises(RuntimeError, match=_busy(what)):
                call()
        assert len(session.edits.edits) == 1 and session.edits.can_redo
        np.testing.assert_array_equal(session.targets, targets)
        assert _same(_weights(session.model), weights) and len(session.checkpoints) == 1
    finally:
        gate.open()
    assert session.wait(120) and session.last_error is None

    reference_model = SmallCNN()  # the same run, undisturbed
    reference_model.load_state_dict(trained_cnn_state)
    train, _ = digits
    reference = Session(reference_model, "latent", train.images[:600], train.labels[:600],
                        embedding=fitted_embedding, device="cpu")
    reference.shift("3", (2.0, -1.0))
    reference.finetune(epochs=1, block=True)
    assert len(session.checkpoints) == 2 and len(session.history) == 1
    assert _same(_weights(session.model), _weights(reference.model))
    np.testing.assert_array_equal(session.positions, reference.positions)

    session.redo()  # edits work again once the run ended
    session.shift("1", (1.0, 1.0))
    assert len(session.edits.edits) == 3


def test_the_last_status_of_a_run_may_edit(small_session):
    session = small_session
    done = []

    def edit_when_done(message, training):
        if not training:
            session.shift("1", (1.0, 1.0))  # raises (and is only logged) while the run counts as going on
            done.append(message)

    session.on("status", edit_when_done)
    session.finetune(epochs=1, block=True)
    assert done == ["done: 1/1 epochs"] and len(session.edits.edits) == 2


def test_stop_during_the_baseline_ends_it_and_keeps_everything_else(small_session):
    session = small_session
    session.finetune(epochs=1, block=True)
    statuses = []
    session.on("status", lambda message, training: statuses.append(message))
    weights, targets = _weights(session.model), session.targets.copy()

    def baseline_stopped_in_its_first_batch():
        gate = HookedCNN.on_train_batch = Gate()
        session.run_baseline()  # returns at once, like finetune
        try:
            assert gate.arrived.wait(60) and session.is_training
            with pytest.raises(RuntimeError, match=r"the baseline is running: stop it \(session\.stop\(\)\) or "
                                                   r"wait for it to finish before starting another run"):
                session.finetune(epochs=1)
            session.stop()
        finally:
            gate.open()
        assert session.wait(60) and session.last_error is None and gate.batches == 1  # no batch after the stop
        HookedCNN.on_train_batch = None

    baseline_stopped_in_its_first_batch()
    assert statuses == ["baseline: 0/1 epochs", "baseline stopped: 0/1 epochs; none recorded"]
    assert "baseline (CE)" not in session.reports and session.baseline_positions is None
    assert _same(_weights(session.model), weights) and len(session.checkpoints) == 2
    assert len(session.edits.edits) == 1
    np.testing.assert_array_equal(session.targets, targets)

    session.run_baseline(block=True)  # a later baseline works
    report, positions = session.reports["baseline (CE)"], session.baseline_positions
    assert positions is not None and not np.array_equal(positions, session.positions)
    baseline_stopped_in_its_first_batch()  # a stopped re-run leaves that one as it was
    assert session.reports["baseline (CE)"] is report and session.baseline_positions is positions
    assert _same(_weights(session.model), weights)
    session.shift("1", (1.0, 1.0))  # and editing goes on
    assert len(session.edits.edits) == 2

