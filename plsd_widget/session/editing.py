"""A session's edits and selection: the edit log, undo/redo, edit files and the autosave.

Every change of the edit log (edit, undo, redo, reset, load) is refused while a run
goes on (the run trains toward the targets it started with, and the view would show
others), then written to the autosave file, if any, and announced as ``"targets"``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from plsd_widget.edit_files import read_edit_log, write_edit_log
from plsd_widget.edits import EditLog, fingerprint, make_edit

logger = logging.getLogger(__name__)


class Editor:
    """Edits of the points shown at ``positions`` and the selection, as ``Session`` offers them.

    Parameters
    ----------
    positions : ndarray of shape (n_samples, 2)
        The positions the edits are made on.
    labels : ndarray of shape (n_samples,)
    class_names : list of str
    events : Events
    ensure_idle : callable
        ``ensure_idle(what)`` raises while a run goes on.
    autosave : str or Path, optional
        Restored from if it exists (a ``ValueError`` if it cannot be); written after every change.
    """

    def __init__(self, positions, labels, class_names, *, events, ensure_idle, autosave=None):
        self._labels = labels
        self._class_names = class_names
        self._events = events
        self._ensure_idle = ensure_idle
        self.log = EditLog(positions)
        self.autosave = autosave
        if self.autosave is not None and self.autosave.exists():
            self.log = self._read(self.autosave)
            logger.info("restored %d edits from %s", len(self.log.edits), self.autosave)
        self.selection = np.zeros(0, dtype=np.uint32)

    @property
    def autosave(self) -> Path | None:
        return self._autosave

    @autosave.setter
    def autosave(self, path) -> None:
        self._autosave = None if path is None else Path(path)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.log.positions)

    def indices(self, what) -> np.ndarray:
        """Indices for a class name, a list of class names, or an index array."""
        names = [what] if isinstance(what, str) else what
        if isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names):
            unknown = [n for n in names if n not in self._class_names]
            if unknown:
                raise ValueError(f"unknown class name(s) {unknown}; known classes: {self._class_names}")
            codes = [self._class_names.index(n) for n in names]
            empty = [n for n, c in zip(names, codes) if not np.any(self._labels == c)]
            if empty:
                raise ValueError(f"class(es) {empty} have no points in this session; "
                                 "edit classes that have points, or pass index arrays")
            return np.flatnonzero(np.isin(self._labels, codes))
        return np.asarray(what)

    def select(self, what) -> None:
        idx = self.indices(what)
        if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= len(self._labels)):
            raise ValueError(f"selection must be integer indices in [0, {len(self._labels) - 1}]")
        self.selection = np.unique(idx).astype(np.uint32)
        self._events.emit("selection")

    def edit(self, kind: str, what, **values) -> None:
        """Add an edit of ``kind`` ("shift", "contract", "move") of the points ``what`` names."""
        self._ensure_idle("editing")
        label = what if isinstance(what, str) else ""
        self.log.add(make_edit(kind, self.indices(what), len(self._labels), label=label, **values))
        self._changed()

    def undo(self) -> bool:
        self._ensure_idle("undoing an edit")
        done = self.log.undo()
        self._changed()
        return done

    def redo(self) -> bool:
        self._ensure_idle("redoing an edit")
        done = self.log.redo()
        self._changed()
        return done

    def reset(self) -> None:
        self._ensure_idle("resetting the edits")
        self.log.reset()
        self._changed()

    def save(self, path) -> Path:
        return write_edit_log(path, self.log)

    def load(self, path) -> None:
        self._ensure_idle("loading edits")
        self.log = self._read(path)
        self._changed()

    def _read(self, path) -> EditLog:
        """The edit log saved in ``path``; a ``ValueError`` naming the file and the problem if it is not one."""
        try:
            return read_edit_log(path, self.log.positions)
        except ValueError as exc:
            raise ValueError(f"cannot restore the edits in {exc}. The file was left as it is; "
                             "move the file away to start afresh") from exc

    def _changed(self) -> None:
        if self.autosave is not None:
            try:
                self.save(self.autosave)
            except OSError as exc:  # the edits stay in memory; say so rather than stop editing
                logger.exception("autosave to %s failed", self.autosave)
                self._events.emit("error", message=f"autosave to {self.autosave} failed: {exc}")
        self._events.emit("targets")


class EditingFront:
    """The members of :class:`~plsd_widget.session.Session` that edit and select, over its ``Editor``."""

    _editor: Editor

    @property
    def edits(self):
        """The :class:`~plsd_widget.edits.EditLog` the targets come from (undo/redo act on it)."""
        return self._editor.log

    @property
    def targets(self) -> np.ndarray:
        """Edit targets of shape (n, 2), NaN for points no edit touched."""
        return self._editor.log.targets()

    @property
    def selection(self) -> np.ndarray:
        """Indices of the selected points, sorted uint32."""
        return self._editor.selection

    @property
    def fingerprint(self) -> str:
        """A short hash of the embedding the edits are made on (as saved with them)."""
        return self._editor.fingerprint

    @property
    def autosave(self) -> Path | None:
        """The file every change of the edits is written to (see the class docstring); settable."""
        return self._editor.autosave

    @autosave.setter
    def autosave(self, path) -> None:
        self._editor.autosave = path

    def select(self, what) -> None:
        """Set the selection to a class name, list of class names or index array."""
        self._editor.select(what)

    def shift(self, what, delta) -> None:
        """Shift a class (name), classes or index set by ``delta = (dx, dy)`` (Eq. 1).

        Edits (this, ``contract``, ``move_points``, ``undo``, ``redo``, ``reset_edits``,
        ``load_edits``) are refused while a run goes on: it trains toward the targets it
        started with, and the view would show others.
        """
        self._editor.edit("shift", what, delta=delta)

    def contract(self, what, kappa: float) -> None:
        """Contract a class, classes or index set toward its centroid by ``kappa`` (Eq. 2)."""
        self._editor.edit("contract", what, kappa=kappa)

    def move_points(self, indices, targets) -> None:
        """Place points ``indices`` at absolute ``targets`` of shape (k, 2) (a drag)."""
        self._editor.edit("move", indices, targets=targets)

    def undo(self) -> bool:
        return self._editor.undo()

    def redo(self) -> bool:
        return self._editor.redo()

    def reset_edits(self) -> None:
        self._editor.reset()

    def save_edits(self, path) -> Path:
        """Write the edit log as JSON (with the embedding's fingerprint) to ``path``, atomically."""
        return self._editor.save(path)

    def load_edits(self, path) -> None:
        """Replace the edit log by the one saved in ``path``; it must be of this session's embedding."""
        self._editor.load(path)
