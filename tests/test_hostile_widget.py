"""Bad input from the view: each is refused with an error the view shows, changes nothing, and
leaves the view's copy of every trait equal to the kernel's.

Messages travel the real route: a comm message into ``widget.comm.handle_msg``, the kernel's
replies recorded by an in-memory comm (``comm.create_comm`` is the documented hook for that)
and replayed into a front-end model, as JupyterLab's widget manager would hold it.
"""

import logging
import tracemalloc

import comm
import numpy as np
import pytest
from comm.base_comm import BaseComm
from ipywidgets.widgets.widget import _put_buffers

from plsd_widget.config import FinetuneConfig

BIG = 50 * 2**20  # bytes
DEFAULT_CONFIG = FinetuneConfig.default().to_dict()
N = 1347  # points in the digits' train split (conftest's session)
ESCAPED = ("Exception in widget method", "Exception in callback")  # how ipywidgets logs what a handler raised


def u32(values):
    return memoryview(np.asarray(values, dtype=np.uint32).tobytes())


def f32(values):
    return memoryview(np.asarray(values, dtype=np.float32).tobytes())


class RecordingComm(BaseComm):
    """A comm without a kernel that keeps what the widget sends its front-ends, in order."""

    def __init__(self, **kwargs):
        self.messages = []
        super().__init__(**kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        self.messages.append((data or {}, [bytes(b) for b in buffers or []]))


class FrontEnd:
    """A front-end's model of the widget: the opening state, then the kernel's updates and
    echoes, and the view's own writes, in the order they happen.

    Every message from the view goes through the comm; one that raised in the comm handler
    (where ipywidgets only logs it) fails the test.
    """

    def __init__(self, widget, caplog):
        self.widget, self.caplog, self.state, self._seen = widget, caplog, {}, 0
        self.receive()

    def receive(self) -> None:
        messages = self.widget.comm.messages
        for data, buffers in messages[self._seen:]:
            if "state" in data:  # comm_open, update, echo_update
                state = dict(data["state"])
                _put_buffers(state, data.get("buffer_paths", []), buffers)
                self.state.update(state)
        self._seen = len(messages)

    def set(self, **state) -> None:
        """``model.set`` and ``save_changes`` in the view: binary values travel as buffers."""
        self.state.update(state)
        paths = [[name] for name, value in state.items() if isinstance(value, memoryview)]
        buffers = [state[name] for [name] in paths]
        plain = {name: (None if [name] in paths else value) for name, value in state.items()}
        self._deliver({"method": "update", "state": plain, "buffer_paths": paths}, buffers)

    def send(self, content, buffers=None) -> None:
        """``model.send(content, callbacks, buffers)`` in the view."""
        self._deliver({"method": "custom", "content": content}, buffers)

    def _deliver(self, data, buffers) -> None:
        self.caplog.clear()
        self.widget.comm.handle_msg({"content": {"comm_id": self.widget.comm.comm_id, "data": data},
                                     "buffers": buffers})
        escaped = [r.getMessage() for r in self.caplog.records if r.getMessage().startswith(ESCAPED)]
        assert not escaped, f"an exception escaped the comm handler: {escaped[0]}"
        self.receive()

    def assert_in_sync(self) -> None:
        """Every synced trait of the view holds the kernel's value."""
        for name, value in self.widget.get_state().items():
            held = self.state[name]
            if isinstance(value, bytes):
                assert bytes(held) == value, f"the view's {name} differs from the kernel's"
            else:
                assert held == value, f"the view's {name} is {held!r}, the kernel's {value!r}"


@pytest.fixture(autouse=True)
def in_tmp_dir(tmp_path, monkeypatch):
    """Widgets autosave edits in the working directory: keep each test's to itself."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def view(session, monkeypatch, caplog):
    caplog.set_level(logging.WARNING)
    monkeypatch.setattr(comm, "create_comm", RecordingComm)
    session.shift("1", (1.0, 0.0))  # an edit to lose, if anything were lost
    session.select([4, 8])
    assert len(session.labels) == N
    return FrontEnd(session.widget(), caplog)


WATCHED_TRAITS = ("positions", "targets", "targets_version", "targets_delta", "selection", "split", "finetune_config")


def state_of(session):
    """What a refused message must leave as it was: the session's edits and the widget's traits."""
    widget = session.widget()
    return {
        "edits": len(session.edits.edits), "targets": session.targets.copy(), "selection": session.selection.copy(),
        "positions": session.positions.copy(), "can_undo": session.edits.can_undo,
        **{f"widget.{name}": getattr(widget, name) for name in WATCHED_TRAITS},
    }


def assert_refused(view, session, before, message):
    """The error reached the view, nothing changed, and the view holds what the kernel holds."""
    widget = session.widget()
    assert message in widget.error
    assert view.state["error"] == widget.error
    after = state_of(session)
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)
    view.assert_in_sync()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_drag_to_a_non_finite_target_is_refused(view, session, bad):
    before = state_of(session)
    view.send({"type": "move"}, [u32([5, 9]), f32([[1.0, 2.0], [bad, 0.0]])])
    assert_refused(view, session, before, "targets must be finite")


@pytest.mark.parametrize("content, message", [
    ({"type": "shift", "class": "3", "delta": [None, 1]}, "delta must be two numbers [dx, dy], got [None, 1]"),
    ({"type": "shift", "class": "3", "delta": [float("nan"), 1]}, "delta must be finite"),
    ({"type": "shift", "class": "3", "delta": [1, -float("inf")]}, "delta must be finite"),
    ({"type": "shift", "class": "3", "delta": "1,1"}, "delta must be two numbers"),
    ({"type": "shift", "class": "3", "delta": [True, 1]}, "delta must be two numbers"),
    ({"type": "shift", "class": "3"}, "delta must be two numbers [dx, dy], got None"),
    ({"type": "contract", "class": "3", "kappa": None}, "kappa must be a number, got None"),
    ({"type": "contract", "class": "3", "kappa": float("inf")}, "kappa must be finite"),
    ({"type": "contract", "class": "3", "kappa": "0.5"}, "kappa must be a number, got '0.5'"),
    ({"type": "contract", "class": "3"}, "kappa must be a number, got None"),
])
def test_an_exact_edit_with_a_missing_or_non_finite_number_is_refused(view, session, content, message):
    # JSON.stringify writes NaN and Infinity as null; Python's json reads NaN and Infinity too.
    before = state_of(session)
    view.send(content)
    assert_refused(view, session, before, message)


@pytest.mark.parametrize("content, indices, message", [
    ({"type": "move"}, [2**32 - 1], f"indices must be in [0, {N - 1}], got values from 4294967295"),  # -1 as uint32
    ({"type": "move"}, [3, N], f"indices must be in [0, {N - 1}]"),
    ({"type": "move"}, [5, 5], "indices of a move must not repeat"),
    ({"type": "shift", "delta": [1, 1]}, [0, 2**32 - 1], f"indices must be in [0, {N - 1}]"),
    ({"type": "contract", "kappa": 0.5}, [N], f"indices must be in [0, {N - 1}]"),
    ({"type": "contract", "kappa": 0.5}, [], "select points before editing them"),
])
def test_an_edit_of_bad_indices_is_refused(view, session, content, indices, message):
    before = state_of(session)
    buffers = [u32(indices)] + ([f32(np.ones((len(indices), 2)))] if content["type"] == "move" else [])
    view.send(content, buffers)
    assert_refused(view, session, before, message)


def test_repeated_indices_in_a_shift_or_a_selection_count_once(view, session):
    a, b = np.flatnonzero(session.labels != 1)[:2]  # points the fixture's edit left alone
    view.send({"type": "shift", "delta": [2, 0]}, [u32([b, a, b, b])])
    view.set(selection=u32([9, 2, 9]))
    assert view.widget.error == ""
    edited = np.flatnonzero(np.isfinite(session.targets[:, 0]) & (session.labels != 1))
    np.testing.assert_array_equal(edited, [a, b])
    np.testing.assert_allclose(session.targets[[a, b]], session.positions[[a, b]] + np.float32([2, 0]))
    np.testing.assert_array_equal(session.selection, [2, 9])
    view.assert_in_sync()  # the view is sent the selection as the kernel holds it: [2, 9]
    assert bytes(view.state["selection"]) == bytes(u32([2, 9]))


@pytest.mark.parametrize("indices, message", [
    ([1, 2**32 - 1], f"selection must be integer indices in [0, {N - 1}]"),
    ([N], f"selection must be integer indices in [0, {N - 1}]"),
])
def test_a_selection_of_bad_indices_is_refused_and_sent_back(view, session, indices, message):
    before = state_of(session)
    view.set(selection=u32(indices))
    assert_refused(view, session, before, message)
    assert bytes(view.state["selection"]) == bytes(u32([4, 8]))


@pytest.mark.parametrize("content, buffers, message", [
    ({"type": "move"}, [u32([1]), memoryview(b"\0" * 6)], "move targets: 6 bytes is not a whole number of float32"),
    ({"type": "move"}, [memoryview(b"\0" * 5), f32([0, 0])], "move indices: 5 bytes is not a whole number of uint32"),
    ({"type": "contract", "kappa": 0.5}, [memoryview(b"\0" * 7)], "edit indices: 7 bytes is not a whole number"),
    ({"type": "move"}, [u32([1, 2]), f32([0, 0, 1])], "a move of 2 points needs 4 target values, got 3"),
    ({"type": "move"}, [u32([1, 2]), f32([0, 0, 1, 1, 2, 2])], "a move of 2 points needs 4 target values, got 6"),
    ({"type": "move"}, [u32([1]), f32([0, 0]), f32([0, 0])], "a move needs 2 buffers (indices, targets), got 3"),
    ({"type": "move"}, None, "a move needs 2 buffers (indices, targets), got 0"),
    ({"type": "shift", "delta": [1, 1]}, [u32([1]), u32([2])],
     "an edit of the selection needs 1 buffer (indices), got 2"),
    ({"type": "shift", "delta": [1, 1]}, [u32(np.arange(N + 1) % N)],
     f"edit indices: {4 * N + 4:,} bytes is more than the {N:,} uint32 items ({4 * N:,} bytes) it can hold"),
    ({"type": "move"}, [u32([1]), f32(np.zeros(2 * N + 2))],
     f"move targets: {8 * N + 8:,} bytes is more than the {2 * N:,} float32 items"),
])
def test_a_buffer_of_the_wrong_length_is_refused(view, session, content, buffers, message):
    before = state_of(session)
    view.send(content, buffers)
    assert_refused(view, session, before, message)


def test_a_selection_of_a_partial_item_is_refused(view, session):
    before = state_of(session)
    view.set(selection=memoryview(b"\1\0\0"))
    assert_refused(view, session, before, "selection: 3 bytes is not a whole number of uint32 items")


@pytest.mark.parametrize("content, buffers", [
    ({"type": "move"}, [memoryview(bytes(BIG)), f32([0, 0])]),
    ({"type": "contract", "kappa": 0.5}, [memoryview(bytes(BIG))]),
])
def test_a_50_mb_buffer_is_refused_unread(view, session, content, buffers):
    before = state_of(session)
    tracemalloc.start()
    try:
        view.send(content, buffers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # decoding it would take 50 MB as uint32 and 100 MB more as int64
    name = "move indices" if content["type"] == "move" else "edit indices"
    assert_refused(view, session, before, f"{name}: 52,428,800 bytes is more than the {N:,} uint32 items "
                                          f"({4 * N:,} bytes) it can hold; nothing was read")


def test_a_50_mb_selection_is_refused_unread(view, session):
    before = state_of(session)
    big = memoryview(bytes(BIG))
    tracemalloc.start()
    try:
        view.set(selection=big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.2 * BIG  # the trait's one copy of the bytes; decoding would add 150 MB
    assert_refused(view, session, before, f"selection: 52,428,800 bytes is more than the {N:,} uint32 items")
    assert len(view.widget.selection) == 8


@pytest.mark.parametrize("content, message", [
    ({"type": "explode"}, "unknown message type 'explode' from the view"),
    ({}, "unknown message type None from the view"),
    ({"type": None}, "unknown message type None from the view"),
    ({"type": ["move"]}, "unknown message type ['move'] from the view"),
    ({"kind": "move"}, "unknown message type None from the view"),
    ("move", "a message from the view must be an object with a 'type', got 'move'"),
    (["move"], "a message from the view must be an object with a 'type', got ['move']"),
    (None, "a message from the view must be an object with a 'type', got None"),
    ({"type": "neighbors"}, "index must be an integer, got None"),
    ({"type": "neighbors", "index": 2.0}, "index must be an integer, got 2.0"),
    ({"type": "neighbors", "index": -1}, f"index must be in [0, {N - 1}], got -1"),
    ({"type": "shift", "class": ["3"], "delta": [1, 1]}, "class must be a class name, got ['3']"),
    ({"type": "shift", "class": "3", "delta": [1, 1, 1]}, "delta must be two numbers [dx, dy], got [1, 1, 1]"),
])
def test_an_unknown_or_malformed_message_is_refused(view, session, content, message):
    before = state_of(session)
    view.send(content)
    assert_refused(view, session, before, message)


def test_a_huge_value_in_a_message_gives_a_short_error(view, session):
    before = state_of(session)
    view.send({"type": "x" * 1_000_000})
    assert_refused(view, session, before, "unknown message type 'xxxxxxxxxxxx")
    view.send({"type": "shift", "class": "3", "delta": list(range(100_000))})
    assert_refused(view, session, before, "delta must be two numbers [dx, dy], got [0, 1, 2, 3, 4, 5, ...]")
    assert len(view.widget.error) < 200


@pytest.mark.parametrize("state, message", [
    ({"finetune_config": {**DEFAULT_CONFIG, "epochs": 1.5}}, "epochs must be a positive integer, got 1.5"),
    ({"finetune_config": {**DEFAULT_CONFIG, "lam": "half"}}, "lam must be a number, got 'half'"),
    ({"finetune_config": {**DEFAULT_CONFIG, "lr": None}}, "lr must be a number, got None"),  # JSON null: NaN
    ({"finetune_config": {"epochs": 2, "steps": 9}}, "unknown fine-tuning option(s) ['steps']"),
    ({"finetune_config": "fast"}, "The 'finetune_config' trait of a PLSDWidget instance expected a dict, not the str"),
    ({"split": "validation"}, "split must be 'train' or 'test', got 'validation'"),
    ({"point_size": 1000.0}, "The value of the 'point_size' trait of a PLSDWidget instance should not be greater"),
    ({"selection": None}, "The 'selection' trait of a PLSDWidget instance expected a bytes-like object"),
    ({"positions": memoryview(bytes(16))}, "the view may not set positions; the kernel keeps them"),
    ({"targets": memoryview(bytes(8)), "targets_version": 99}, "the view may not set targets, targets_version"),
])
def test_a_trait_value_the_kernel_refuses_is_shown_and_sent_back(view, session, state, message):
    before = state_of(session)
    view.set(**state)
    assert_refused(view, session, before, message)


def test_a_refused_trait_does_not_undo_the_allowed_ones_sent_with_it(view, session):
    view.set(targets=memoryview(bytes(8)), finetune_config={**DEFAULT_CONFIG, "epochs": 3, "lam": 0.25})
    assert "the view may not set targets" in view.widget.error
    assert view.widget.finetune_config == {**DEFAULT_CONFIG, "epochs": 3, "lam": 0.25}
    view.assert_in_sync()
    view.set(error="")  # the view's dismiss button
    assert view.widget.error == "" and view.state["error"] == ""


@pytest.mark.parametrize("content, buffers", [
    ({"type": "move"}, [u32([5]), f32([[1, 1]])]),
    ({"type": "shift", "class": "3", "delta": [1, 1]}, []),
    ({"type": "contract", "kappa": 0.5}, [u32([1, 2, 3])]),
    ({"type": "undo"}, []),
    ({"type": "redo"}, []),
    ({"type": "reset"}, []),
    ({"type": "restore"}, []),
])
def test_an_edit_while_the_test_split_is_shown_is_refused(view, session, content, buffers):
    view.send({"type": "shift", "class": "5", "delta": [0, 1]})
    view.send({"type": "undo"})  # now every one of these messages would change something
    assert view.widget.can_undo and view.widget.can_redo
    view.set(split="test")
    assert view.widget.error == "" and view.widget.targets == b""
    before = state_of(session)
    view.send(content, buffers)
    assert_refused(view, session, before, "selections and edits work on the train split; "
                                          "switch the view back to train")
    view.set(split="train")
    view.assert_in_sync()  # the view holds the train split's targets again


def test_a_selection_while_the_test_split_is_shown_is_refused(view, session):
    view.set(split="test")
    before = state_of(session)
    view.set(selection=u32([1, 2]))
    assert_refused(view, session, before, "switch the view back to train")
    assert bytes(view.state["selection"]) == b""


def test_a_refused_edit_sends_the_view_nothing_but_the_error(view, session):
    """The view never applies an edit itself (a drag is a preview until the kernel's targets
    arrive), so a refused one must not touch its positions or targets: only the error travels."""
    sent = len(view.widget.comm.messages)
    view.send({"type": "move"}, [u32([5]), f32([[np.nan, 0]])])
    updates = [data for data, _ in view.widget.comm.messages[sent:]]
    assert [set(data["state"]) for data in updates] == [{"error"}]


def test_an_edit_while_fine_tuning_runs_leaves_view_and_kernel_agreeing(view, session):
    # Session refuses it; the log is whole and the view holds exactly the kernel's targets,
    # positions and error afterwards.
    view.set(finetune_config={**DEFAULT_CONFIG, "epochs": 2})
    view.send({"type": "finetune"})
    assert session.is_training and view.widget.training
    view.send({"type": "move"}, [u32([5, 9]), f32([[1, 1], [2, 2]])])
    assert session.wait(timeout=120) and session.last_error is None
    view.receive()
    assert "fine-tuning is running" in view.widget.error and len(session.edits.edits) == 1
    assert not view.widget.training and view.widget.status.startswith("done: 2/2")
    view.assert_in_sync()


@pytest.mark.parametrize("content", [
    {"type": "shift", "class": "3", "delta": [1e308, 0]},
    {"type": "contract", "class": "3", "kappa": 1e39},
])
def test_an_edit_that_overflows_float32_is_refused(view, session, content):
    before = state_of(session)
    view.send(content)
    assert_refused(view, session, before, "finite")
