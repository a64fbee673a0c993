"""Messages from the view: one handler per type, the types listed once, in ``messages.json``.

Traits carry state; messages carry the user's actions. ``messages.json`` lists every message
type: the view sends no other (``js/messages.js`` bundles the same file) and
:data:`HANDLERS` holds one handler for each (``tests/test_widget.py`` and
``js/messages.test.js`` check both sides). A message is a JSON object
``{"type": ..., **fields}`` with binary buffers, little-endian:

==================  =================================  =======================================
type                fields                             buffers
==================  =================================  =======================================
move                                                   indices uint32[k], targets float32[k, 2]
shift               ``delta`` [dx, dy], ``class``       indices uint32[k], unless ``class`` names one
contract            ``kappa``, ``class``                as shift
undo, redo, reset
restore                                                (restore the autosaved edits offered)
dismiss_restore
resync_targets                                         (a view found a gap in the targets deltas)
neighbors           ``index`` of the clicked point
suggest                                                (``suggest_n`` / ``suggest_balanced``)
selection_saliency                                     indices uint32[k]
direction_saliency  ``from``, ``to``: class names, or   points uint32[k] (none: those of ``from``),
                    null for a group in the buffers    group A uint32[k], group B uint32[k]
subtypes            ``class`` (null clears them)
finetune                                               (runs ``finetune_config``)
stop
run_baseline                                           (CE only, as many epochs as PLSD: the gallery)
==================  =================================  =======================================

A message the kernel refuses (a ``ValueError`` that says what to fix) is shown in the view's
error bar and changes nothing; one that would change the edits is refused while the
(read-only) test split is shown.
"""

from __future__ import annotations

import json
import pathlib
import reprlib

import numpy as np

from plsd_widget.config import FinetuneConfig
from plsd_widget.widget import inspect_panel
from plsd_widget.widget.binary import bytes_to_array

#: Every message type the view may send, in the order of ``messages.json``.
MESSAGE_TYPES = tuple(json.loads(pathlib.Path(__file__).with_name("messages.json").read_text(encoding="utf-8")))
#: Messages that change the edits: refused while the test split is shown.
EDITS = frozenset({"move", "shift", "contract", "undo", "redo", "reset", "restore"})
#: Not a user action: leaves any error shown.
QUIET = frozenset({"resync_targets"})


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _indices(widget, buffer, name: str) -> np.ndarray:
    """Indices into the train split, read from a uint32 buffer (no more than it has points)."""
    return bytes_to_array(buffer, np.uint32, name, len(widget.session.labels)).astype(np.int64)


def move(widget, content, buffers) -> None:
    """A Move-mode drag: the dragged points and their absolute targets."""
    if len(buffers) != 2:
        raise ValueError(f"a move needs 2 buffers (indices, targets), got {len(buffers)}")
    indices = _indices(widget, buffers[0], "move indices")
    targets = bytes_to_array(buffers[1], np.float32, "move targets", 2 * len(widget.session.labels))
    if targets.size != 2 * indices.size:
        raise ValueError(f"a move of {indices.size} points needs {2 * indices.size} target values, "
                         f"got {targets.size}")
    widget.session.move_points(indices, targets.reshape(-1, 2))


def _edit_target(widget, content, buffers):
    """A class name (``content["class"]``) or the indices in the one buffer."""
    if "class" in content:
        if buffers:
            raise ValueError("an edit names a class or sends indices, not both")
        if not isinstance(content["class"], str):
            raise ValueError(f"class must be a class name, got {reprlib.repr(content['class'])}")
        return content["class"]
    if len(buffers) != 1:
        raise ValueError(f"an edit of the selection needs 1 buffer (indices), got {len(buffers)}")
    indices = _indices(widget, buffers[0], "edit indices")
    if indices.size == 0:
        raise ValueError("select points before editing them")
    return indices


def shift(widget, content, buffers) -> None:
    """Shift a class or the selection by ``delta`` (Eq. 1)."""
    delta = content.get("delta")
    if not (isinstance(delta, list) and len(delta) == 2 and all(_is_number(v) for v in delta)):
        raise ValueError(f"delta must be two numbers [dx, dy], got {reprlib.repr(delta)}")
    widget.session.shift(_edit_target(widget, content, buffers), tuple(float(v) for v in delta))


def contract(widget, content, buffers) -> None:
    """Contract a class or the selection toward its centroid by ``kappa`` (Eq. 2)."""
    kappa = content.get("kappa")
    if not _is_number(kappa):
        raise ValueError(f"kappa must be a number, got {reprlib.repr(kappa)}")
    widget.session.contract(_edit_target(widget, content, buffers), float(kappa))


def restore(widget, content, buffers) -> None:
    widget.autosave.restore()
    widget.recoverable = widget.autosave.offer


def dismiss_restore(widget, content, buffers) -> None:
    widget.autosave.dismiss()
    widget.recoverable = widget.autosave.offer


def finetune(widget, content, buffers) -> None:
    """Fine-tune with the configuration the view's inputs hold."""
    widget.session.finetune(FinetuneConfig.from_dict(widget.finetune_config))


#: One handler a message type: ``handler(widget, content, buffers)``.
HANDLERS = {
    "move": move,
    "shift": shift,
    "contract": contract,
    "undo": lambda widget, content, buffers: widget.session.undo(),
    "redo": lambda widget, content, buffers: widget.session.redo(),
    "reset": lambda widget, content, buffers: widget.session.reset_edits(),
    "restore": restore,
    "dismiss_restore": dismiss_restore,
    "resync_targets": lambda widget, content, buffers: widget.resync_targets(),
    "neighbors": lambda widget, content, buffers: inspect_panel.show_neighbors(widget, content.get("index")),
    "suggest": lambda widget, content, buffers: inspect_panel.suggest(widget),
    "selection_saliency": lambda widget, content, buffers: inspect_panel.selection_saliency(widget, buffers),
    "direction_saliency": inspect_panel.direction_saliency,
    "subtypes": lambda widget, content, buffers: inspect_panel.show_subtypes(widget, content),
    "finetune": finetune,
    "stop": lambda widget, content, buffers: widget.session.stop(),
    "run_baseline": lambda widget, content, buffers: widget.session.run_baseline(),
}


def handle(widget, content, buffers) -> None:
    """Run the view's message ``content`` with its ``buffers``; show a refusal as the widget's error."""
    try:
        if not isinstance(content, dict):
            raise ValueError(f"a message from the view must be an object with a 'type', got {reprlib.repr(content)}")
        kind = content.get("type")
        handler = HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise ValueError(f"unknown message type {reprlib.repr(kind)} from the view")
        if kind in EDITS:
            widget.check_editing()
        handler(widget, content, buffers or [])
        if kind not in QUIET:
            widget.error = ""
    except Exception as exc:  # shown in the view and logged, never lost in the comm handler
        widget.show_error(exc)
