"""The snapshots a session shows: at the start, now, and of the cross-entropy baseline.

:class:`Views` replaces the current snapshot by one assignment after each epoch or
rollback, keeps the baseline only while it has as many epochs as PLSD (the fair
comparison), and says which runs the metrics and declutter tables show. It also gives a
snapshot a model with its weights, for the held-out split computed on first use: the
session's own model when that holds them, else a copy with the checkpoint's weights.
"""

from __future__ import annotations

import weakref

from plsd_widget.declutter import DeclutterTable
from plsd_widget.session.snapshot import Snapshot, SnapshotInputs


class Views:
    """The start, current and baseline snapshots of a session.

    Parameters
    ----------
    inputs : SnapshotInputs
    model : torch.nn.Module
        The session's model.
    x : ndarray
        The training inputs.
    runner : Runner
        For the checkpoints and whether a run is changing the model's weights.
    start : tuple
        ``(activations, positions, predictions)`` of the model at the start.
    """

    def __init__(self, inputs: SnapshotInputs, model, x, runner, start):
        self.inputs, self._model, self._x, self._runner = inputs, model, x, runner
        self.start = self.current = Snapshot(inputs, 0, *start, self._weak_model_source())
        self.baseline: Snapshot | None = None  # of the CE baseline, while it has as many epochs as PLSD

    def refresh(self) -> None:
        """Take the snapshot of the model as it is now; drop a baseline of another number of epochs."""
        self.current = Snapshot.take(self.inputs, self._model, self._x, len(self._runner.checkpoints) - 1,
                                     self._weak_model_source())
        if self.baseline is not None and self.baseline.epoch != self.current.epoch:
            self.baseline = None

    def set_baseline(self, model) -> None:
        """The snapshot of ``model``, trained for as many epochs as PLSD, becomes the baseline's."""
        self.baseline = Snapshot.take(self.inputs, model, self._x, self.current.epoch,
                                      lambda _snapshot: model).compute_test()

    def runs(self) -> dict[str, Snapshot]:
        """The snapshot of each run shown: "before", "baseline (CE)" (while it stands), "PLSD" (after an epoch)."""
        current, baseline = self.current, self.baseline
        runs = {"before": self.start}
        if baseline is not None and baseline.epoch == current.epoch:
            runs["baseline (CE)"] = baseline
        if current.epoch:
            runs["PLSD"] = current
        return runs

    def declutter(self, edited_positions, targets, y, y_test, class_names, scale) -> DeclutterTable:
        """The declutter table of :meth:`runs`; "before" shows the training points where they were edited."""
        runs = {run: (snapshot.positions, snapshot.test_positions) for run, snapshot in self.runs().items()}
        runs["before"] = (edited_positions, runs["before"][1])
        entries = {(run, "train"): (train, y, targets) for run, (train, _) in runs.items()}
        if y_test is not None:
            entries |= {(run, "test"): (test, y_test, None) for run, (_, test) in runs.items()}
        return DeclutterTable(entries, class_names, scale=scale)

    def model_for(self, snapshot: Snapshot):
        """A model with ``snapshot``'s weights: the session's own when it holds them, else a copy."""
        current = snapshot is self.current
        if current and not self._runner.model_is_changing():
            return self._model
        if current or snapshot is self.start:
            return self._runner.model_at(snapshot.epoch)
        raise RuntimeError("this snapshot is no longer the session's; read session.snapshot again")

    def _weak_model_source(self):
        """:meth:`model_for`, without the snapshot keeping these views (and their checkpoints) alive."""
        model_for = weakref.WeakMethod(self.model_for)

        def source(snapshot):
            method = model_for()
            if method is None:
                raise RuntimeError("the session of this snapshot is gone; its held-out split cannot be computed")
            return method(snapshot)

        return source
