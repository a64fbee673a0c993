"""A session's runs: fine-tuning and the baseline, each in one worker thread; stop, wait, rollback, history.

:class:`Runner` runs one thing at a time. Fine-tuning commits each completed epoch (a
checkpoint, a ``history`` entry, then the session's refresh); the baseline trains a copy
of the start model with cross-entropy only and hands it to the session when it
completes. Both return at once unless asked to block; ``stop()`` ends either within one
batch. Their status goes out as ``"status"`` events, the last one sent once the run no
longer counts as going on (so that its listeners may edit).
"""

from __future__ import annotations

import copy
import logging
import threading
from typing import NamedTuple

import numpy as np

from plsd_widget.finetune import PLSDTrainer
from plsd_widget.session.events import PROGRESS_KEYS

logger = logging.getLogger(__name__)

FINETUNING, BASELINE = "fine-tuning", "baseline"


def build_trainer(model, layer, encoder, config, *, scale, device, random_state) -> PLSDTrainer:
    """The trainer of one run on ``model`` with ``config``: the one place that builds one."""
    return PLSDTrainer(model, layer, encoder, config, scale=scale, device=device, random_state=random_state)


class FitData(NamedTuple):
    """What a run trains on: the inputs, labels, targets (NaN: free), and the positions and offsets they refer to."""

    x: np.ndarray
    y: np.ndarray
    targets: np.ndarray
    positions: np.ndarray | None = None
    offsets: np.ndarray | None = None


def fit(trainer, data: FitData, *, callback=None, stop_event=None):
    """``trainer.fit`` on ``data`` (for its config's epochs): the one place a session calls it."""
    return trainer.fit(data.x, data.y, data.targets, positions=data.positions, offsets=data.offsets,
                       callback=callback, stop_event=stop_event)


class Runner:
    """The worker thread of a session, its checkpoints and history.

    Parameters
    ----------
    model : torch.nn.Module
        The session's model, which fine-tuning updates in place, one epoch at a time.
    checkpoints : Checkpoints
    events : Events
    """

    def __init__(self, model, checkpoints, events):
        self._model = model
        self.checkpoints = checkpoints
        self._events = events
        self.history: list[dict] = []
        self.last_error: BaseException | None = None
        self._kind: str | None = None  # cleared before a run's last events, unlike the thread's is_alive()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def kind(self) -> str | None:
        """``"fine-tuning"`` or ``"baseline"`` while one runs, else None."""
        return self._kind

    def ensure_idle(self, what: str) -> None:
        """Raise a ``RuntimeError`` if a run goes on: ``what`` must wait for it."""
        kind = self._kind
        if kind == FINETUNING:
            raise RuntimeError(f"fine-tuning is running: stop it (session.stop()) or wait for it to finish "
                               f"(session.wait()) before {what}")
        if kind == BASELINE:
            raise RuntimeError(f"the baseline is running: stop it (session.stop()) or wait for it to finish "
                               f"before {what}")

    def model_is_changing(self) -> bool:
        """Whether fine-tuning may write the model's weights now, as seen from the calling thread.

        The trainer writes them at the end of an epoch, before the commit that follows in
        the worker thread; so from that thread they are always those of the last commit.
        """
        return self._kind == FINETUNING and threading.current_thread() is not self._thread

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the worker; True if no run goes on anymore."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._kind is None

    def finetune(self, trainer, data: FitData, *, on_epoch, block: bool) -> None:
        """Fine-tune: after each completed epoch, a checkpoint, a history entry, then ``on_epoch()``."""
        epochs = trainer.config.epochs
        sums = dict.fromkeys(("loss", "ce", "emb"), 0.0)  # of the current epoch's batches

        def on_step(_step, logs):
            self._events.emit("progress", **{k: logs[k] for k in PROGRESS_KEYS})
            for k in sums:
                sums[k] += logs[k]
            if logs["epoch_end"]:
                epoch = self.checkpoints.append(self._model.state_dict())
                self.history.append({"epoch": epoch} | {k: v / logs["n_batches"] for k, v in sums.items()})
                sums.update(dict.fromkeys(sums, 0.0))
                on_epoch()
                self._events.emit("status", message=f"training: {logs['epoch']}/{epochs} epochs", training=True)
            return False

        def work():
            result = fit(trainer, data, callback=on_step, stop_event=self._stop)
            return f"{'stopped' if result.stopped else 'done'}: {result.epochs_completed}/{epochs} epochs"

        self._start(FINETUNING, work, started=f"training: 0/{epochs} epochs",
                    failed="failed; the model keeps its last completed epoch", block=block)

    def baseline(self, trainer, data: FitData, *, on_done, block: bool) -> None:
        """Train ``trainer.model`` (a copy of the start model) as its config says; then ``on_done(model)``.

        A stopped or failed baseline records nothing.
        """
        epochs = trainer.config.epochs

        def work():
            result = fit(trainer, data, stop_event=self._stop)
            if result.stopped:
                return f"baseline stopped: {result.epochs_completed}/{epochs} epochs; none recorded"
            on_done(trainer.model)
            return f"baseline done: {epochs}/{epochs} epochs"

        self._start(BASELINE, work, started=f"baseline: 0/{epochs} epochs", failed="baseline failed; none recorded",
                    block=block)

    def rollback(self, epoch: int) -> None:
        """Restore the model to its weights after ``epoch`` (0: the start); later checkpoints and history go."""
        self.ensure_idle("rolling back")
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) \
                or not 0 <= epoch < len(self.checkpoints):
            raise ValueError(f"epoch must be in [0, {len(self.checkpoints) - 1}], got {epoch!r}")
        self._model.load_state_dict(self.checkpoints[int(epoch)])
        self.checkpoints.truncate(int(epoch) + 1)
        del self.history[int(epoch):]

    def model_at(self, epoch: int):
        """A copy of the model with the weights of ``epoch``."""
        model = copy.deepcopy(self._model)
        model.load_state_dict(self.checkpoints[epoch])
        return model

    def _start(self, kind: str, work, *, started: str, failed: str, block: bool) -> None:
        self._stop.clear()
        self.last_error = None
        self._kind = kind
        self._thread = threading.Thread(target=self._main, args=(work, failed), name=f"plsd-{kind}", daemon=True)
        self._events.emit("status", message=started, training=True)
        self._thread.start()
        if block:
            self.wait()
            if self.last_error is not None:
                raise self.last_error

    def _main(self, work, failed: str) -> None:
        message = None
        try:
            message = work()
        except Exception as exc:
            self.last_error = exc
            logger.exception("%s failed", self._kind)
        finally:
            self._kind = None
        if message is None:
            self._events.emit("error", message=f"{type(self.last_error).__name__}: {self.last_error}")
            message = failed
        self._events.emit("status", message=message, training=False)
