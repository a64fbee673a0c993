"""``Session``: the user-facing object, a thin front over the named parts of a session.

- :mod:`~plsd_widget.session.snapshot`: what the model shows at one epoch, frozen;
  :mod:`~plsd_widget.session.views`: the start, current and baseline snapshots (the current
  one replaced by one assignment after each epoch or rollback);
- :mod:`~plsd_widget.session.runner`: the worker thread of fine-tuning and the baseline,
  stop, wait, rollback, history; :mod:`~plsd_widget.session.checkpoints` in bounded memory;
- :mod:`~plsd_widget.session.editing`: edits, selection, edit files, autosave;
- :mod:`~plsd_widget.session.events`: ``on`` / ``off``;
- :mod:`~plsd_widget.session.inspection`: neighbours, diverse picks, saliency, subtypes.

The members that edit and select come from :class:`~plsd_widget.session.editing.EditingFront`,
those that look inside from :class:`~plsd_widget.session.inspection.InspectionFront`: each
face of the front lives beside the part it fronts. The widget only listens to the events
and calls the methods. This package never imports ipywidgets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plsd_widget.activations import activations_and_predictions, get_layer
from plsd_widget.config import DEVICE, PERPLEXITY, RANDOM_STATE, FinetuneConfig, resolve_config
from plsd_widget.declutter import DeclutterTable
from plsd_widget.finetune.loss import embedding_scale
from plsd_widget.labels import encode_labels
from plsd_widget.metrics import MetricsTable, resolve_groups
from plsd_widget.session.checkpoints import Checkpoints
from plsd_widget.session.editing import Editor, EditingFront
from plsd_widget.session.events import Events
from plsd_widget.session.inspection import InspectionFront
from plsd_widget.session.runner import FitData, Runner, build_trainer
from plsd_widget.session.snapshot import Snapshot, SnapshotInputs, start_positions
from plsd_widget.session.views import Views


class Session(EditingFront, InspectionFront):
    """An interactive PLSD session on one classifier layer.

    Parameters
    ----------
    model : torch.nn.Module
        The trained classifier. Fine-tuning updates it in place, one completed epoch at
        a time; ``rollback(0)`` restores the weights it had when the session started.
    layer : str
        Name of the layer ``m`` to embed, as in ``model.named_modules()``.
    x : array-like of shape (n_samples, ...)
        Inputs of the points shown and fine-tuned on.
    y : array-like of shape (n_samples,)
        Class labels: integer class indices, or names of any hashable type (``"LVOT"``,
        ...), which are encoded in the order of ``class_names`` or else sorted
        (:func:`plsd_widget.labels.encode_labels`); ``session.labels`` holds the indices.
    x_test, y_test : array-like, optional
        A held-out split for the metrics; without it metrics use ``x``, ``y``.
    class_names : list, optional
        For integer labels the name of each class, ``"0"``, ``"1"``, ... by default; for
        named labels the classes in the order wanted, the labels sorted by default.
    embedding : ParametricTSNE, optional
        An already fitted embedding of this layer; otherwise one is fitted here.
    perplexity : float, default=50
        Perplexity of the embedding fitted here (``plsd_widget.config.PERPLEXITY``).
    device : str, default="auto"
    random_state : int, default=0
    verbose : bool, default=False
        Show progress bars while fitting the embedding.
    autosave : str or Path, optional
        A JSON file for the edit log. Edits saved there by an earlier session on the same
        embedding are restored, and every change (edit, undo, redo, reset) is written to
        it at once, atomically, so a dead kernel loses no edit. A file that cannot be
        restored (not an edit log, or of another embedding) stops the session with a
        ``ValueError`` and is left as it is. Relative paths are taken from the working
        directory, which in JupyterLab is the notebook's folder.
    checkpoint_dir : str or Path, optional
        Where the folder of the epochs' weights is made (default: the system's temporary
        folder); it is removed by ``close()`` or when the session is garbage-collected.

    Attributes
    ----------
    config : FinetuneConfig
        The recipe of the last ``finetune``; ``run_baseline`` reuses it with λ = 0.
    """

    def __init__(self, model, layer, x, y, *, x_test=None, y_test=None, class_names=None, embedding=None,
                 perplexity=PERPLEXITY, device=DEVICE, random_state=RANDOM_STATE, verbose=False, autosave=None,
                 checkpoint_dir=None):
        get_layer(model, layer)
        self.model, self.layer = model, layer
        self.x = np.asarray(x, dtype=np.float32)
        if (x_test is None) != (y_test is None):
            raise ValueError("pass both x_test and y_test, or neither")
        self.x_test = None if x_test is None else np.asarray(x_test, dtype=np.float32)
        self.y, self.y_test, self.class_names = encode_labels(
            y, len(self.x), y_test=y_test, n_test=0 if self.x_test is None else len(self.x_test),
            class_names=class_names)
        self.device, self.random_state = device, random_state
        self.config = FinetuneConfig.default()
        H, predictions = activations_and_predictions(model, layer, self.x)
        self.embedding = self._fitted(embedding, H, perplexity, verbose)
        positions, offsets = start_positions(self.embedding, H)
        self.embedding_scale = embedding_scale(positions)
        inputs = SnapshotInputs(layer, self.embedding, offsets, self.x_test,
                                self.y if self.y_test is None else self.y_test, len(self.class_names))
        self._events = Events()
        self._runner = Runner(model, Checkpoints(model.state_dict(), checkpoint_dir), self._events)
        self._views = Views(inputs, model, self.x, self._runner, (H, positions, predictions))
        self._editor = Editor(self._views.start.positions, self.y, self.class_names, events=self._events,
                              ensure_idle=self._runner.ensure_idle, autosave=autosave)
        self._groups = None

    def _fitted(self, embedding, H, perplexity, verbose):
        """``embedding``, or one fitted here on the activations; the numba kernels warmed up either way."""
        from plsd_widget.embedding import ParametricTSNE
        from plsd_widget.embedding.warm_up import start_warm_up

        if embedding is not None:
            start_warm_up()  # a fit starts it by itself
            return embedding
        return ParametricTSNE(perplexity=perplexity, random_state=self.random_state, device=self.device,
                              verbose=verbose).fit(H)

    # ---- the current state ------------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        """What the model shows at its current epoch (:class:`~plsd_widget.session.snapshot.Snapshot`)."""
        return self._views.current

    @property
    def start_snapshot(self) -> Snapshot:
        """What the model showed with its start weights, where the edits were made."""
        return self._views.start

    @property
    def positions(self) -> np.ndarray:
        """Current embedding of ``x``, ``encoder(C_m(x)) + offsets``, (n, 2) float32, read-only."""
        return self._views.current.positions

    @property
    def offsets(self) -> np.ndarray:
        """Per-point offsets between the encoder's output and ``positions``, (n, 2) float32, read-only.

        Zero unless the embedding was fitted on these very activations with scheme "distil":
        then the points start at its t-SNE layout and keep their ``offsets_`` as fine-tuning
        moves the encoder's output. Pass it to ``PLSDTrainer.fit(offsets=...)`` with the targets.
        """
        return self._views.inputs.offsets

    @property
    def activations(self) -> np.ndarray:
        """The current model's activations of ``x`` at ``layer``, (n, n_features) float32 (shared: do not change)."""
        return self._views.current.activations

    @property
    def test_activations(self) -> np.ndarray | None:
        """The current model's activations of ``x_test`` (computed on first use); None without one."""
        return self._views.current.test_activations

    @property
    def predictions(self) -> np.ndarray:
        """The current model's predicted class for each point of ``x``, shape (n,)."""
        return self._views.current.predictions

    @property
    def test_positions(self) -> np.ndarray | None:
        """Embedding of ``x_test`` through the current model (as ``ParametricTSNE.transform`` places new
        points), (n_test, 2) float32; None without one."""
        return self._views.current.test_positions

    @property
    def test_predictions(self) -> np.ndarray | None:
        """The current model's predictions on ``x_test``, (n_test,); None without a test split."""
        return self._views.current.test_predictions

    @property
    def labels(self) -> np.ndarray:
        """Integer class labels of ``x``, shape (n,)."""
        return self.y

    # ---- runs -------------------------------------------------------------------------
    @property
    def checkpoints(self) -> Checkpoints:
        """Model state dicts: the start weights, then one per completed epoch (``len`` = 1 + epochs)."""
        return self._runner.checkpoints

    @property
    def start_weights(self) -> dict:
        """The model's state dict when the session started (the weights the edits were made on)."""
        return self.checkpoints[0]

    @property
    def history(self) -> list[dict]:
        """Per completed epoch: ``epoch`` (its index in ``checkpoints``) and its mean ``loss``, ``ce``, ``emb``."""
        return self._runner.history

    @property
    def last_error(self) -> BaseException | None:
        """What ended the last run (fine-tuning or baseline), if it failed."""
        return self._runner.last_error

    @property
    def is_training(self) -> bool:
        """Whether a run (fine-tuning or the baseline) goes on; False from its last "status" event on."""
        return self._runner.kind is not None

    def ensure_idle(self, what: str) -> None:
        """Raise a ``RuntimeError`` saying to stop or wait for the run, if one goes on, before ``what``."""
        self._runner.ensure_idle(what)

    def finetune(self, config=None, *, block: bool = False, **overrides):
        """Fine-tune the classifier with the PLSD loss toward the current edit targets.

        Runs in a worker thread and returns at once unless ``block=True``; positions
        and metrics update after each epoch (listen with ``on``). ``stop()`` ends the
        run within one batch, keeping the last completed epoch.

        Parameters
        ----------
        config : FinetuneConfig or str, optional
            The recipe (:class:`~plsd_widget.config.FinetuneConfig`), or a preset's name
            (``"default"``, ``"paper"``); None is the default recipe. Not carried over from
            an earlier call: each call states its own.
        block : bool, default=False
            Wait for the run to finish and re-raise any error it met.
        **overrides
            Fields of the config to change for this run (``epochs``, ``lam``, ``lr``,
            ``anchor``, ``edited_only``, ``edit_weight``, ``batch_size``, ``optimizer``, ...),
            e.g. ``session.finetune(epochs=5, lam=0.5)``. ``run_baseline`` reuses the
            run's config with λ = 0.
        """
        self.ensure_idle("starting another run")
        config = resolve_config(config, **overrides)
        trainer = self._trainer(self.model, config, random_state=self.random_state + len(self.checkpoints))
        data = FitData(self.x, self.y, self.targets, self.positions, self.offsets)
        trainer.prepare_targets(data.targets, data.positions)  # validate before starting the thread
        self.config = config
        self._runner.finetune(trainer, data, on_epoch=self._refresh, block=block)

    def run_baseline(self, *, block: bool = False) -> None:
        """Train the starting model with cross-entropy only for as many epochs as PLSD ran.

        Same learning rate, batch size and optimiser options as the last ``finetune``.
        The result appears as "baseline (CE)" in ``metrics`` and ``declutter``, the fair
        comparison for PLSD, until PLSD epochs are added or rolled back; then run it again.
        Runs in the worker thread like ``finetune`` and returns at once unless ``block=True``
        (which waits and re-raises any error); ``stop()`` ends it within one batch,
        leaving no baseline (nor changing an earlier one).
        """
        self.ensure_idle("running the baseline")
        epochs = len(self.checkpoints) - 1
        if epochs < 1:
            raise ValueError("run finetune() first: the baseline trains for as many epochs as PLSD did")
        config = self.config.replace(lam=0.0, anchor=0.0, edit_weight=1.0, epochs=epochs)
        trainer = self._trainer(self._runner.model_at(0), config, random_state=self.random_state + 1)
        data = FitData(self.x, self.y, np.full((len(self.y), 2), np.nan, np.float32))
        self._runner.baseline(trainer, data, on_done=self._baseline_done, block=block)

    def stop(self) -> None:
        """Ask a running fine-tuning or baseline to stop; it does within one batch."""
        self._runner.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the worker; returns True if no run is going on anymore."""
        return self._runner.wait(timeout)

    def rollback(self, epoch: int = 0) -> None:
        """Restore the model to its weights after epoch ``epoch`` (0 = the start); later checkpoints,
        their ``history`` and a baseline of more epochs go."""
        self._runner.rollback(epoch)
        self._refresh()

    def close(self) -> None:
        """Stop any run, remove the checkpoints' folder (as garbage collection does) and clear the history;
        the model keeps its weights, ``rollback(0)`` still restores the start's."""
        self.stop()
        self.wait()
        self.checkpoints.close()
        self.history.clear()

    def _trainer(self, model, config, *, random_state: int):
        return build_trainer(model, self.layer, self.embedding.encoder_, config, scale=self.embedding_scale,
                             device=self.device, random_state=random_state)

    def _refresh(self) -> None:
        self._views.refresh()
        self._events.emit("positions")
        self._events.emit("metrics")

    def _baseline_done(self, model) -> None:
        self._views.set_baseline(model)
        self._events.emit("metrics")

    # ---- results ------------------------------------------------------------------------
    @property
    def reports(self) -> dict:
        """Classification reports: ``"before"``; ``"PLSD"`` once an epoch completed; ``"baseline (CE)"``
        while it has as many epochs as PLSD (``declutter`` shows the same runs)."""
        return {run: snapshot.report for run, snapshot in self._views.runs().items()}

    @property
    def baseline_snapshot(self) -> Snapshot | None:
        """The CE baseline's :class:`~plsd_widget.session.snapshot.Snapshot` (positions, predictions, and
        ``test_positions`` / ``test_predictions``), while its report stands (see ``run_baseline``); else None."""
        return self._views.runs().get("baseline (CE)")

    @property
    def baseline_positions(self) -> np.ndarray | None:
        """The CE baseline's embedding of ``x`` (n, 2), while its report stands (see ``run_baseline``); else None."""
        baseline = self.baseline_snapshot
        return None if baseline is None else baseline.positions

    def fixed_by_plsd(self, split: str = "test"):
        """The images PLSD classifies right and the CE baseline wrong, and the reverse, with both positions.

        See :func:`plsd_widget.fixed_by.session_fixed_by`; needs ``run_baseline()`` after the
        last ``finetune``. ``split="train"`` reads the images PLSD was fine-tuned on instead.
        """
        from plsd_widget.fixed_by import session_fixed_by

        return session_fixed_by(self, split)

    @property
    def metrics(self) -> MetricsTable:
        """Per-class precision/recall/F1: before, baseline (if run) and after PLSD."""
        return self.metrics_table()

    def metrics_table(self, groups=None) -> MetricsTable:
        """The metrics with group rows for ``groups`` (default: ``session.groups``), see ``groups``."""
        return MetricsTable(self.reports, self.class_names, groups=self._groups if groups is None else groups)

    @property
    def groups(self):
        """Groups of classes (like ``{"Cardiac": ["LVOT", "RVOT"], "Other": None}``, None meaning every
        other class) whose support-weighted averages ``metrics`` shows; checked when set."""
        return self._groups

    @groups.setter
    def groups(self, groups) -> None:
        resolve_groups(groups, self.class_names)  # fail here, not in a later metrics update
        self._groups = None if groups is None else dict(groups)
        self._events.emit("metrics")

    @property
    def declutter(self) -> DeclutterTable:
        """kNN purity, contour overlap and distance to the targets of each run, train then test.

        Runs as in ``metrics``: "before" (the positions the edits were made on, and the
        held-out split through the original model), "baseline (CE)" while it stands,
        "PLSD" once an epoch completed. The distance to the targets (``targets``) is in
        units of ``embedding_scale`` and shown for the training split only.
        """
        return self._views.declutter(self.edits.positions, self.targets, self.y, self.y_test, self.class_names,
                                     self.embedding_scale)

    # ---- events ------------------------------------------------------------------------
    def on(self, event: str, callback) -> None:
        """Call ``callback(**payload)`` on ``event`` (see :mod:`~plsd_widget.session.events`), maybe from a worker thread."""
        self._events.on(event, callback)

    def off(self, event: str, callback) -> None:
        """Stop calling ``callback`` on ``event``."""
        self._events.off(event, callback)

    def save(self, path, *, model=None, data=None) -> Path:
        """Save what a replay needs in the folder ``path``: start weights, embedding, edits.

        See :func:`plsd_widget.saved_session.save_session`; ``plsd-widget replay path``
        (:func:`plsd_widget.replaying.replay`) fine-tunes from it.
        """
        from plsd_widget.saved_session import save_session

        return save_session(self, path, model=model, data=data)

    # ---- display -------------------------------------------------------------------------
    def dashboard(self):
        """The widget above live panels: the loss terms per batch and F1 per class (bqplot)."""
        if getattr(self, "_dashboard", None) is None:
            from plsd_widget.widget.panels import dashboard

            self._dashboard = dashboard(self)
        return self._dashboard

    def widget(self):
        """The interactive widget for this session (one per session; display it again freely)."""
        if getattr(self, "_widget", None) is None:
            from plsd_widget.widget import PLSDWidget

            self._widget = PLSDWidget(self)
        return self._widget
