"""``Session``: the user-facing object that ties classifier, embedding, edits and fine-tuning.

It owns the loop and the worker thread; the widget only listens to its events and
calls its methods. This module never imports ipywidgets.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from plsd_widget._validation import as_labels
from plsd_widget import inspection
from plsd_widget.activations import extract_activations, get_layer
from plsd_widget.declutter import DeclutterTable
from plsd_widget.edit_files import read_edit_log, write_edit_log
from plsd_widget.edits import EditLog, fingerprint, make_edit
from plsd_widget.embedding.neighbour_offsets import OffsetLookup
from plsd_widget.config import DEVICE, PERPLEXITY, RANDOM_STATE, FinetuneConfig, resolve_config
from plsd_widget.finetune import PLSDTrainer
from plsd_widget.metrics import MetricsTable, class_report, resolve_groups

logger = logging.getLogger(__name__)

EVENTS = ("positions", "targets", "selection", "progress", "status", "metrics", "error")
#: What a "progress" event carries, once per batch: counters, and the batch's total loss,
#: cross-entropy and (unweighted) embedding term.
PROGRESS_KEYS = ("epoch", "n_epochs", "batch", "n_batches", "loss", "ce", "emb")


def embed_through(model, layer, embedding, x, offsets, x_test=None, *, activations=None):
    """Where ``model`` puts ``x`` and ``x_test`` in a frozen embedding, as a ``Session`` shows them.

    Parameters
    ----------
    model : torch.nn.Module
    layer : str
    embedding : ParametricTSNE
        Fitted; its encoder is applied to the layer's activations.
    x : array-like of shape (n_samples, ...)
        The training inputs.
    offsets : ndarray of shape (n_samples, 2)
        Each training point's constant offset from the encoder's output (``Session.offsets``).
    x_test : array-like, optional
        New inputs: the encoder's output moved by the offset of a nearby training point,
        found among ``model``'s activations of ``x`` (:class:`OffsetLookup`).
    activations : ndarray, optional
        ``model``'s activations of ``x`` when they are already at hand.

    Returns
    -------
    positions : ndarray of shape (n_samples, 2)
    test_positions : ndarray of shape (n_test, 2) or None
    """
    H = extract_activations(model, layer, x) if activations is None else activations
    positions = embedding.encode(H) + offsets
    if x_test is None:
        return positions, None
    H_test = extract_activations(model, layer, x_test)
    test_positions = embedding.encode(H_test)
    if offsets.any():
        test_positions = OffsetLookup(H, positions - offsets, offsets)(H_test, test_positions)
    return positions, test_positions


class Session:
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
        Integer class labels.
    x_test, y_test : array-like, optional
        A held-out split for the metrics; without it metrics use ``x``, ``y``.
    class_names : list of str, optional
        Defaults to ``"0"``, ``"1"``, ...
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

    Attributes
    ----------
    checkpoints : list of dict
        Model state dicts: the original weights, then one per completed epoch.
    history : list of dict
        One entry per completed epoch: ``epoch`` (its index in ``checkpoints``) and
        the epoch's mean ``loss``, ``ce`` and ``emb`` over its batches.
    reports : dict of str to ClassReport
        ``"before"``; ``"PLSD"`` once an epoch completed; ``"baseline (CE)"`` while it
        matches the number of PLSD epochs (``declutter`` shows the same runs).
    groups : dict of str to list or None
        Groups of classes (like ``{"Cardiac": ["LVOT", "RVOT"], "Other": None}``, None
        meaning every other class) whose support-weighted averages ``metrics`` shows;
        checked when set.
    last_error : Exception or None
        What ended the last fine-tuning run, if it failed.
    """

    def __init__(self, model, layer, x, y, *, x_test=None, y_test=None, class_names=None,
                 embedding=None, perplexity=PERPLEXITY, device=DEVICE, random_state=RANDOM_STATE, verbose=False, autosave=None):
        from plsd_widget.embedding import ParametricTSNE

        get_layer(model, layer)
        self.model = model
        self.layer = layer
        self.x = np.asarray(x, dtype=np.float32)
        self.y = as_labels(y, len(self.x))
        if (x_test is None) != (y_test is None):
            raise ValueError("pass both x_test and y_test, or neither")
        self.x_test = None if x_test is None else np.asarray(x_test, dtype=np.float32)
        self.y_test = None if y_test is None else as_labels(y_test, len(self.x_test), "y_test")
        n_classes = int(max(self.y.max(), -1 if self.y_test is None else self.y_test.max())) + 1
        self.class_names = [str(i) for i in range(n_classes)] if class_names is None else [str(c) for c in class_names]
        if len(self.class_names) < n_classes:
            raise ValueError(
                f"labels go up to {n_classes - 1} but only {len(self.class_names)} class names were given"
            )
        self.device = device
        self.random_state = random_state

        H = self._activations = extract_activations(model, layer, self.x)
        if embedding is None:
            embedding = ParametricTSNE(perplexity=perplexity, random_state=random_state,
                                       device=device, verbose=verbose).fit(H)
        self.embedding = embedding
        self._positions, self._offsets = self._initial_positions(embedding, H)
        centred = self._positions - self._positions.mean(axis=0)
        self.embedding_scale = float(np.sqrt((centred**2).sum(axis=1).mean()))
        self._edits = EditLog(self._positions)
        self.autosave = None if autosave is None else Path(autosave)
        if self.autosave is not None and self.autosave.exists():
            self._edits = self._read_edits(self.autosave)
            logger.info("restored %d edits from %s", len(self._edits.edits), self.autosave)
        self._selection = np.zeros(0, dtype=np.uint32)
        self._predictions = self._test_positions = self._test_predictions = None
        self._before_test_positions = None
        self._baseline_positions: tuple[np.ndarray, np.ndarray | None] | None = None  # train, test
        self._listeners = defaultdict(list)
        self._original_state = copy.deepcopy(model.state_dict())
        self.checkpoints = [self._original_state]
        self._worker: threading.Thread | None = None
        self._training = False  # cleared by the worker before its last events, unlike is_alive()
        self._baseline_running = False
        self._stop = threading.Event()
        self.last_error: BaseException | None = None
        self.history: list[dict] = []
        self.config = FinetuneConfig.default()  # of the last fine-tuning run; the baseline reuses it
        self._baseline_epochs = 0
        self._groups = None
        self.reports = {"before": self._evaluate(model)}

    @staticmethod
    def _initial_positions(embedding, H) -> tuple[np.ndarray, np.ndarray]:
        """Where to show the points at the start, and their offsets from the encoder's output.

        An embedding fitted on exactly these activations shows its own ``embedding_``
        (for scheme "distil" the free t-SNE layout, not quite where the network puts
        the points); any other shows the network's ``encode(H)``.
        """
        network = embedding.encode(H)
        own = getattr(embedding, "embedding_", None)
        offsets = getattr(embedding, "offsets_", None)
        if own is not None and offsets is not None and own.shape == network.shape \
                and np.allclose(network, own - offsets, rtol=0, atol=1e-3 * (1 + np.abs(own).max())):
            return own.astype(np.float32), offsets.astype(np.float32)
        return network, np.zeros_like(network)

    # ---- state the widget reads -------------------------------------------------
    @property
    def positions(self) -> np.ndarray:
        """Current embedding of ``x`` through the (possibly fine-tuned) model, (n, 2) float32.

        ``encoder(C_m(x)) + offsets``: the encoder's output moved by each point's
        constant offset.
        """
        return self._positions

    @property
    def offsets(self) -> np.ndarray:
        """Per-point offsets between the encoder's output and ``positions``, (n, 2) float32.

        Zero unless the embedding was fitted here (or on these very activations) with
        scheme "distil": then the points start at the t-SNE layout, ``embedding_``, and
        each keeps its offset ``ParametricTSNE.offsets_`` as fine-tuning moves the
        encoder's output. Pass it to ``PLSDTrainer.fit(offsets=...)`` with the
        session's targets.
        """
        return self._offsets

    @property
    def labels(self) -> np.ndarray:
        """Integer class labels of ``x``, shape (n,)."""
        return self.y

    @property
    def targets(self) -> np.ndarray:
        """Edit targets of shape (n, 2), NaN for points no edit touched."""
        return self._edits.targets()

    @property
    def edits(self) -> EditLog:
        """The edit log the targets come from (undo/redo act on it)."""
        return self._edits

    @property
    def selection(self) -> np.ndarray:
        """Indices of the selected points, sorted uint32."""
        return self._selection

    @property
    def is_training(self) -> bool:
        """Whether a fine-tuning run is going on in the worker thread.

        False from the run's last "status" event on, so that its listeners may edit.
        """
        return self._training

    @property
    def metrics(self) -> MetricsTable:
        """Per-class precision/recall/F1: before, baseline (if run) and after PLSD."""
        return self.metrics_table()

    @property
    def declutter(self) -> DeclutterTable:
        """kNN purity, contour overlap and distance to the targets of each run, train then test.

        Runs as in ``metrics``: "before" (the positions the edits were made on, and the
        held-out split through the original model), "baseline (CE)" while it stands,
        "PLSD" once an epoch completed. The distance to the targets (``targets``) is in
        units of ``embedding_scale`` and shown for the training split only.
        """
        runs = {"before": (self._edits.positions, self._before_test())}
        baseline = self._baseline_positions  # a snapshot: the worker thread may drop it
        if baseline is not None:
            runs["baseline (CE)"] = baseline
        if "PLSD" in self.reports:
            runs["PLSD"] = (self._positions, self.test_positions)
        targets = self.targets
        entries = {(run, "train"): (train, self.y, targets) for run, (train, _) in runs.items()}
        if self.x_test is not None:
            entries |= {(run, "test"): (test, self.y_test, None) for run, (_, test) in runs.items()}
        return DeclutterTable(entries, self.class_names, scale=self.embedding_scale)

    @property
    def baseline_positions(self) -> np.ndarray | None:
        """The CE baseline's embedding of ``x`` (n, 2), while its report stands (see ``run_baseline``); else None."""
        baseline = self._baseline_positions
        return None if baseline is None else baseline[0]

    def metrics_html(self) -> str:
        """What the widget shows: the metrics table, then the declutter table under a heading."""
        return (self.metrics.to_html() + '<h4 class="plsd-declutter-title">Decluttering (embedding)</h4>'
                + self.declutter.to_html())

    def _emit_metrics(self) -> None:
        if self._listeners["metrics"]:  # the declutter table costs a few kNN queries and density grids
            self._emit("metrics", html=self.metrics_html())

    @property
    def groups(self):
        return self._groups

    @groups.setter
    def groups(self, groups) -> None:
        resolve_groups(groups, self.class_names)  # fail here, not in a later metrics update
        self._groups = None if groups is None else dict(groups)
        self._emit_metrics()

    def metrics_table(self, groups=None) -> MetricsTable:
        """The metrics with group rows for ``groups`` (default: ``session.groups``), see ``groups``."""
        reports = dict(self.reports)  # a snapshot: the worker thread updates it
        order = [k for k in ("before", "baseline (CE)", "PLSD") if k in reports]
        return MetricsTable({k: reports[k] for k in order}, self.class_names,
                            groups=self._groups if groups is None else groups)

    # ---- events -------------------------------------------------------------------
    def on(self, event: str, callback) -> None:
        """Call ``callback(**payload)`` on ``event`` (one of ``EVENTS``), maybe from a worker thread."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; use one of {EVENTS}")
        self._listeners[event].append(callback)

    def _emit(self, event: str, **payload) -> None:
        for callback in list(self._listeners[event]):
            try:
                callback(**payload)
            except Exception:  # a broken listener must not kill training
                logger.exception("listener for %r failed", event)

    # ---- selection and edits -------------------------------------------------------
    def _indices(self, what) -> np.ndarray:
        """Indices for a class name, a list of class names, or an index array."""
        names = [what] if isinstance(what, str) else what
        if isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names):
            unknown = [n for n in names if n not in self.class_names]
            if unknown:
                raise ValueError(f"unknown class name(s) {unknown}; known classes: {self.class_names}")
            codes = [self.class_names.index(n) for n in names]
            empty = [n for n, c in zip(names, codes) if not np.any(self.y == c)]
            if empty:
                raise ValueError(f"class(es) {empty} have no points in this session; "
                                 "edit classes that have points, or pass index arrays")
            return np.flatnonzero(np.isin(self.y, codes))
        return np.asarray(what)

    def select(self, what) -> None:
        """Set the selection to a class name, list of class names or index array."""
        idx = self._indices(what)
        if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= len(self.y)):
            raise ValueError(f"selection must be integer indices in [0, {len(self.y) - 1}]")
        self._selection = np.unique(idx).astype(np.uint32)
        self._emit("selection")

    def _edits_changed(self) -> None:
        if self.autosave is not None:
            try:
                self.save_edits(self.autosave)
            except OSError as exc:  # the edits stay in memory; say so rather than stop editing
                logger.exception("autosave to %s failed", self.autosave)
                self._emit("error", message=f"autosave to {self.autosave} failed: {exc}")
        self._emit("targets")

    def _refuse_while_running(self, what: str) -> None:
        """Raise if fine-tuning or the baseline is running: ``what`` must wait for it."""
        if self.is_training:
            raise RuntimeError(f"fine-tuning is running: stop it (session.stop()) or wait for it to finish "
                               f"(session.wait()) before {what}")
        if self._baseline_running:
            raise RuntimeError(f"the baseline is running: stop it (session.stop()) or wait for it to finish "
                               f"before {what}")

    def _add_edit(self, edit) -> None:
        self._edits.add(edit)
        self._edits_changed()

    def shift(self, what, delta) -> None:
        """Shift a class (name), classes or index set by ``delta = (dx, dy)`` (Eq. 1).

        Edits (this, ``contract``, ``move_points``, ``undo``, ``redo``, ``reset_edits``,
        ``load_edits``) are refused while fine-tuning runs: the run trains toward the
        targets it started with, and the view would show others.
        """
        self._refuse_while_running("editing")
        label = what if isinstance(what, str) else ""
        self._add_edit(make_edit("shift", self._indices(what), len(self.y), delta=delta, label=label))

    def contract(self, what, kappa: float) -> None:
        """Contract a class, classes or index set toward its centroid by ``kappa`` (Eq. 2)."""
        self._refuse_while_running("editing")
        label = what if isinstance(what, str) else ""
        self._add_edit(make_edit("contract", self._indices(what), len(self.y), kappa=kappa, label=label))

    def move_points(self, indices, targets) -> None:
        """Place points ``indices`` at absolute ``targets`` of shape (k, 2) (a drag)."""
        self._refuse_while_running("editing")
        self._add_edit(make_edit("move", indices, len(self.y), targets=targets))

    def undo(self) -> bool:
        self._refuse_while_running("undoing an edit")
        done = self._edits.undo()
        self._edits_changed()
        return done

    def redo(self) -> bool:
        self._refuse_while_running("redoing an edit")
        done = self._edits.redo()
        self._edits_changed()
        return done

    def reset_edits(self) -> None:
        self._refuse_while_running("resetting the edits")
        self._edits.reset()
        self._edits_changed()

    @property
    def fingerprint(self) -> str:
        """A short hash of the embedding the edits are made on (as saved with them)."""
        return fingerprint(self._edits.positions)

    def save_edits(self, path) -> Path:
        """Write the edit log as JSON (with the embedding's fingerprint) to ``path``, atomically."""
        return write_edit_log(path, self._edits)

    def save(self, path, *, model=None, data=None) -> Path:
        """Save what a replay needs in the folder ``path``: start weights, embedding, edits.

        Writes ``model.safetensors`` (the weights the session started with, which the
        edits were made on), ``embedding.safetensors``/``.json``, ``edits.json`` and
        ``session.json``; ``plsd-widget replay path`` (:func:`plsd_widget.replaying.replay`)
        fine-tunes from them. ``model`` and ``data`` (``"module:callable"``) record how
        to build the architecture and load the data. See :mod:`plsd_widget.saved_session`.
        """
        from plsd_widget.saved_session import save_session

        return save_session(self, path, model=model, data=data)

    def _read_edits(self, path) -> EditLog:
        """The edit log saved in ``path``; a ``ValueError`` naming the file and the problem if it is not one."""
        try:
            return read_edit_log(path, self._edits.positions)
        except ValueError as exc:
            raise ValueError(f"cannot restore the edits in {exc}. The file was left as it is; "
                             "move the file away to start afresh") from exc

    def load_edits(self, path) -> None:
        """Replace the edit log by the one saved in ``path``; it must be of this session's embedding."""
        self._refuse_while_running("loading edits")
        self._edits = self._read_edits(path)
        self._edits_changed()

    # ---- fine-tuning -----------------------------------------------------------------
    @property
    def predictions(self) -> np.ndarray:
        """The current model's predicted class for each point of ``x``, shape (n,).

        Cached until the session changes the model (an epoch, a rollback).
        """
        if self._predictions is None:
            self._predictions = self._predict(self.model, self.x)
        return self._predictions

    @property
    def test_positions(self) -> np.ndarray | None:
        """Embedding of ``x_test`` through the current model, (n_test, 2) float32; None without one.

        The encoder's output, moved (when the training points have offsets) by the
        offset of a nearby training point, found among the current activations as
        ``ParametricTSNE.transform`` does. Cached until the session changes the model.
        """
        if self.x_test is None:
            return None
        if self._test_positions is None:
            self._test_positions = embed_through(self.model, self.layer, self.embedding, self.x, self._offsets,
                                                 self.x_test, activations=self._activations)[1]
        return self._test_positions

    def _embed(self, model) -> tuple[np.ndarray, np.ndarray | None]:
        """Positions of ``x`` and of ``x_test`` (None without one) through ``model``."""
        return embed_through(model, self.layer, self.embedding, self.x, self._offsets, self.x_test)

    def _original_model(self):
        """A copy of the model with the weights it had when the session started."""
        model = copy.deepcopy(self.model)
        model.load_state_dict(self._original_state)
        return model

    def _before_test(self) -> np.ndarray | None:
        """Embedding of ``x_test`` through the original model, computed once; None without a test split."""
        if self.x_test is not None and self._before_test_positions is None:
            unchanged = len(self.checkpoints) == 1  # no epoch since the start or since rollback(0)
            self._before_test_positions = self.test_positions if unchanged else self._embed(self._original_model())[1]
        return self._before_test_positions

    def latent_neighbors(self, index: int, k: int = 8, *, split: str = "train", metric: str = "euclidean",
                         return_distance: bool = False):
        """Indices of the ``k`` points nearest to point ``index`` in the layer's activation space.

        Nearest in the classifier's own latent space, not in the 2-D embedding: what the
        model thinks is similar. ``split="test"`` looks among the held-out points;
        ``metric`` is ``"euclidean"`` or ``"cosine"``; ``return_distance=True`` returns
        ``(indices, distances)``. Exact search up to a size, approximate above
        (:class:`plsd_widget.analysis.neighbours.NeighbourIndex`, built once per model state).
        """
        indices, distances = inspection.neighbours_of(self, index, k, split=split, metric=metric)
        return (indices, distances) if return_distance else indices

    def select_diverse(self, n: int, *, space: str = "latent", balanced: bool = False, method: str = "fps",
                       split: str = "train", progress: bool = False) -> np.ndarray:
        """``n`` points to label next, spread over ``space`` (``"latent"``, ``"embedding"`` or ``"input"``).

        ``method="fps"`` is furthest-point sampling, ``"typical"`` picks the most typical
        point of each of ``n`` k-means clusters; ``balanced=True`` splits ``n`` equally over
        the model's predicted classes. See :func:`plsd_widget.analysis.diverse.select_diverse`
        and README "Look inside" for when each beats random picks.
        """
        return inspection.select_diverse(self, n, space=space, balanced=balanced, method=method, split=split,
                                         progress=progress)

    def saliency(self, indices, *, kind: str = "gradient", toward=None, split: str = "train",
                 progress: bool = False) -> np.ndarray:
        """Saliency maps of points ``indices``, shaped like their inputs (refused while fine-tuning runs).

        ``kind``: ``"gradient"``, ``"integrated"`` (integrated gradients) or ``"toward"``:
        what in each input would move its point toward the 2-D point ``toward``.
        """
        return inspection.saliency(self, indices, kind=kind, toward=toward, split=split, progress=progress)

    def subtypes(self, cls, *, split: str = "train", **options):
        """Subtypes of class ``cls`` in the layer's space and their outlines in the embedding.

        ``options`` go to :func:`plsd_widget.analysis.subtypes.find_subtypes`.
        """
        return inspection.subtypes(self, cls, split=split, **options)

    @property
    def test_predictions(self) -> np.ndarray | None:
        """The current model's predictions on ``x_test``, (n_test,); None without a test split."""
        if self.x_test is None:
            return None
        if self._test_predictions is None:
            self._test_predictions = self._predict(self.model, self.x_test)
        return self._test_predictions

    @staticmethod
    def _predict(model, x) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            dev = next(model.parameters()).device
            return torch.cat([model(torch.from_numpy(x[i:i + 1024]).to(dev)).argmax(1).cpu()
                              for i in range(0, len(x), 1024)]).numpy()

    def _evaluate(self, model):
        x, y = (self.x, self.y) if self.x_test is None else (self.x_test, self.y_test)
        return class_report(y, self._predict(model, x), len(self.class_names))

    def _refresh(self) -> None:
        """Re-embed ``x`` and re-evaluate the current model; keep the reports true to its epochs."""
        self._activations = extract_activations(self.model, self.layer, self.x)
        self._positions = self.embedding.encode(self._activations) + self._offsets
        self._predictions = self._test_positions = self._test_predictions = None
        self._emit("positions")
        epochs = len(self.checkpoints) - 1
        if epochs:
            self.reports["PLSD"] = self._evaluate(self.model)
        else:
            self.reports.pop("PLSD", None)
        if self._baseline_epochs != epochs:  # the baseline is only a fair comparison at equal epochs
            self.reports.pop("baseline (CE)", None)
            self._baseline_positions = None
        self._emit_metrics()

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
        self._refuse_while_running("starting another run")
        config = resolve_config(config, **overrides)
        epochs = config.epochs
        trainer = self._trainer(self.model, config, random_state=self.random_state + len(self.checkpoints))
        targets = self.targets
        trainer.prepare_targets(targets, self._positions)  # validate before starting the thread
        self.config = config
        self._stop.clear()
        self.last_error = None
        self._worker = threading.Thread(target=self._run, args=(trainer, targets, epochs),
                                        name="plsd-finetune", daemon=True)
        self._training = True
        self._emit("status", message=f"training: 0/{epochs} epochs", training=True)
        self._worker.start()
        if block:
            self.wait()
            if self.last_error is not None:
                raise self.last_error

    def _trainer(self, model, config, *, random_state: int) -> PLSDTrainer:
        """The trainer of one run on ``model`` with ``config``: the one place that builds it."""
        return PLSDTrainer(model, self.layer, self.embedding.encoder_, config, scale=self.embedding_scale,
                           device=self.device, random_state=random_state)

    def _run(self, trainer, targets, epochs):
        sums = dict.fromkeys(("loss", "ce", "emb"), 0.0)  # of the current epoch's batches

        def on_step(_step, logs):
            self._emit("progress", **{k: logs[k] for k in PROGRESS_KEYS})
            for k in sums:
                sums[k] += logs[k]
            if logs["epoch_end"]:
                self.checkpoints.append(copy.deepcopy(self.model.state_dict()))
                self.history.append({"epoch": len(self.checkpoints) - 1}
                                    | {k: v / logs["n_batches"] for k, v in sums.items()})
                sums.update(dict.fromkeys(sums, 0.0))
                self._refresh()
                self._emit("status", message=f"training: {logs['epoch']}/{epochs} epochs", training=True)
            return False

        result = None
        try:
            result = trainer.fit(self.x, self.y, targets, positions=self._positions,
                                 offsets=self._offsets, callback=on_step, stop_event=self._stop)
        except Exception as exc:
            self.last_error = exc
            logger.exception("fine-tuning failed")
        finally:
            self._training = False
        if result is None:
            self._emit("error", message=f"{type(self.last_error).__name__}: {self.last_error}")
            self._emit("status", message="failed; the model keeps its last completed epoch", training=False)
        else:
            how = "stopped" if result.stopped else "done"
            self._emit("status", message=f"{how}: {result.epochs_completed}/{epochs} epochs", training=False)

    def stop(self) -> None:
        """Ask a running fine-tuning or baseline to stop; it does within one batch."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the worker; returns True if no run is going on anymore."""
        if self._worker is not None:
            self._worker.join(timeout)
        return not self.is_training

    def run_baseline(self) -> None:
        """Train the starting model with cross-entropy only for as many epochs as PLSD ran.

        Same learning rate, batch size and optimiser options as the last ``finetune``.
        The result appears as "baseline (CE)" in ``metrics`` and ``declutter``, the fair
        comparison for PLSD, until PLSD epochs are added or rolled back; then run it again.
        It runs in the calling thread; ``stop()`` from another thread ends it within one
        batch, leaving no baseline (nor changing an earlier one).
        """
        self._refuse_while_running("running the baseline")
        epochs = len(self.checkpoints) - 1
        if epochs < 1:
            raise ValueError("run finetune() first: the baseline trains for as many epochs as PLSD did")
        model = self._original_model()
        trainer = self._trainer(model, self.config.replace(lam=0.0, anchor=0.0, edit_weight=1.0, epochs=epochs),
                                random_state=self.random_state + 1)
        self._stop.clear()
        self._baseline_running = True
        try:
            result = trainer.fit(self.x, self.y, np.full((len(self.y), 2), np.nan, np.float32), stop_event=self._stop)
        finally:
            self._baseline_running = False
        if result.stopped:
            self._emit("status", message=f"baseline stopped: {result.epochs_completed}/{epochs} epochs; "
                                         "none recorded", training=False)
            return
        self._baseline_positions = self._embed(model)
        self.reports["baseline (CE)"] = self._evaluate(model)
        self._baseline_epochs = epochs
        self._emit_metrics()

    def rollback(self, epoch: int = 0) -> None:
        """Restore the model to its weights after fine-tuning epoch ``epoch`` (0 = the original).

        Later checkpoints and their ``history`` go; so does a baseline trained for more epochs.
        """
        self._refuse_while_running("rolling back")
        if not 0 <= epoch < len(self.checkpoints):
            raise ValueError(f"epoch must be in [0, {len(self.checkpoints) - 1}], got {epoch}")
        self.model.load_state_dict(self.checkpoints[epoch])
        del self.checkpoints[epoch + 1:]
        del self.history[epoch:]
        self._refresh()

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
