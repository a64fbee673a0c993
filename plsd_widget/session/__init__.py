"""The interactive session: :class:`Session` (:mod:`~plsd_widget.session.core`) over its parts."""

from plsd_widget.session.core import Session
from plsd_widget.session.events import EVENTS, PROGRESS_KEYS
from plsd_widget.session.snapshot import Snapshot, embed_through

__all__ = ["EVENTS", "PROGRESS_KEYS", "Session", "Snapshot", "embed_through"]
