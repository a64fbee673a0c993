import threading

import numpy as np
import pytest
import torch

from plsd_widget.activations import extract_activations
from plsd_widget.embedding.neighbor_offsets import OffsetLookup
from plsd_widget.session import Session


class Recorder:
    def __init__(self, session):
        self.events = []
        self.done = threading.Event()
        for name in ("positions", "progress", "status", "metrics", "error", "targets", "selection"):
            session.on(name, lambda _n=name, **kw: self._record(_n, kw))

    def _record(self, name, payload):
        self.events.append((name, payload))
        if name == "status" and not payload["training"]:
            self.done.set()

    def names(self):
        return [n for n, _ in self.events]


def test_state_for_the_widget(session, digits):
    n = len(digits[0].labels)
    assert session.positions.shape == (n, 2) and session.positions.dtype == np.float32
    assert np.isnan(session.targets).all()
    assert list(session.metrics.reports) == ["before"]
    assert session.embedding_scale > 0


def test_shift_by_class_name_edits_exactly_that_class(session):
    session.shift("3", (1.0, 2.0))
    edited = np.isfinite(session.targets).all(axis=1)
    np.testing.assert_array_equal(edited, session.labels == 3)
    np.testing.assert_allclose(session.targets[edited], session.positions[edited] + [1.0, 2.0], rtol=1e-5)


def test_contract_several_classes_and_undo(session):
    session.contract(["3", "5"], 0.5)
    assert np.isfinite(session.targets[np.isin(session.labels, [3, 5])]).all()
    assert session.undo() and np.isnan(session.targets).all()
    assert session.redo() and np.isfinite(session.targets).any()
    session.reset_edits()
    assert np.isnan(session.targets).all()


def test_bad_edits_name_the_fix_and_apply_nothing(session):
    with pytest.raises(ValueError, match=r"unknown class name\(s\) \['cat'\]; known classes"):
        session.shift("cat", (1, 1))
    with pytest.raises(ValueError, match="finite"):
        session.shift("3", (np.nan, 1))
    with pytest.raises(ValueError, match=r"in \[0, "):
        session.move_points([0, 10_000], [[0, 0], [1, 1]])
    with pytest.raises(ValueError, match="selection must be integer indices"):
        session.select([-1])
    assert np.isnan(session.targets).all() and not session.edits.edits


def test_finetune_in_background_updates_positions_and_metrics(session):
    rec = Recorder(session)
    before = session.positions.copy()
    session.shift("3", (5.0, 0.0))
    session.finetune(epochs=2, lam=0.5)
    assert rec.done.wait(120), "fine-tuning did not finish"
    assert session.wait(10) and session.last_error is None
    assert {"progress", "positions", "metrics", "status"} <= set(rec.names())
    assert rec.events[-1] == ("status", {"message": "done: 2/2 epochs", "training": False})
    assert not np.allclose(before, session.positions)
    assert len(session.checkpoints) == 3 and len(session.history) == 2
    for entry in session.history:  # each epoch's mean over its batches, not its last batch
        losses = [p["loss"] for n, p in rec.events if n == "progress" and p["epoch"] == entry["epoch"]]
        assert len(losses) == 22 and entry["loss"] == pytest.approx(np.mean(losses), rel=1e-6)
        assert set(entry) == {"epoch", "loss", "ce", "emb"}
    assert list(session.metrics.reports) == ["before", "PLSD"]


def test_stop_ends_within_a_batch_and_keeps_completed_epochs(session):
    rec = Recorder(session)
    session.shift("3", (5.0, 0.0))
    first_batch = threading.Event()
    session.on("progress", lambda **kw: first_batch.set())
    session.finetune(epochs=50)
    assert first_batch.wait(60)
    session.stop()
    assert rec.done.wait(60)
    message = rec.events[-1][1]["message"]
    assert message.startswith("stopped:") and not message.startswith("stopped: 50")


def test_finetune_argument_errors_raise_before_starting(session):
    with pytest.raises(ValueError, match="no point has an edit target"):
        session.finetune()
    session.shift("3", (1, 1))
    with pytest.raises(ValueError, match="lam must be in"):
        session.finetune(lam=2)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        session.finetune(epochs=0)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        session.finetune(lr=-1.0)
    assert not session.is_training and len(session.checkpoints) == 1


def test_rejected_lr_is_not_remembered(session):
    session.shift("3", (1, 1))
    with pytest.raises(ValueError, match="lr must be a positive number"):
        session.finetune(lr=-1.0)
    session.finetune(epochs=1, block=True)  # runs with the default lr, not the rejected one
    assert len(session.checkpoints) == 2


def test_second_run_while_training_is_refused(session):
    session.shift("3", (1, 1))
    session.finetune(epochs=30)
    try:
        with pytest.raises(RuntimeError, match="fine-tuning is running: stop it"):
            session.finetune(epochs=1)
        with pytest.raises(RuntimeError, match="before running the baseline"):
            session.run_baseline()
    finally:
        session.stop()
        session.wait(60)


def test_diverging_run_reports_error_and_keeps_model(session):
    rec = Recorder(session)
    original = {k: v.clone() for k, v in session.model.state_dict().items()}
    session.shift("3", (1e4, 1e4))
    session.finetune(epochs=2, lam=1.0, lr=1e6)
    assert rec.done.wait(60)
    assert isinstance(session.last_error, FloatingPointError)
    assert "error" in rec.names()
    state = session.model.state_dict()
    assert all(torch.equal(state[k], original[k]) for k in original)


def test_baseline_and_rollback(session):
    with pytest.raises(ValueError, match="run finetune"):
        session.run_baseline()
    original = {k: v.clone() for k, v in session.model.state_dict().items()}
    session.shift("3", (5.0, 0.0))
    session.finetune(epochs=2, block=True)
    session.run_baseline(block=True)
    assert list(session.metrics.reports) == ["before", "baseline (CE)", "PLSD"]
    assert "F1 baseline (CE)" in session.metrics.to_html()
    session.rollback(1)  # the 2-epoch baseline no longer compares with 1 PLSD epoch
    assert len(session.checkpoints) == 2 and [h["epoch"] for h in session.history] == [1]
    assert list(session.metrics.reports) == ["before", "PLSD"]
    session.run_baseline(block=True)
    assert list(session.metrics.reports) == ["before", "baseline (CE)", "PLSD"]
    session.finetune(epochs=1, block=True)  # PLSD now has 2 epochs, the baseline 1
    assert list(session.metrics.reports) == ["before", "PLSD"]
    session.rollback(0)
    state = session.model.state_dict()
    assert all(torch.equal(state[k], original[k]) for k in original)
    assert len(session.checkpoints) == 1 and session.history == []
    assert list(session.metrics.reports) == ["before"]


def test_declutter_rows_follow_the_runs(session):
    events = []
    session.on("metrics", lambda: events.append(session.metrics.to_html() + session.declutter.to_html()))
    table = session.declutter
    assert list(table.scores) == [("before", "train"), ("before", "test")]
    assert np.isnan(table.scores[("before", "train")]["distance"])
    assert "distance" not in table.scores[("before", "test")]
    before_test = session.test_positions.copy()
    session.shift("3", (5.0, 0.0))
    before = session.declutter.scores[("before", "train")]
    assert before["distance"] == pytest.approx(5.0 / session.embedding_scale, rel=1e-4)
    session.finetune(epochs=2, block=True)
    assert '<table class="plsd-declutter">' in events[-1] and "PLSD" in events[-1]
    session.run_baseline(block=True)
    table = session.declutter
    runs = ["before", "baseline (CE)", "PLSD"]
    assert list(table.scores) == [(r, "train") for r in runs] + [(r, "test") for r in runs]
    assert table.scores[("PLSD", "train")]["distance"] < before["distance"]  # PLSD moved toward the targets
    now = table.scores[("before", "train")]  # the edits' frame, not re-embedded
    assert [now[k] for k in ("purity", "overlap", "distance")] == [before[k] for k in ("purity", "overlap", "distance")]
    assert table.scores[("baseline (CE)", "test")]["purity"] > 0.5
    np.testing.assert_array_equal(session.start_snapshot.test_positions, before_test)
    baseline_train = session.baseline_positions
    assert not np.allclose(baseline_train, session.positions)
    assert not np.allclose(baseline_train, session.edits.positions)
    assert events[-1].index("plsd-metrics") < events[-1].index("plsd-declutter") and "baseline (CE)" in events[-1]
    session.rollback(1)
    assert [r for r, split in session.declutter.scores if split == "train"] == ["before", "PLSD"]
    assert session.baseline_positions is None and "baseline (CE)" not in events[-1]
    session.rollback(0)
    assert list(session.declutter.scores) == [("before", "train"), ("before", "test")]


def test_before_test_positions_use_the_original_model(session):
    session.shift("3", (5.0, 0.0))
    session.finetune(epochs=1, block=True)  # no listener: nothing asked for the before positions yet
    session.rollback(0)
    expected = session.test_positions
    session.finetune(epochs=1, block=True)
    assert session.snapshot is not session.start_snapshot
    np.testing.assert_allclose(session.start_snapshot.test_positions, expected, atol=1e-5)


def test_declutter_without_a_test_split_has_train_rows_only(digits, trained_cnn, fitted_embedding):
    train, _ = digits
    session = Session(trained_cnn, "latent", train.images, train.labels, embedding=fitted_embedding)
    session.shift("3", (5.0, 0.0))
    session.finetune(epochs=1, block=True)
    assert list(session.declutter.scores) == [("before", "train"), ("PLSD", "train")]
    assert "<td>test</td>" not in session.declutter.to_html()


def test_construction_errors(digits, trained_cnn, fitted_embedding):
    train, _ = digits
    with pytest.raises(ValueError, match="has 10 labels but the data has"):
        Session(trained_cnn, "latent", train.images, train.labels[:10], embedding=fitted_embedding)
    with pytest.raises(ValueError, match="available layers"):
        Session(trained_cnn, "fc9", train.images, train.labels, embedding=fitted_embedding)
    with pytest.raises(ValueError, match="pass both x_test and y_test"):
        Session(trained_cnn, "latent", train.images, train.labels, x_test=train.images, embedding=fitted_embedding)


def make_session(digits, trained_cnn, embedding, **kwargs):
    train, _ = digits
    return Session(trained_cnn, "latent", train.images, train.labels, class_names=train.class_names,
                   embedding=embedding, **kwargs)


def test_autosave_restores_edits_after_a_lost_kernel(digits, trained_cnn, fitted_embedding, tmp_path):
    path = tmp_path / "edits.json"
    first = make_session(digits, trained_cnn, fitted_embedding, autosave=path)
    first.shift("2", (1.0, -1.0))
    first.contract(["3", "5"], 0.5)
    first.shift("7", (4.0, 0.0))
    first.undo()
    expected = first.targets
    del first  # as if the kernel died: only the file is left

    second = make_session(digits, trained_cnn, fitted_embedding, autosave=path)
    assert len(second.edits.edits) == 2
    np.testing.assert_array_equal(second.targets, expected)


def test_autosave_of_another_embedding_fails_loudly(digits, trained_cnn, fitted_embedding, tmp_path):
    path = tmp_path / "edits.json"
    make_session(digits, trained_cnn, fitted_embedding, autosave=path).shift("2", (1.0, 0.0))
    other = make_session(digits, trained_cnn, fitted_embedding)
    other.shift("4", (0.5, 0.5))
    other.edits.positions = other.edits.positions + 1  # stand-in for a different embedding
    with pytest.raises(ValueError, match="cannot restore the edits in .*move the file away"):
        other.load_edits(path)
    assert len(other.edits.edits) == 1  # nothing replaced


def test_failing_autosave_keeps_the_edit_and_reports(digits, trained_cnn, fitted_embedding, tmp_path):
    (tmp_path / "a_file").write_text("")  # a file where the folder should be: writing must fail
    session = make_session(digits, trained_cnn, fitted_embedding, autosave=tmp_path / "a_file" / "edits.json")
    errors = []
    session.on("error", lambda message: errors.append(message))
    session.shift("2", (1.0, 0.0))
    assert len(session.edits.edits) == 1
    assert errors and "autosave" in errors[0]


def test_save_and_load_edits_round_trip(session, tmp_path):
    session.contract("6", 0.25)
    path = session.save_edits(tmp_path / "e.json")
    expected = session.targets
    session.reset_edits()
    session.load_edits(path)
    np.testing.assert_array_equal(session.targets, expected)


def test_selection_has_its_own_event(session):
    rec = Recorder(session)
    session.select("2")
    assert rec.names() == ["selection"]


@pytest.fixture(scope="module")
def distil_embedding(digits, trained_cnn_state):
    """A scheme-"distil" embedding of the CNN's latent layer (batch_size below n forces it)."""
    from plsd_widget.embedding import ParametricTSNE
    from plsd_widget.models import SmallCNN

    model = SmallCNN()
    model.load_state_dict(trained_cnn_state)
    H = extract_activations(model, "latent", digits[0].images)
    return ParametricTSNE(perplexity=30, batch_size=500, scheme="distil", random_state=0, device="cpu").fit(H)


@pytest.mark.slow
def test_distil_embedding_shows_its_layout_and_fine_tuning_keeps_the_offsets(digits, trained_cnn, distil_embedding):
    train, test = digits
    session = Session(trained_cnn, "latent", train.images, train.labels, x_test=test.images, y_test=test.labels,
                      embedding=distil_embedding)
    np.testing.assert_array_equal(session.positions, distil_embedding.embedding_)
    np.testing.assert_array_equal(session.offsets, distil_embedding.offsets_)
    assert np.abs(session.offsets).max() > 0
    # held-out points borrow a nearby training point's offset, as the estimator's transform does
    H_test = extract_activations(trained_cnn, "latent", test.images)
    np.testing.assert_allclose(session.test_positions, distil_embedding.transform(H_test), rtol=0, atol=1e-5)
    assert not np.allclose(session.test_positions, distil_embedding.encode(H_test))

    threes = np.flatnonzero(train.labels == 3)
    session.shift("3", (25.0, 0.0))
    targets = session.targets[threes]
    session.finetune(epochs=3, lam=0.5, lr=0.01, block=True)
    after = np.linalg.norm(session.positions[threes] - targets, axis=1).mean()
    assert after < 0.4 * 25.0  # the shifted class follows its edit in the view
    network = session.embedding.encode(session.activations)
    np.testing.assert_allclose(session.positions, network + session.offsets, rtol=0, atol=1e-5)
    # after fine-tuning, held-out points look for their neighbours among the current activations
    H_test = extract_activations(trained_cnn, "latent", test.images)
    lookup = OffsetLookup(session.activations, network, session.offsets)
    np.testing.assert_allclose(session.test_positions, lookup(H_test, session.embedding.encode(H_test)),
                               rtol=0, atol=1e-5)
    session.rollback(0)
    np.testing.assert_allclose(session.positions, distil_embedding.embedding_, rtol=0, atol=1e-4)


def test_an_embedding_of_other_data_is_shown_through_its_network(digits, trained_cnn, distil_embedding):
    train, _ = digits
    session = Session(trained_cnn, "latent", train.images[:200], train.labels[:200], embedding=distil_embedding)
    np.testing.assert_array_equal(session.offsets, np.zeros((200, 2), np.float32))
    np.testing.assert_array_equal(
        session.positions, distil_embedding.encode(extract_activations(trained_cnn, "latent", train.images[:200])))


def test_off_stops_a_listener(session):
    seen = []

    def listener():
        seen.append(len(session.selection))

    session.on("selection", listener)
    session.select("2")
    session.off("selection", listener)
    session.select("3")
    assert seen == [np.sum(session.labels == 2)]
    with pytest.raises(ValueError, match="does not listen to 'selection'; register it with on"):
        session.off("selection", listener)
    with pytest.raises(ValueError, match="unknown event 'selected'"):
        session.off("selected", listener)


def test_the_baseline_runs_in_the_worker_like_fine_tuning(session):
    statuses = []
    session.on("status", lambda message, training: statuses.append((message, training)))
    session.shift("3", (5.0, 0.0))
    session.finetune(epochs=1, block=True)
    session.run_baseline()  # returns at once
    assert session.wait(120) and session.last_error is None and "baseline (CE)" in session.reports
    assert statuses[-2:] == [("baseline: 0/1 epochs", True), ("baseline done: 1/1 epochs", False)]

    def fault(module, _inputs, _output):
        if module.training:  # the baseline's copy of the model carries the hook
            raise RuntimeError("simulated fault in the baseline")

    handle = session.model.head.register_forward_hook(fault)
    try:
        with pytest.raises(RuntimeError, match="simulated fault"):
            session.run_baseline(block=True)
    finally:
        handle.remove()
    assert isinstance(session.last_error, RuntimeError) and statuses[-1] == ("baseline failed; none recorded", False)
    assert "baseline (CE)" in session.reports  # the earlier one stands


def test_the_checkpoint_folder_goes_with_the_session(digits, trained_cnn, fitted_embedding, tmp_path):
    import gc

    session = make_session(digits, trained_cnn, fitted_embedding, checkpoint_dir=tmp_path)
    session.shift("3", (1.0, 1.0))
    session.finetune(epochs=2, block=True)
    folder = session.checkpoints.folder
    assert folder.parent == tmp_path and len(list(folder.iterdir())) == 1  # epoch 1; epoch 2 is in memory
    del session
    gc.collect()
    assert list(tmp_path.iterdir()) == []


def test_a_session_given_a_fitted_embedding_warms_the_kernels_up(digits, trained_cnn, fitted_embedding, monkeypatch):
    import plsd_widget.embedding.warm_up as warm_up

    started = []
    monkeypatch.setattr(warm_up, "start_warm_up", lambda: started.append(True))
    make_session(digits, trained_cnn, fitted_embedding)
    assert started == [True]


def test_a_snapshot_replaced_before_its_test_split_was_asked_for_says_to_read_it_again(session):
    session.shift("3", (5.0, 0.0))
    session.finetune(epochs=1, block=True)
    old = session.snapshot  # epoch 1, its held-out split not computed yet
    session.finetune(epochs=1, block=True)
    with pytest.raises(RuntimeError, match=r"no longer the session's; read session.snapshot again"):
        old.test_positions
    assert session.snapshot.test_positions.shape == (len(session.y_test), 2)
