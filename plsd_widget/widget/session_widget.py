"""``PLSDWidget``: the anywidget view of a :class:`~plsd_widget.session.Session`.

Traits carry state (positions, targets, selection, training status, the fine-tuning
configuration); messages carry the user's actions (``widget/messages.py``). This module
declares the traits and wires them to the session. Every edit goes through the session's
``EditLog``: no edit state lives only in the browser.
"""

from __future__ import annotations

import logging
import pathlib
import threading
import time

import anywidget
import numpy as np
import traitlets

from plsd_widget.config import CONTOUR_LEVEL, PAPER_CONTOUR_LEVEL, PRESETS, FinetuneConfig
from plsd_widget.contours import check_contour_level
from plsd_widget.palette import class_colors
from plsd_widget.widget import inspect_panel, messages, tables
from plsd_widget.widget.autosave import Autosave
from plsd_widget.widget.binary import Buffer, array_to_bytes, bytes_to_array, label_dtype
from plsd_widget.widget.gallery import SHOW_CHOICES, shown_snapshot, sync_runs
from plsd_widget.widget.geometry import class_grid, crowding_warning, packed_contours, square_bounds
from plsd_widget.widget.outlines import encode_outlines
from plsd_widget.widget.targets_sync import TargetsSync
from plsd_widget.widget.thumbnails import sprite_atlas

logger = logging.getLogger(__name__)

STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"
PROGRESS_INTERVAL_S = 0.25  # latest wins: at most a few progress pushes per second
# The traits the view writes (controls.js, inspect.js, widget.js); the kernel owns every other one.
VIEW_WRITES = frozenset({"selection", "split", "error", "show_contours", "contour_level", "finetune_config", "recipe",
                         "point_size", "opacity", "saliency", "suggest_n", "suggest_balanced", "show"})
CUSTOM_RECIPE = "custom"  # the recipe of a config that equals no preset


def _bundle(name: str) -> pathlib.Path:
    path = STATIC / name
    if not path.is_file():
        raise FileNotFoundError(
            f"the widget's front-end bundle {path} is missing. Build it from the repository root "
            "with `npm ci && npm run build` (or `make setup`), or install a built wheel."
        )
    return path


class PLSDWidget(anywidget.AnyWidget):
    """Scatter of a session's embedding: select, drag to edit, fine-tune, watch points move.

    Create it with ``session.widget()`` rather than directly; display it as many times
    as you like, every view shows the same state.

    Parameters
    ----------
    session : Session

    Attributes
    ----------
    recipe : {"default", "paper", "custom"}
        The fine-tuning recipe: setting a preset's name writes all its values into
        ``finetune_config`` (:meth:`FinetuneConfig.preset`); the kernel sets it to the preset
        the config equals, or ``"custom"``, whenever the config changes.
    finetune_config : dict
        ``FinetuneConfig.to_dict()`` of the next run (the view's inputs; "Fine-tune" runs it).
    contour_level : str
        Where the contours cut each class's density: a mass fraction such as ``"0.9"``
        (a number is taken too) or ``"1/N"``, the paper's density threshold with N the points
        of the split shown (:func:`plsd_widget.contours.density_contours`).
    autosave : Autosave
        Where the session's edits are autosaved, and an earlier session's edits offered
        back (``widget/autosave.py``).
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
    contours = Buffer().tag(sync=True)  # one outlines packet (widget/outlines.py)
    show_contours = traitlets.Bool(True).tag(sync=True)
    # Where the contours cut each class's density: a mass fraction ("0.9") or the paper's "1/N".
    contour_level = traitlets.Union([traitlets.Unicode(), traitlets.Float()],
                                    default_value=str(CONTOUR_LEVEL)).tag(sync=True)
    can_undo = traitlets.Bool(False).tag(sync=True)
    can_redo = traitlets.Bool(False).tag(sync=True)
    # FinetuneConfig.to_dict() of the next run: the view writes a field at a time, the kernel checks all.
    finetune_config = traitlets.Dict(default_value=FinetuneConfig.default().to_dict()).tag(sync=True)
    # The preset the config equals (picking one writes its values into finetune_config), or "custom".
    recipe = traitlets.Enum((*PRESETS, CUSTOM_RECIPE), FinetuneConfig.default().preset_name()).tag(sync=True)
    # Every preset's FinetuneConfig.to_dict(), for the recipe selector's descriptions (kernel-owned).
    finetune_presets = traitlets.Dict(
        default_value={name: FinetuneConfig.preset(name).to_dict() for name in PRESETS}).tag(sync=True)
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
    subtypes = Buffer().tag(sync=True)  # one outlines packet with the members; empty: none shown
    subtypes_info = traitlets.Unicode("").tag(sync=True)
    recoverable = traitlets.Unicode("").tag(sync=True)
    point_size = traitlets.Float(4.0, min=0.5, max=40.0).tag(sync=True)
    opacity = traitlets.Float(0.85, min=0.05, max=1.0).tag(sync=True)
    has_test = traitlets.Bool(False).tag(sync=True)
    # Figure 2 (widget/gallery.py): whose positions the view shows, and what PLSD fixed.
    show = traitlets.Enum(SHOW_CHOICES, "current").tag(sync=True)
    has_baseline = traitlets.Bool(False).tag(sync=True)
    gallery = Buffer().tag(sync=True)  # one gallery packet; empty: no baseline to compare with
    gallery_split = traitlets.Unicode("").tag(sync=True)

    def __init__(self, session, **kwargs):
        esm, css = _bundle("widget.js"), _bundle("widget.css")
        n_classes = len(session.class_names)
        autosave = Autosave.start(session) if session.autosave is None else Autosave(session)
        super().__init__(
            has_test=session.x_test is not None,
            _esm=esm.read_text(encoding="utf-8"),
            _css=css.read_text(encoding="utf-8"),
            label_dtype=label_dtype(n_classes),
            class_names=list(session.class_names),
            colors=class_colors(n_classes),
            bounds=square_bounds(session.positions),
            metrics_html=tables.metrics_html(session),
            recoverable=autosave.offer,
            error=autosave.error,
            **kwargs,
        )
        self.session = session
        self.autosave = autosave
        self._echo = threading.local()  # set while this thread writes the session's selection back
        self._last_progress = 0.0
        self._atlases = {}
        self._targets_sync = TargetsSync()
        self._sync_split()
        sync_runs(self)
        session.on("positions", lambda **_: self._sync_positions())
        session.on("targets", lambda **_: self._sync_edits())
        session.on("selection", lambda **_: self._sync_selection())
        session.on("progress", self._on_progress)
        session.on("status", self._on_status)
        session.on("metrics", lambda **_: setattr(self, "metrics_html", tables.metrics_html(session)))
        session.on("error", lambda message: setattr(self, "error", message))
        for event in ("positions", "metrics"):  # after each epoch, rollback and baseline
            session.on(event, lambda **_: sync_runs(self))
        self.on_msg(lambda _widget, content, buffers: messages.handle(self, content, buffers))

    @property
    def suggested_indices(self) -> np.ndarray:
        """The points "Suggest" last highlighted to label next (indices into the split shown), int64."""
        return bytes_to_array(self.suggested, np.uint32, "suggested").astype(np.int64)

    # ---- session -> view ------------------------------------------------------------
    @property
    def editing(self) -> bool:
        """Whether the train split's current positions, the ones edits apply to, are shown."""
        return self.split == "train" and self.show == "current"

    def _shown(self):
        """Positions, labels and predictions of the split on display, through the run ``show`` picks."""
        snapshot = shown_snapshot(self.session, self.show)
        if self.split == "train":
            return snapshot.positions, self.session.labels, snapshot.predictions
        return snapshot.test_positions, self.session.y_test, snapshot.test_predictions

    def atlas(self, split: str):
        """``(atlas, side, channels)`` of the split's thumbnails (:func:`sprite_atlas`), made once."""
        if split not in self._atlases:
            self._atlases[split] = sprite_atlas(self.session.x if split == "train" else self.session.x_test)
        return self._atlases[split]

    def _sync_split(self) -> None:
        atlas, side, channels = self.atlas(self.split)
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
        # The crowding warning reuses the train split's grid for every edit; a new contour level, the shown one's.
        self._shown_grid = class_grid(positions, labels)
        if self.editing:
            self._train_grid = self._shown_grid
        with self.hold_sync():
            self.positions = array_to_bytes(positions, np.float32)
            self.predictions = array_to_bytes(predictions, self.label_dtype)
            self._sync_contours()
            self._sync_warning()

    def _sync_contours(self) -> None:
        level = self.contour_level if self.contour_level == PAPER_CONTOUR_LEVEL else float(self.contour_level)
        self.contours = encode_outlines(*packed_contours(*self._shown_grid, level=level))

    def _sync_warning(self) -> None:
        s = self.session
        self.warning = crowding_warning(*self._train_grid, s.labels, s.targets, s.class_names) if self.editing else ""

    def _sync_selection(self) -> None:
        self._echo.active = True
        try:
            self.selection = array_to_bytes(self.session.selection if self.editing else [], np.uint32)
        finally:
            self._echo.active = False

    def _sync_edits(self, full: bool = False) -> None:
        """Push the edit targets: a delta of the points that changed, or the full array."""
        log = self.session.edits
        with self.hold_sync():
            self._sync_warning()
            # Edits and the selection belong to the train split; the test view shows neither.
            if self.editing:
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

    def resync_targets(self) -> None:
        """A view found a gap in the deltas (a new view, a reload): send the full array."""
        if self.editing and self._targets_sync.sent is not None:
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

    @traitlets.validate("show")
    def _check_show(self, proposal):
        show = proposal["value"]
        if show == "baseline" and self.session.baseline_snapshot is None:
            raise traitlets.TraitError("there is no CE baseline to show: run it first (the 'Run CE baseline' "
                                       "button, or session.run_baseline() after the last finetune)")
        return show

    @traitlets.observe("split", "show")
    def _split_changed(self, change) -> None:
        self._sync_split()

    @traitlets.validate("finetune_config")
    def _check_finetune_config(self, proposal):
        try:
            return FinetuneConfig.from_dict(proposal["value"]).to_dict()
        except (TypeError, ValueError) as exc:  # a TraitError, so that set_state rolls the value back
            raise traitlets.TraitError(str(exc)) from exc

    @traitlets.observe("finetune_config")
    def _config_changed(self, change) -> None:
        self.recipe = FinetuneConfig.from_dict(change["new"]).preset_name() or CUSTOM_RECIPE

    @traitlets.validate("recipe")
    def _check_recipe(self, proposal):
        recipe = proposal["value"]
        matching = FinetuneConfig.from_dict(self.finetune_config).preset_name()
        if recipe == CUSTOM_RECIPE and matching is not None:
            raise traitlets.TraitError(
                f"the fine-tuning config holds the {matching!r} preset's values; change one of them (e.g. "
                "widget.finetune_config = {**widget.finetune_config, 'lam': 0.3}) and the recipe turns custom")
        return recipe

    @traitlets.observe("recipe")
    def _recipe_changed(self, change) -> None:
        if change["new"] != CUSTOM_RECIPE:
            self.finetune_config = FinetuneConfig.preset(change["new"]).to_dict()

    @traitlets.validate("contour_level")
    def _check_contour_level(self, proposal):
        level = proposal["value"]
        try:
            level = float(level) if isinstance(level, str) else level  # "0.9" from the view's select
        except ValueError:
            pass  # "1/N", or a word that check_contour_level refuses by name
        try:
            return str(check_contour_level(level))
        except (TypeError, ValueError) as exc:
            raise traitlets.TraitError(f"contour_level: {exc}") from exc

    @traitlets.observe("contour_level")
    def _contour_level_changed(self, change) -> None:
        if hasattr(self, "_shown_grid"):  # not while __init__ takes a contour_level, before the first grid
            self._sync_contours()

    def check_editing(self) -> None:
        """Refuse a selection or an edit while the (read-only) test split is shown."""
        if self.split != "train":
            raise ValueError("selections and edits work on the train split; switch the view back to train")
        if not self.editing:
            raise ValueError(f"selections and edits work on the current (PLSD) positions; the view shows "
                             f"{self.show!r}: switch show back to 'PLSD (current)'")

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
            self.show_error(exc)
            self.send_state([name for name in sync_data if name in self.keys])

    @traitlets.observe("selection")
    def _selection_from_view(self, change) -> None:
        if getattr(self._echo, "active", False):
            return
        try:
            self.check_editing()
            n_points = len(self.session.labels)
            indices = bytes_to_array(change["new"], np.uint32, "selection", n_points).astype(np.int64)
            self.session.select(indices)
        except Exception as exc:
            self.show_error(exc)
            self._sync_selection()

    def show_error(self, exc: BaseException) -> None:
        """Show ``exc`` in the view's error bar, and log it."""
        logger.warning("plsd_widget: %s", exc)
        self.error = f"{type(exc).__name__}: {exc}"
