"""The widget's autosave: the session's edits written beside the notebook, and an earlier
session's offered back.

The file is named after the notebook and the embedding's fingerprint
(:func:`plsd_widget.edit_files.autosave_path`), so only a session of the same notebook on
the same embedding (e.g. the notebook re-run after a dead kernel) sees it; another notebook
on that embedding has its own. An earlier file is moved aside rather than restored unasked
(re-running cells that edit would apply those edits twice); the view offers to restore it.
One that cannot be read is moved aside too, and the view says where: the next edit must not
overwrite it.
"""

from __future__ import annotations

import logging
import os
import pathlib

from plsd_widget.edit_files import autosave_path, notebook_name, previous_path, read_header

logger = logging.getLogger(__name__)


class Autosave:
    """Where a widget's session autosaves, and the earlier session's edits it may restore.

    Parameters
    ----------
    session : Session

    Attributes
    ----------
    earlier : Path or None
        The earlier session's edit log, while it may be restored.
    offer : str
        What the view says about those edits; ``""`` when there are none.
    error : str
        Why the earlier file could not be read; ``""`` when it could (or there was none).
    """

    def __init__(self, session):
        self.session = session
        self.earlier: pathlib.Path | None = None
        self.offer = ""
        self.error = ""

    @classmethod
    def start(cls, session) -> Autosave:
        """Autosave ``session``'s edits next to the notebook; keep what an earlier session saved there."""
        autosave = cls(session)
        path = autosave_path(session.fingerprint, notebook_name())
        if path.exists():
            autosave._set_aside(path, previous_path(path))
        session.autosave = path
        return autosave

    def _set_aside(self, path: pathlib.Path, previous: pathlib.Path) -> None:
        try:
            os.replace(path, previous)  # first: whatever it holds, the next edit must not overwrite it
            n_edits = len(read_header(previous)["edits"])
        except (OSError, ValueError) as exc:
            logger.warning("could not read the earlier autosave %s: %s", path, exc)
            self.error = f"could not read the earlier autosave ({exc}); it was kept as {previous}"
            return
        if not n_edits:  # the earlier session undid its edits: nothing to offer
            return
        self.earlier = previous
        self.offer = f"{n_edits} edit(s) of an earlier session on this embedding were autosaved in {previous}."

    def restore(self) -> None:
        """Load the earlier session's edits into the session (once)."""
        if self.earlier is None:
            raise ValueError("there are no autosaved edits to restore")
        self.session.load_edits(self.earlier)
        self.dismiss()

    def dismiss(self) -> None:
        """Offer the earlier edits no more (the file stays where it is)."""
        self.earlier = None
        self.offer = ""
