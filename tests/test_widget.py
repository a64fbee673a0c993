"""The widget's Python side: traits mirror the session, messages from the view become edits.

The front-end itself is tested in ``js/*.test.js`` (vitest, ``npm test``) and in a real browser in
``tests/browser/``.
"""

import numpy as np
import pytest

from plsd_widget.config import FinetuneConfig
from plsd_widget.widget.binary import Buffer, array_to_bytes, bytes_to_array, label_dtype
from plsd_widget.widget.geometry import square_bounds
from plsd_widget.widget.messages import handle
from plsd_widget.widget.outlines import decode_outlines, encode_outlines
from plsd_widget.widget.tables import metrics_html
from plsd_widget.widget.targets_sync import TargetsSync, changed_rows, decode_delta, encode_delta


def u32(values):
    return memoryview(np.asarray(values, dtype=np.uint32).tobytes())


def f32(values):
    return memoryview(np.asarray(values, dtype=np.float32).tobytes())


class ViewCopy:
    """The targets a view holds, replayed in Python as ``js/transport.js`` does it.

    ``sync()`` after each message plays one trait batch: a new full array is adopted, then
    a delta that starts at the copy's version applied; a gap makes the view ask for the full
    array (``resync_targets``), as a second view or a reloaded page does.
    """

    def __init__(self, widget):
        self.widget, self.version, self.full, self.resyncs = widget, -1, None, 0
        self.values = np.zeros((0, 2), np.float32)
        self.sync()

    def sync(self) -> np.ndarray:
        w = self.widget
        if w.targets is not self.full or w.targets_version > self.version:
            self.full, self.version = w.targets, w.targets_version
            self.values = bytes_to_array(w.targets, np.float32, "targets").reshape(-1, 2)
        if w.targets_delta and len(self.values):
            start, stop, indices, targets = decode_delta(w.targets_delta)
            if stop > self.version:
                if start != self.version:
                    self.resyncs += 1
                    handle(w, {"type": "resync_targets"}, [])
                    assert self.resyncs < 5, "the resync did not close the gap"
                    return self.sync()
                self.values[indices] = targets
                self.version = stop
        return self.values


@pytest.fixture(autouse=True)
def in_tmp_dir(tmp_path, monkeypatch):
    """Widgets autosave edits in the working directory: keep each test's to itself."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def widget(session):
    return session.widget()


def test_binary_round_trip_and_errors():
    data = np.array([[1.5, -2.0], [3.0, 4.0]], dtype=np.float32)
    raw = array_to_bytes(data, np.float32)
    assert len(raw) == 16
    np.testing.assert_array_equal(bytes_to_array(memoryview(raw), np.float32, "x").reshape(2, 2), data)
    with pytest.raises(ValueError, match="whole number of uint32"):
        bytes_to_array(b"abcde", np.uint32, "selection")
    assert (label_dtype(10), label_dtype(256), label_dtype(257)) == ("uint8", "uint8", "uint16")
    with pytest.raises(ValueError, match="at most 65,536"):
        label_dtype(70_000)


def test_buffer_trait_accepts_memoryview_and_rejects_lists():
    import traitlets

    class Holder(traitlets.HasTraits):
        data = Buffer()

    holder = Holder()
    holder.data = memoryview(b"\x01\x02")
    assert holder.data == b"\x01\x02"
    with pytest.raises(traitlets.TraitError):
        holder.data = [1, 2]


def test_square_bounds_contain_points_and_are_square():
    pts = np.array([[0, 0], [10, 2], [4, -1]], dtype=np.float32)
    x0, x1, y0, y1 = square_bounds(pts)
    assert x1 - x0 == pytest.approx(y1 - y0)
    assert x0 < 0 and x1 > 10 and y0 < -1 and y1 > 2


def test_widget_mirrors_session(widget, session):
    n = len(session.labels)
    assert len(widget.positions) == 8 * n
    assert len(widget.labels) == n and widget.label_dtype == "uint8"
    assert widget.class_names == session.class_names and len(widget.colors) == len(session.class_names)
    assert widget.targets == array_to_bytes(np.full((n, 2), np.nan), np.float32)
    assert widget.metrics_html == metrics_html(session) and '<table class="plsd-declutter">' in widget.metrics_html
    assert session.widget() is widget


def test_contours_travel_packed_per_class(widget, session):
    from plsd_widget.contours import unpack_contours

    vertices, offsets, classes, members, _ = decode_outlines(widget.contours)
    assert members.size == 0
    per_class = unpack_contours(vertices, offsets, classes, len(session.class_names))
    assert all(len(lines) >= 1 for lines in per_class)  # every class has a contour
    for c, lines in enumerate(per_class):  # most of a class lies inside its bounding boxes
        lo = np.min([line.min(axis=0) for line in lines], axis=0)
        hi = np.max([line.max(axis=0) for line in lines], axis=0)
        pts = session.positions[session.labels == c]
        assert ((pts >= lo) & (pts <= hi)).all(axis=1).mean() > 0.8


def test_contours_skip_classes_without_points():
    from plsd_widget.widget.geometry import class_contours

    pts = np.random.default_rng(0).normal(size=(60, 2)).astype(np.float32)
    _, offsets, classes = class_contours(pts, np.repeat([0, 3], 30))
    assert set(classes.tolist()) == {0, 3} and len(offsets) == len(classes) + 1


def test_selection_from_view_reaches_session_and_back(widget, session):
    widget.selection = u32([7, 3, 3])
    np.testing.assert_array_equal(session.selection, [3, 7])
    session.select("4")
    assert np.array_equal(bytes_to_array(widget.selection, np.uint32, "s"), np.flatnonzero(session.labels == 4))


def test_bad_selection_is_reported_and_not_applied(widget, session):
    session.select([1, 2])
    widget.selection = u32([1, len(session.labels)])
    assert "selection must be integer indices" in widget.error
    np.testing.assert_array_equal(session.selection, [1, 2])
    np.testing.assert_array_equal(bytes_to_array(widget.selection, np.uint32, "s"), [1, 2])


def test_move_message_edits_exactly_the_moved_points(widget, session):
    indices = [5, 9, 11]
    targets = session.positions[indices] + np.float32([1.0, -2.0])
    handle(widget, {"type": "move"}, [u32(indices), f32(targets)])
    assert widget.error == ""
    edited = np.flatnonzero(np.isfinite(session.targets[:, 0]))
    np.testing.assert_array_equal(edited, indices)
    np.testing.assert_allclose(session.targets[indices], targets)
    assert len(widget.targets_delta) == 12 + 12 * len(indices)  # the moved points only
    assert widget.can_undo and not widget.can_redo

    handle(widget, {"type": "undo"}, [])
    assert not np.isfinite(session.targets).any() and widget.can_redo
    handle(widget, {"type": "redo"}, [])
    assert np.isfinite(session.targets[:, 0]).sum() == 3
    handle(widget, {"type": "reset"}, [])
    assert not np.isfinite(session.targets).any() and not widget.can_undo


@pytest.mark.parametrize("buffers, message", [
    ([u32([1, 2])], "needs 2 buffers"),
    ([u32([1, 2]), f32([0, 0, 1])], "needs 4 target values"),
    ([u32([1, 10_000]), f32([0, 0, 1, 1])], "indices must be in"),
    ([u32([1]), f32([np.nan, 0])], "targets must be finite"),
    ([memoryview(b"abc"), f32([0, 0])], "whole number of uint32"),
])
def test_malformed_move_is_rejected_and_nothing_applied(widget, session, buffers, message):
    session.shift("1", (1.0, 0.0))
    before = session.targets.copy()
    handle(widget, {"type": "move"}, buffers)
    assert message in widget.error
    np.testing.assert_array_equal(session.targets, before)
    assert len(session.edits.edits) == 1


def test_contract_message_follows_eq2(widget, session):
    indices = np.flatnonzero(session.labels == 2)
    handle(widget, {"type": "contract", "kappa": 0.5}, [u32(indices)])
    assert widget.error == ""
    pos = session.positions[indices]
    np.testing.assert_allclose(session.targets[indices], pos + 0.5 * (pos.mean(axis=0) - pos), rtol=1e-5)
    assert np.isfinite(session.targets[:, 0]).sum() == indices.size


def test_exact_edits_of_a_class_from_the_panel(widget, session):
    handle(widget, {"type": "shift", "class": "4", "delta": [-7, 10]}, [])
    handle(widget, {"type": "contract", "class": "4", "kappa": 0.5}, [])
    assert widget.error == ""
    members = session.labels == 4
    shifted = session.positions[members] + np.float32([-7, 10])
    expected = shifted + 0.5 * (shifted.mean(axis=0) - shifted)
    np.testing.assert_allclose(session.targets[members], expected, rtol=1e-5, atol=1e-5)
    assert np.isnan(session.targets[~members]).all()


@pytest.mark.parametrize("content, buffers, message", [
    ({"type": "contract", "kappa": "half"}, [u32([1, 2])], "kappa must be a number"),
    ({"type": "contract", "kappa": float("nan")}, [u32([1, 2])], "kappa"),
    ({"type": "contract", "kappa": 0.5}, [], "needs 1 buffer"),
    ({"type": "contract", "kappa": 0.5}, [u32([])], "select points before editing"),
    ({"type": "contract", "class": "cat", "kappa": 0.5}, [], "unknown class name(s) ['cat']"),
    ({"type": "contract", "class": "4", "kappa": 0.5}, [u32([1])], "not both"),
    ({"type": "shift", "class": "4", "delta": [1]}, [], "delta must be two numbers"),
    ({"type": "shift", "class": "4", "delta": [1, float("inf")]}, [], "delta must be finite"),
    ({"type": "shift", "class": 4, "delta": [1, 1]}, [], "class must be a class name"),
])
def test_malformed_edit_message_is_rejected(widget, session, content, buffers, message):
    handle(widget, content, buffers)
    assert message in widget.error
    assert not session.edits.edits


def test_unknown_message_is_reported(widget):
    handle(widget, {"type": "explode"}, [])
    assert "unknown message type 'explode'" in widget.error


def test_finetune_message_trains_and_updates_positions(widget, session):
    session.shift("3", (2.0, 2.0))
    widget.finetune_config = {**widget.finetune_config, "epochs": 1, "lam": 0.5}
    before, contours_before = widget.positions, widget.contours
    handle(widget, {"type": "finetune"}, [])
    assert session.wait(timeout=120)
    assert session.last_error is None
    assert widget.positions != before
    assert widget.positions == array_to_bytes(session.positions, np.float32)
    assert widget.contours != contours_before
    assert not widget.training and widget.status.startswith("done: 1/1")
    assert widget.progress["epoch"] == 1 and widget.progress["batch"] == widget.progress["n_batches"]
    assert "F1 PLSD" in widget.metrics_html and "<td>PLSD</td><td>train</td>" in widget.metrics_html


def test_finetune_config_starts_at_the_default_and_is_checked_whole(widget):
    import re

    import traitlets

    assert widget.finetune_config == FinetuneConfig.default().to_dict()
    kept = dict(widget.finetune_config)
    for field, value, message in [("lam", 1.5, "lam must be in [0.0, 1.0], got 1.5"),
                                  ("edit_weight", -2.0, "edit_weight must be in [0.0, inf], got -2.0"),
                                  ("epochs", 1.5, "epochs must be a positive integer, got 1.5"),
                                  ("momentum", 0.9, "unknown fine-tuning option(s) ['momentum']")]:
        widget.set_state({"finetune_config": {**kept, field: value}})  # as the view writes it
        assert message in widget.error and widget.finetune_config == kept
        with pytest.raises(traitlets.TraitError, match=re.escape(message)):
            widget.finetune_config = {**kept, field: value}
    widget.set_state({"finetune_config": {**kept, "optimizer": "Adam", "lam": 0.25}})
    assert widget.finetune_config == {**kept, "optimizer": "adam", "lam": 0.25}  # as FinetuneConfig holds it


def test_finetune_message_runs_the_config_the_inputs_hold(widget, session, monkeypatch):
    runs = []
    monkeypatch.setattr(session, "finetune", lambda config=None, **overrides: runs.append((config, overrides)))
    widget.set_state({"finetune_config": {**widget.finetune_config, "epochs": 4, "lr": 0.05, "edited_only": False}})
    handle(widget, {"type": "finetune"}, [])
    assert widget.error == ""
    assert runs == [(FinetuneConfig(epochs=4, lr=0.05, edited_only=False), {})]


def test_every_message_type_has_one_handler():
    import json
    import pathlib

    from plsd_widget.widget import messages

    listed = json.loads((pathlib.Path(messages.__file__).with_name("messages.json")).read_text())
    assert list(messages.HANDLERS) == listed == list(messages.MESSAGE_TYPES)  # js/messages.test.js: the JS side
    assert messages.EDITS <= set(listed) and messages.QUIET <= set(listed)


def test_outlines_packet_layout_matches_the_view():
    # The same bytes js/outlines.test.js decodes: 1 line (0.5, -2), (1, 0) of class 3; members 7, 9 of subtypes 0, 1.
    packet = encode_outlines([[0.5, -2.0], [1.0, 0.0]], [0, 2], [3], [7, 9], [0, 1])
    assert packet == bytes([1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 9, 0, 0, 0,
                            0, 0, 0, 63, 0, 0, 0, 192, 0, 0, 128, 63, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0])
    vertices, offsets, classes, members, member_labels = decode_outlines(memoryview(packet))
    assert vertices.tolist() == [[0.5, -2.0], [1.0, 0.0]] and offsets.tolist() == [0, 2] and classes.tolist() == [3]
    assert members.tolist() == [7, 9] and member_labels.tolist() == [0, 1]
    assert decode_outlines(b"") is None
    empty = decode_outlines(encode_outlines(np.empty((0, 2)), [0], []))
    assert empty.vertices.shape == (0, 2) and empty.offsets.tolist() == [0]
    with pytest.raises(ValueError, match="needs 50 bytes, got 46"):
        decode_outlines(packet[:46])
    with pytest.raises(ValueError, match="at least 12 bytes"):
        decode_outlines(packet[:8])
    with pytest.raises(ValueError, match="one longer than classes"):
        encode_outlines([[0, 0]], [0, 1], [0, 1])
    with pytest.raises(ValueError, match="2 members need 2 member labels, got 1"):
        encode_outlines([[0, 0]], [0, 1], [0], [1, 2], [0])


def test_metrics_listeners_take_any_payload(session, monkeypatch):
    # Today's session sends the "metrics" event with html=..., tomorrow's with nothing.
    listeners, subscribe = [], session.on
    monkeypatch.setattr(session, "on", lambda event, callback: (listeners.append(callback) if event == "metrics"
                                                                 else None, subscribe(event, callback)))
    board = session.dashboard()  # the widget and its panels
    assert len(listeners) == 3  # the widget's metrics table and its gallery (widget/gallery.py), the F1 panel
    widget = board.children[0]
    widget.metrics_html = ""
    for callback in listeners:
        callback()
        callback(html="ignored")
    assert widget.metrics_html == metrics_html(session)


def test_missing_bundle_says_how_to_build(monkeypatch, session, tmp_path):
    from plsd_widget.widget import session_widget

    monkeypatch.setattr(session_widget, "STATIC", tmp_path)
    with pytest.raises(FileNotFoundError, match="npm run build"):
        session_widget.PLSDWidget(session)


def test_sprite_atlas_of_images_and_not_of_tables():
    from plsd_widget.widget.thumbnails import sprite_atlas

    x = np.zeros((5, 1, 28, 28), np.float32)
    x[2, 0, :14, :14] = 1.0  # top-left quarter of image 2 lit
    atlas, side, channels = sprite_atlas(x)
    assert (side, channels) == (28, 1) and len(atlas) == 5 * 28 * 28
    img = np.frombuffer(atlas, np.uint8).reshape(5, 28, 28)
    assert img[2, :14, :14].min() == 255 and img[2, 14:, 14:].max() == 0 and img[0].max() == 0

    atlas, side, _ = sprite_atlas(np.random.default_rng(0).random((3, 64, 64, 3)))
    assert side == 32 and len(atlas) == 3 * 32 * 32 * 3  # block means down to at most 32 px
    atlas, side, _ = sprite_atlas(np.zeros((1000, 28, 28)), max_bytes=200_000)
    assert len(atlas) <= 200_000 and side == 14
    assert sprite_atlas(np.zeros((10, 64)))[0] is None  # tabular features: no thumbnails
    assert sprite_atlas(np.zeros((10, 1, 8, 8)), max_bytes=10)[0] is None


def test_predictions_follow_the_model(widget, session):
    preds = bytes_to_array(widget.predictions, np.uint8, "p")
    np.testing.assert_array_equal(preds, session.predictions)
    assert (preds == session.labels).mean() > 0.7


def test_dashboard_panels_follow_training(session):
    board = session.dashboard()
    assert session.dashboard() is board and board.children[0] is session.widget()
    loss_figure, f1_figure = board.children[1].children
    bars = f1_figure.marks[0]
    assert list(bars.labels) == ["before"] and bars.y.shape == (1, len(session.class_names))

    session.shift("3", (2.0, 2.0))
    session.finetune(epochs=1, block=True)
    lines = loss_figure.marks[0]
    n_batches = -(-len(session.labels) // 64)
    assert lines.y.shape == (2, n_batches)  # cross-entropy and embedding term, one value a batch
    assert np.isfinite(lines.y).all() and lines.y[1].mean() > 0
    assert list(bars.labels) == ["before", "PLSD"]
    np.testing.assert_allclose(bars.y[1], session.reports["PLSD"].f1)


def test_warning_when_an_edit_lands_in_another_class(widget, session):
    assert widget.warning == ""
    centre_of_0 = session.positions[session.labels == 0].mean(axis=0)
    members = np.flatnonzero(session.labels == 6)
    targets = np.tile(centre_of_0, (members.size, 1)) + np.random.default_rng(0).normal(0, 0.3, (members.size, 2))
    handle(widget, {"type": "move"}, [u32(members), f32(targets)])
    assert f"of {members.size} edited '6' points land inside '0'" in widget.warning
    handle(widget, {"type": "undo"}, [])
    assert widget.warning == ""


def test_test_split_view_shows_held_out_points_and_refuses_edits(widget, session):
    session.shift("2", (1.0, 1.0))
    widget.split = "test"
    n_test = len(session.y_test)
    assert len(widget.positions) == 8 * n_test and len(widget.labels) == n_test
    np.testing.assert_array_equal(bytes_to_array(widget.positions, np.float32, "p").reshape(-1, 2),
                                  session.test_positions)
    assert widget.targets == b"" and widget.selection == b"" and widget.warning == ""
    assert len(widget.thumbnails) == n_test * 64

    handle(widget, {"type": "shift", "class": "3", "delta": [1, 1]}, [])
    assert "switch the view back to train" in widget.error
    widget.selection = u32([1, 2])
    assert session.selection.size == 0 and len(session.edits.edits) == 1

    widget.split = "train"
    assert len(widget.positions) == 8 * len(session.labels)
    assert widget.targets == array_to_bytes(session.targets, np.float32)


def test_split_must_exist(digits, trained_cnn, fitted_embedding):
    import traitlets

    from plsd_widget.session import Session

    train, _ = digits
    view = Session(trained_cnn, "latent", train.images, train.labels, embedding=fitted_embedding).widget()
    assert not view.has_test
    with pytest.raises(traitlets.TraitError, match="no test split"):
        view.split = "test"
    with pytest.raises(traitlets.TraitError, match="'train' or 'test'"):
        view.split = "validation"


def test_neighbors_of_a_clicked_point(widget, session):
    handle(widget, {"type": "neighbors", "index": 5}, [])
    nearest = bytes_to_array(widget.neighbors, np.uint32, "n")
    assert widget.neighbors_of == 5 and nearest.size == 8 and 5 not in nearest
    H = session.activations
    d = ((H - H[5]) ** 2).sum(axis=1)
    assert d[nearest].max() <= np.sort(d)[8] + 1e-6  # the 8 closest after the point itself
    handle(widget, {"type": "neighbors", "index": "five"}, [])
    assert "index must be an integer" in widget.error
    handle(widget, {"type": "neighbors", "index": 10**6}, [])
    assert "index must be in" in widget.error
    widget.split = "test"
    assert widget.neighbors_of == -1
    handle(widget, {"type": "neighbors", "index": 3}, [])
    assert bytes_to_array(widget.neighbors, np.uint32, "n").max() < len(session.y_test)


def test_point_style_is_validated():
    import traitlets

    from plsd_widget.widget.session_widget import PLSDWidget

    with pytest.raises(traitlets.TraitError):
        PLSDWidget.class_traits()["opacity"].validate(None, 1.5)


def test_widget_autosaves_and_offers_edits_back_after_a_dead_kernel(digits, trained_cnn, fitted_embedding, tmp_path,
                                                                   monkeypatch):
    from plsd_widget.session import Session

    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)  # not in a notebook: named by the embedding only

    def new_session():
        train, _ = digits
        return Session(trained_cnn, "latent", train.images, train.labels, embedding=fitted_embedding)

    first = new_session()
    view = first.widget()
    assert view.recoverable == ""
    handle(view, {"type": "shift", "class": "2", "delta": [3, 0]}, [])
    handle(view, {"type": "contract", "class": "2", "kappa": 0.5}, [])
    saved = first.targets
    assert (tmp_path / ".plsd_autosave" / f"edits-{first.fingerprint}.json").exists()

    second = new_session()  # the notebook re-run after the kernel died
    again = second.widget()
    assert "2 edit(s) of an earlier session" in again.recoverable
    assert not second.edits.edits  # not restored unasked
    handle(again, {"type": "restore"}, [])
    assert again.error == "" and again.recoverable == ""
    np.testing.assert_array_equal(second.targets, saved)
    handle(again, {"type": "restore"}, [])
    assert "no autosaved edits" in again.error


def test_targets_delta_packet_layout_matches_the_view():
    # The same bytes js/transport.test.js decodes: from 3 to 4; points 1 and 5.
    packet = encode_delta(3, 4, [1, 5], [[0.5, -2.0], [np.nan, np.nan]])
    assert packet == bytes([3, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0,
                            0, 0, 0, 63, 0, 0, 0, 192, 0, 0, 192, 127, 0, 0, 192, 127])
    start, stop, indices, targets = decode_delta(memoryview(packet))
    assert (start, stop, indices.tolist()) == (3, 4, [1, 5])
    assert targets[0].tolist() == [0.5, -2.0] and np.isnan(targets[1]).all()
    with pytest.raises(ValueError, match="needs 36 bytes, got 30"):
        decode_delta(packet[:30])
    with pytest.raises(ValueError, match="2 indices need 2 targets"):
        encode_delta(0, 1, [1, 2], [[0, 0]])


def test_targets_sync_sends_changed_rows_or_the_full_array_when_cheaper():
    nan = np.full((100, 2), np.nan, np.float32)
    sync = TargetsSync()
    first = sync.update(nan)
    assert first["targets_version"] == 1 and len(first["targets"]) == 800
    assert sync.update(nan) == {}  # nothing changed, nothing sent
    edited = nan.copy()
    edited[[3, 7]] = [[1, 2], [3, 4]]
    update = sync.update(edited)
    start, stop, indices, targets = decode_delta(update["targets_delta"])
    assert set(update) == {"targets_delta"} and (start, stop, indices.tolist()) == (1, 2, [3, 7])
    undone = sync.update(nan)  # an undo: the same rows back to NaN
    assert decode_delta(undone["targets_delta"])[2].tolist() == [3, 7]
    everything = np.zeros((100, 2), np.float32)  # 100 rows: 1,212 B as a delta, 800 B in full
    assert set(sync.update(everything)) == {"targets", "targets_version"} and sync.version == 4
    assert set(sync.update(everything, full=True)) == {"targets", "targets_version"} and sync.version == 4
    np.testing.assert_array_equal(changed_rows(nan, edited), [3, 7])


def test_views_hold_the_session_targets_through_edits_undo_redo_reset(widget, session):
    view = ViewCopy(widget)
    full_before = widget.targets
    members = np.flatnonzero(session.labels == 3)
    steps = [
        ({"type": "move"}, [u32([5, 9]), f32([[1, 2], [3, 4]])]),
        ({"type": "shift", "class": "3", "delta": [1, 0]}, []),
        ({"type": "contract", "kappa": 0.5}, [u32(members[:10])]),
        ({"type": "undo"}, []), ({"type": "undo"}, []), ({"type": "redo"}, []),
        ({"type": "move"}, [u32([9]), f32([[0, 0]])]),
        ({"type": "reset"}, []),
    ]
    for content, buffers in steps:
        handle(widget, content, buffers)
        assert widget.error == ""
        np.testing.assert_array_equal(view.sync(), session.targets)
    assert view.resyncs == 0 and widget.targets is full_before  # deltas only: the full array never resent

    session.shift("3", (2.0, 2.0))  # edits made in code reach the view the same way
    np.testing.assert_array_equal(view.sync(), session.targets)


def test_a_view_made_after_edits_asks_for_the_full_array_once(widget, session):
    first = ViewCopy(widget)
    handle(widget, {"type": "move"}, [u32([1, 2]), f32([[0, 0], [1, 1]])])
    first.sync()  # a view sees every trait batch
    handle(widget, {"type": "shift", "class": "4", "delta": [-7, 10]}, [])
    first.sync()
    assert first.resyncs == 0
    second = ViewCopy(widget)  # a re-display or a reloaded page: the full array is older than the delta
    assert second.resyncs == 1
    np.testing.assert_array_equal(second.values, session.targets)
    np.testing.assert_array_equal(first.sync(), session.targets)
    handle(widget, {"type": "undo"}, [])
    for view in (first, second):
        np.testing.assert_array_equal(view.sync(), session.targets)
    assert (first.resyncs, second.resyncs) == (0, 1)
    widget.error = "kept"
    handle(widget, {"type": "resync_targets"}, [])
    assert widget.error == "kept"  # a resync is not a user action: an error shown stays


def test_targets_after_the_test_split_and_a_restore(widget, session):
    view = ViewCopy(widget)
    session.shift("2", (1.0, 1.0))
    widget.split = "test"
    np.testing.assert_array_equal(view.sync(), np.zeros((0, 2)))
    session.shift("5", (0.0, 3.0))  # an edit in code while the test split is shown
    widget.split = "train"
    np.testing.assert_array_equal(view.sync(), session.targets)
    session.load_edits(session.save_edits("saved.json"))
    np.testing.assert_array_equal(view.sync(), session.targets)


def test_two_notebooks_on_one_embedding_autosave_apart(digits, trained_cnn, fitted_embedding, tmp_path, monkeypatch):
    from plsd_widget.session import Session
    from plsd_widget.edit_files import autosave_path, notebook_name

    def open_notebook(name):
        monkeypatch.setenv("JPY_SESSION_NAME", name)  # what Jupyter server tells the kernel
        train, _ = digits
        session = Session(trained_cnn, "latent", train.images, train.labels, embedding=fitted_embedding)
        return session, session.widget()

    first, first_view = open_notebook("analysis/first try.ipynb")
    second, second_view = open_notebook("second.ipynb")
    assert notebook_name() == "second.ipynb"
    assert first.autosave.name == f"edits-first_try-{first.fingerprint}.json"
    assert second.autosave == tmp_path / ".plsd_autosave" / f"edits-second-{second.fingerprint}.json"
    handle(first_view, {"type": "shift", "class": "2", "delta": [3, 0]}, [])
    handle(second_view, {"type": "contract", "class": "7", "kappa": 0.5}, [])
    handle(second_view, {"type": "undo"}, [])
    assert first.autosave.exists() and second.autosave.exists()

    again, again_view = open_notebook("first try.ipynb")  # the first notebook re-run: only its own edits
    assert "1 edit(s) of an earlier session" in again_view.recoverable
    handle(again_view, {"type": "restore"}, [])
    np.testing.assert_array_equal(again.targets, first.targets)
    _, other_view = open_notebook("second.ipynb")  # the second one's log had its edit undone
    assert other_view.recoverable == "" and other_view.error == ""
    assert autosave_path("abc").name == "edits-abc.json"
