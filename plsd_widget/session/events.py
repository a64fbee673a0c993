"""A session's events: listeners registered with ``on`` and removed with ``off``.

Events and their payloads (keyword arguments of the listener):

- ``"positions"``, ``"targets"``, ``"selection"``, ``"metrics"``: none; read the session.
- ``"progress"``: once per training batch, :data:`PROGRESS_KEYS`.
- ``"status"``: ``message`` (str) and ``training`` (bool: whether a run goes on).
- ``"error"``: ``message`` (str).

Listeners may be called from the worker thread of a run.
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)

EVENTS = ("positions", "targets", "selection", "progress", "status", "metrics", "error")
#: What a "progress" event carries, once per batch: counters, and the batch's total loss,
#: cross-entropy and (unweighted) embedding term.
PROGRESS_KEYS = ("epoch", "n_epochs", "batch", "n_batches", "loss", "ce", "emb")


def _check(event: str) -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; use one of {EVENTS}")


class Events:
    """Listeners by event; a listener that raises is logged, never stops the caller (a run)."""

    def __init__(self):
        self._listeners = {event: [] for event in EVENTS}
        self._lock = threading.Lock()  # on/off from the main thread while a run emits

    def on(self, event: str, callback) -> None:
        """Call ``callback(**payload)`` on ``event`` (one of :data:`EVENTS`)."""
        _check(event)
        with self._lock:
            self._listeners[event] = [*self._listeners[event], callback]

    def off(self, event: str, callback) -> None:
        """Stop calling ``callback`` on ``event``; a ``ValueError`` if it was not registered there."""
        _check(event)
        with self._lock:
            listeners = list(self._listeners[event])
            if callback not in listeners:
                raise ValueError(f"{callback!r} does not listen to {event!r}; register it with on() first")
            listeners.remove(callback)
            self._listeners[event] = listeners

    def emit(self, event: str, **payload) -> None:
        for callback in self._listeners[event]:
            try:
                callback(**payload)
            except Exception:  # a broken listener must not kill training
                logger.exception("listener for %r failed", event)
