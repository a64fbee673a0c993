"""``PLSDWidget``: the anywidget view of a :class:`~plsd_widget.session.Session`.

Traits carry state (positions, targets, selection, training status); messages carry
the user's actions (move, shift, contract, neighbours, fine-tune, stop, undo, redo,
reset). Every edit goes through the session's ``EditLog``: no edit state lives only in
the browser.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import reprlib
import threading
import time

import anywidget
import numpy as np
import traitlets

from plsd_widget.edit_files import autosave_path, notebook_name, previous_path
from plsd_widget.density import crowded_targets, grid_contours, grid_densities, pack_contours
from plsd_widget.palette import class_colors
from plsd_widget.widget import inspect_panel
from plsd_widget.widget.binary import Buffer, array_to_bytes, bytes_to_array, label_dtype
from plsd_widget.widget.targets_sync import TargetsSync
from plsd_widget.widget.thumbnails import sprite_atlas

logger = logging.getLogger(__name__)

STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"
PROGRESS_INTERVAL_S = 0.25  # latest wins: at most a few progress pushes per second
BOUNDS_MARGIN = 1.15
CONTOUR_GRID = 128  # plenty for a few hundred pixels; 4x cheaper than 256
EDIT_MESSAGES = ("move", "shift", "contract", "undo", "redo", "reset", "restore")
CROWDED_SHARE = 0.2  # warn when this share of a class's edited points lands in another class
# The traits the view writes (controls.js, widget.js); the kernel owns every other one.
VIEW_WRITES = frozenset({"selection", "split", "error", "show_contours", "epochs", "lam", "lr", "edited_only",
                         "edit_weight", "point_size", "opacity", "saliency", "suggest_n", "suggest_balanced"})


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bundle(name: str) -> pathlib.Path:
    path = STATIC / name
    if not path.is_file():
        raise FileNotFoundError(
            f"the widget's front-end bundle {path} is missing. Build it from the repository root "
            "with `npm ci && npm run build` (or `make setup`), or install a built wheel."
        )
    return path


def square_bounds(positions: np.ndarray) -> list[float]:
    """``[xmin, xmax, ymin, ymax]``: a square around the points with a margin, so the view is undistorted."""
    if len(positions) == 0:
        return [-1.0, 1.0, -1.0, 1.0]
    lo, hi = positions.min(axis=0), positions.max(axis=0)
    centre = (lo + hi) / 2
    half = max(float((hi - lo).max()) / 2 * BOUNDS_MARGIN, 1e-6)
    return [float(centre[0] - half), float(centre[0] + half), float(centre[1] - half), float(centre[1] + half)]


def class_grid(positions: np.ndarray, labels: np.ndarray):
    """Densities of the classes present in ``labels`` and those classes (the grid's rows)."""
    present, codes = np.unique(labels, return_inverse=True)
    return grid_densities(positions, codes, n_classes=len(present), grid_size=CONTOUR_GRID), present


def class_contours(positions: np.ndarray, labels: np.ndarray):
    """Packed density contours of the classes present in ``labels`` (see ``density.pack_contours``)."""
    return packed_contours(*class_grid(positions, labels))


def packed_contours(grid, present):
    """Contours of a ``class_grid`` as one vertex buffer, offsets and class ids for the view."""
    vertices, offsets, classes = pack_contours(grid_contours(grid))
    return vertices, offsets, present[classes].astype(np.uint16)


def crowding_warning(grid, present, labels, targets, class_names) -> str:
    """A warning naming edits whose targets land inside another class's contour, or ``""``."""
    counts = crowded_targets(grid, labels, targets, classes=present, n_classes=len(class_names))
    edited = np.bincount(labels[np.isfinite(targets).all(axis=1)], minlength=len(class_names))
    parts = []
    for a, b in zip(*np.nonzero(counts)):
        if counts[a, b] >= max(1, CROWDED_SHARE * edited[a]):
            parts.append(f"{counts[a, b]} of {edited[a]} edited '{class_names[a]}' points land inside "
                         f"'{class_names[b]}'")
    if not parts:
        return ""
    return "; ".join(parts) + ". Decluttering works best when the target region is empty."


class PLSDWidget(anywidget.AnyWidget):
    """Scatter of a session's embedding: select, drag to edit, fine-tune, watch points move.

    Create it with ``session.widget()`` rather than directly; display it as many times
    as you like, every view shows the same state.

    Parameters
    ----------
    session : Session
    """

    # Declared as traits so the bundle is read when a widget is made (with a clear error
    # if it was never built), not when this module is imported.
    _esm = traitlets.Unicode().tag(sync=True)
    _css = traitlets.Unicode().tag(sync=True)
    positions = Buffer().tag(sync=True)
    # Edit targets: the full array as of targets_version, then one delta per change
    # (widget/targets_sync.py); a view that finds a gap asks for the full array again.
    targets = Buffer().tag(sync=True)
    targets_version = traitlets.Int(0).tag(sync=True)
    targets_delta = Buffer().tag(sync=True)
    labels = Buffer().tag(sync=True)
    label_dtype = traitlets.Unicode("uint8").tag(sync=True)
    predictions = Buffer().tag(sync=True)
    thumbnails = Buffer().tag(sync=True)
    thumbnail_side = traitlets.Int(0).tag(sync=True)
    thumbnail_channels = traitlets.Int(0).tag(sync=True)
    class_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    colors = traitlets.List(traitlets.Unicode()).tag(sync=True)
    bounds = traitlets.List(traitlets.Float(), minlen=4, maxlen=4, default_value=[-1, 1, -1, 1]).tag(sync=True)
    selection = Buffer().tag(sync=True, echo_update=False)
    contour_vertices = Buffer().tag(sync=True)
    contour_offsets = Buffer().tag(sync=True)
    contour_classes = Buffer().tag(sync=True)
    show_contours = traitlets.Bool(True).tag(sync=True)
    can_undo = traitlets.Bool(False).tag(sync=True)
    can_redo = traitlets.Bool(False).tag(sync=True)
    epochs = traitlets.Int(1).tag(sync=True)
    lam = traitlets.Float(0.5).tag(sync=True)
    lr = traitlets.Float(0.01).tag(sync=True)
    edited_only = traitlets.Bool(True).tag(sync=True)
    edit_weight = traitlets.Float(1.0).tag(sync=True)
    training = traitlets.Bool(False).tag(sync=True)
    progress = traitlets.Dict().tag(sync=True)
    status = traitlets.Unicode("ready").tag(sync=True)
    metrics_html = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    warning = traitlets.Unicode("").tag(sync=True)
    split = traitlets.Unicode("train").tag(sync=True)
    neighbors = Buffer().tag(sync=True)
    neighbors_of = traitlets.Int(-1).tag(sync=True)
    neighbor_distances = Buffer().tag(sync=True)
    # Look inside (widget/inspect_panel.py): saliency over the neighbour thumbnails, what to
    # label next, the selection's mean saliency, a class's subtypes.
    saliency = traitlets.Enum(inspect_panel.SALIENCY_KINDS, "off").tag(sync=True)
    neighbor_heat = Buffer().tag(sync=True)
    suggest_n = traitlets.Int(20).tag(sync=True)
    suggest_balanced = traitlets.Bool(False).tag(sync=True)
    suggested = Buffer().tag(sync=True)
    selection_heat = Buffer().tag(sync=True)
    selection_heat_captions = traitlets.List(traitlets.Unicode()).tag(sync=True)
    subtype_vertices = Buffer().tag(sync=True)
    subtype_offsets = Buffer().tag(sync=True)
    subtype_ids = Buffer().tag(sync=True)
    subtype_members = Buffer().tag(sync=True)
    subtype_labels = Buffer().tag(sync=True)
    subtypes_info = traitlets.Unicode("").tag(sync=True)
    recoverable = traitlets.Unicode("").tag(sync=True)
    point_size = traitlets.Float(4.0, min=0.5, max=40.0).tag(sync=True)
    opacity = traitlets.Float(0.85, min=0.05, max=1.0).tag(sync=True)
    has_test = traitlets.Bool(False).tag(sync=True)

    def __init__(self, session, **kwargs):
        esm, css = _bundle("widget.js"), _bundle("widget.css")
        n_classes = len(session.class_names)
        super().__init__(
            has_test=session.x_test is not None,
            _esm=esm.read_text(encoding="utf-8"),
            _css=css.read_text(encoding="utf-8"),
            label_dtype=label_dtype(n_classes),
            class_names=list(session.class_names),
            colors=class_colors(n_classes),
            bounds=square_bounds(session.positions),
            metrics_html=session.metrics_html(),
            **kwargs,
        )
        self.session = session
        self._echo = threading.local()  # set while this thread writes the session's selection back
        self._last_progress = 0.0
        self._atlases = {}
        self._targets_sync = TargetsSync()
        self._previous_edits = self._start_autosave() if session.autosave is None else None
        self._sync_split()
        session.on("positions", lambda: self._sync_positions())
        session.on("targets", lambda: self._sync_edits())
        session.on("selection", lambda: self._sync_selection())
        session.on("progress", self._on_progress)
        session.on("status", self._on_status)
        session.on("metrics", lambda html: setattr(self, "metrics_html", html))
        session.on("error", lambda message: setattr(self, "error", message))
        self.on_msg(self._on_message)

    def _start_autosave(self) -> pathlib.Path | None:
        """Autosave the edit log next to the notebook; offer back what an earlier session saved.

        The file is named after the notebook and the embedding's fingerprint, so only a
        session of the same notebook on the same embedding (e.g. the notebook re-run after
        a dead kernel) sees it; another notebook on that embedding has its own. An earlier file
        is moved aside rather than restored unasked (re-running cells that edit would apply
        those edits twice); the view offers to restore it. One that cannot be read is moved
        aside too, and the view says where: the next edit must not overwrite it.
        """
        path = autosave_path(self.session.fingerprint, notebook_name())
        previous = previous_path(path)
        try:
            if path.exists():
                os.replace(path, previous)  # first: whatever it holds, the next edit must not overwrite it
                data = json.loads(previous.read_text(encoding="utf-8"))
                if not isinstance(data, dict) or not isinstance(data.get("edits"), list):
                    raise ValueError("it is not an edit log")
                if data["edits"]:
                    self.recoverable = (f"{len(data['edits'])} edit(s) of an earlier session on this embedding "
                                        f"were autosaved in {previous}.")
        except (OSError, ValueError) as exc:
            logger.warning("could not read the earlier autosave %s: %s", path, exc)
            self.error = f"could not read the earlier autosave ({exc}); it was kept as {previous}"
        self.session.autosave = path
        return previous if self.recoverable else None

    def _restore_previous(self) -> None:
        if self._previous_edits is None:
            raise ValueError("there are no autosaved edits to restore")
        self.session.load_edits(self._previous_edits)
        self._previous_edits = None
        self.recoverable = ""

    @property
    def suggested_indices(self) -> np.ndarray:
        """The points "Suggest" last highlighted to label next (indices into the split shown), int64."""
        return bytes_to_array(self.suggested, np.uint32, "suggested").astype(np.int64)

    # ---- session -> view ------------------------------------------------------------
    @property
    def _editing(self) -> bool:
        return self.split == "train"

    def _shown(self):
        """Positions, labels and predictions of the split on display."""
        s = self.session
        if self._editing:
            return s.positions, s.labels, s.predictions
        return s.test_positions, s.y_test, s.test_predictions

    def _sync_split(self) -> None:
        x = self.session.x if self._editing else self.session.x_test
        if self.split not in self._atlases:
            self._atlases[self.split] = sprite_atlas(x)
        atlas, side, channels = self._atlases[self.split]
        with self.hold_sync():
            self.neighbors, self.neighbor_distances, self.neighbor_heat, self.neighbors_of = b"", b"", b"", -1
            self.suggested, self.selection_heat, self.selection_heat_captions = b"", b"", []
            inspect_panel.clear_subtypes(self)
            self.labels = array_to_bytes(self._shown()[1], self.label_dtype)
            self.thumbnails = atlas or b""
            self.thumbnail_side, self.thumbnail_channels = side, channels
            self._sync_positions()
            self._sync_edits(full=True)

    def _sync_positions(self) -> None:
        positions, labels, predictions = self._shown()
        grid, present = class_grid(positions, labels)
        if self._editing:
            self._train_grid = grid, present  # the crowding warning reuses it for every edit
        vertices, offsets, classes = packed_contours(grid, present)
        with self.hold_sync():
            self.positions = array_to_bytes(positions, np.float32)
            self.predictions = array_to_bytes(predictions, self.label_dtype)
            self.contour_vertices = array_to_bytes(vertices, np.float32)
            self.contour_offsets = array_to_bytes(offsets, np.uint32)
            self.contour_classes = array_to_bytes(classes, np.uint16)
            self._sync_warning()

    def _sync_warning(self) -> None:
        s = self.session
        self.warning = crowding_warning(*self._train_grid, s.labels, s.targets, s.class_names) if self._editing else ""

    def _sync_selection(self) -> None:
        self._echo.active = True
        try:
            self.selection = array_to_bytes(self.session.selection if self._editing else [], np.uint32)
        finally:
            self._echo.active = False

    def _sync_edits(self, full: bool = False) -> None:
        """Push the edit targets: a delta of the points that changed, or the full array."""
        log = self.session.edits
        with self.hold_sync():
            self._sync_warning()
            # Edits and the selection belong to the train split; the test view shows neither.
            if self._editing:
                self._set_targets(self._targets_sync.update(self.session.targets, full=full))
            else:
                self._set_targets({"targets": b"", "targets_version": self._targets_sync.version})
            self._sync_selection()
            self.can_undo = log.can_undo
            self.can_redo = log.can_redo

    def _set_targets(self, update: dict) -> None:
        # Called inside hold_sync(): a view gets the full array and its version in one message.
        for name in ("targets", "targets_version", "targets_delta"):
            if name in update:
                setattr(self, name, update[name])

    def _resync_targets(self) -> None:
        """A view found a gap in the deltas (a new view, a reload): send the full array."""
        if self._editing and self._targets_sync.sent is not None:
            with self.hold_sync():
                self._set_targets(self._targets_sync.full())

    def _on_progress(self, **logs) -> None:
        now = time.monotonic()
        last_batch = logs["batch"] == logs["n_batches"]
        if last_batch or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.progress = {k: (float(v) if k in ("loss", "ce", "emb") else int(v)) for k, v in logs.items()}

    def _on_status(self, message: str, training: bool) -> None:
        with self.hold_sync():
            if training and not self.training:  # a new run clears the last error; its own statuses do not
                self.error = ""
            self.status = message
            self.training = training

    # ---- view -> session ------------------------------------------------------------
    @traitlets.validate("split")
    def _check_split(self, proposal):
        split = proposal["value"]
        if split not in ("train", "test"):
            raise traitlets.TraitError(f"split must be 'train' or 'test', got {split!r}")
        if split == "test" and self.session.x_test is None:
            raise traitlets.TraitError("this session has no test split; pass x_test and y_test to Session")
        return split

    @traitlets.observe("split")
    def _split_changed(self, change) -> None:
        self._sync_split()

    def _check_editing(self) -> None:
        if not self._editing:
            raise ValueError("selections and edits work on the train split; switch the view back to train")

    @property
    def _n_points(self) -> int:
        """Points of the train split: no index buffer from the view may hold more indices."""
        return len(self.session.labels)

    def set_state(self, sync_data) -> None:
        """Take the traits a view wrote; show what is refused and send the kernel's values back.

        Without this a value the traits refuse (a wrong type, a trait only the kernel
        writes) raised inside the comm handler, where ipywidgets only logs it, and the view
        went on showing a value the kernel never took.
        """
        own = PLSDWidget.class_own_traits(sync=True)  # not type(self): anywidget's add_traits subclasses each instance
        refused = sorted(name for name in sync_data if name in own and name not in VIEW_WRITES)
        try:
            super().set_state({name: value for name, value in sync_data.items() if name not in refused})
            if refused:
                raise ValueError(f"the view may not set {', '.join(refused)}; the kernel keeps them")
        except Exception as exc:
            self._show_error(exc)
            self.send_state([name for name in sync_data if name in self.keys])

    @traitlets.observe("selection")
    def _selection_from_view(self, change) -> None:
        if getattr(self._echo, "active", False):
            return
        try:
            self._check_editing()
            indices = bytes_to_array(change["new"], np.uint32, "selection", self._n_points).astype(np.int64)
            self.session.select(indices)
        except Exception as exc:
            self._show_error(exc)
            self._sync_selection()

    def _on_message(self, _widget, content, buffers) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        buffers = buffers or []
        try:
            if not isinstance(content, dict):
                raise ValueError(f"a message from the view must be an object with a 'type', "
                                 f"got {reprlib.repr(content)}")
            if kind in EDIT_MESSAGES:
                self._check_editing()
            if kind == "move":
                self._apply_move(buffers)
            elif kind == "shift":
                self._apply_shift(content, buffers)
            elif kind == "contract":
                self._apply_contract(content, buffers)
            elif kind == "restore":
                self._restore_previous()
            elif kind == "dismiss_restore":
                self._previous_edits = None
                self.recoverable = ""
            elif kind == "resync_targets":  # not a user action: leaves any error shown
                self._resync_targets()
                return
            elif kind == "neighbors":
                inspect_panel.show_neighbors(self, content.get("index"))
            elif kind == "suggest":
                inspect_panel.suggest(self)
            elif kind == "selection_saliency":
                inspect_panel.selection_saliency(self, buffers)
            elif kind == "subtypes":
                inspect_panel.show_subtypes(self, content)
            elif kind == "finetune":
                self.session.finetune(epochs=self.epochs, lam=self.lam, edited_only=self.edited_only, lr=self.lr,
                                      edit_weight=self.edit_weight)
            elif kind == "stop":
                self.session.stop()
            elif kind == "undo":
                self.session.undo()
            elif kind == "redo":
                self.session.redo()
            elif kind == "reset":
                self.session.reset_edits()
            else:
                raise ValueError(f"unknown message type {reprlib.repr(kind)} from the view")
            self.error = ""
        except Exception as exc:
            self._show_error(exc)

    def _apply_move(self, buffers) -> None:
        if len(buffers) != 2:
            raise ValueError(f"a move needs 2 buffers (indices, targets), got {len(buffers)}")
        indices = bytes_to_array(buffers[0], np.uint32, "move indices", self._n_points).astype(np.int64)
        targets = bytes_to_array(buffers[1], np.float32, "move targets", 2 * self._n_points)
        if targets.size != 2 * indices.size:
            raise ValueError(f"a move of {indices.size} points needs {2 * indices.size} target values, "
                             f"got {targets.size}")
        self.session.move_points(indices, targets.reshape(-1, 2))

    def _edit_target(self, content, buffers):
        """A class name (``content["class"]``) or the indices in the one buffer."""
        if "class" in content:
            if buffers:
                raise ValueError("an edit names a class or sends indices, not both")
            if not isinstance(content["class"], str):
                raise ValueError(f"class must be a class name, got {reprlib.repr(content['class'])}")
            return content["class"]
        if len(buffers) != 1:
            raise ValueError(f"an edit of the selection needs 1 buffer (indices), got {len(buffers)}")
        indices = bytes_to_array(buffers[0], np.uint32, "edit indices", self._n_points).astype(np.int64)
        if indices.size == 0:
            raise ValueError("select points before editing them")
        return indices

    def _apply_shift(self, content, buffers) -> None:
        delta = content.get("delta")
        if not (isinstance(delta, list) and len(delta) == 2 and all(_is_number(v) for v in delta)):
            raise ValueError(f"delta must be two numbers [dx, dy], got {reprlib.repr(delta)}")
        self.session.shift(self._edit_target(content, buffers), tuple(float(v) for v in delta))

    def _apply_contract(self, content, buffers) -> None:
        kappa = content.get("kappa")
        if not _is_number(kappa):
            raise ValueError(f"kappa must be a number, got {reprlib.repr(kappa)}")
        self.session.contract(self._edit_target(content, buffers), float(kappa))

    def _show_error(self, exc: BaseException) -> None:
        logger.warning("plsd_widget: %s", exc)
        self.error = f"{type(exc).__name__}: {exc}"
