"""A session saved as a folder: the start model's weights, the embedding and the edit log.

``Session.save(folder)`` writes what a replay needs to rebuild the exact view the edits
were made on, without refitting anything (a refit is not bit-reproducible across
machines or thread counts, and the edit log's fingerprint would not match):

- ``model.safetensors``: the weights the model had when the session started (the ones
  the edits were made on, not the fine-tuned ones);
- ``embedding.safetensors`` + ``embedding.json``: the fitted ``ParametricTSNE``
  (:meth:`~plsd_widget.embedding.ParametricTSNE.save`);
- ``edits.json``: the edit log with its fingerprint (:meth:`Session.save_edits`);
- ``session.json``: the layer, class names, ``random_state``, the fingerprint, and
  optionally how to build the model and load the data (``"module:callable"``).

The model's architecture is code, not data: it is not saved, only named (``model``).
No pickle anywhere. :func:`plsd_widget.replaying.replay` reads the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from plsd_widget.edit_files import write_edit_log

MODEL_FILE = "model.safetensors"
EMBEDDING_STEM = "embedding"
EDITS_FILE = "edits.json"
CONFIG_FILE = "session.json"
FORMAT = "plsd_widget.session"
FORMAT_VERSION = 1
#: The largest ``session.json`` read (it holds names and a few numbers).
MAX_CONFIG_BYTES = 1 << 20


def _check_spec(spec, name: str):
    if spec is None:
        return None
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ValueError(f"{name} must be a 'module:callable' string like 'plsd_widget.models:SmallCNN', got {spec!r}")
    return spec


def save_session(session, path, *, model=None, data=None) -> Path:
    """Write ``session`` to the folder ``path`` (created if missing); return the folder.

    Parameters
    ----------
    session : Session
        Must not be fine-tuning.
    path : str or Path
        The folder. Files of an earlier save there are replaced, each atomically.
    model : str, optional
        ``"module:callable"`` that builds the model's architecture when called without
        arguments (the weights come from ``model.safetensors``); recorded for replay.
    data : str, optional
        ``"module:callable"`` that returns the session's data (see
        :func:`plsd_widget.replaying.replay`); recorded for replay.

    Returns
    -------
    Path
    """
    from safetensors.torch import save_file

    session.ensure_idle("saving the session")
    model, data = _check_spec(model, "model"), _check_spec(data, "data")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is a file; pass a folder to save the session in")
    folder.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "layer": session.layer,
              "class_names": list(session.class_names), "random_state": int(session.random_state),
              "fingerprint": session.fingerprint, "n_points": int(len(session.y)), "model": model, "data": data}
    tmp = Path(tempfile.mkdtemp(prefix=".plsd-session-", dir=folder))
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in session.start_weights.items()},
                  str(tmp / MODEL_FILE))
        session.embedding.save(tmp / EMBEDDING_STEM)
        write_edit_log(tmp / EDITS_FILE, session.edits)
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")
        for file in sorted(tmp.iterdir()):
            os.replace(file, folder / file.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def read_config(folder) -> dict:
    """``session.json`` of a saved session, checked; a ``ValueError`` naming the file and the problem."""
    path = Path(folder) / CONFIG_FILE
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ValueError(f"it is larger than {MAX_CONFIG_BYTES} bytes")
        config = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise ValueError(f"it is not a session config (expected a JSON object with format {FORMAT!r})")
        if config.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version {config.get('format_version')!r} is not {FORMAT_VERSION}; "
                             "save the session again with this version of plsd_widget")
        if not isinstance(config.get("layer"), str):
            raise ValueError(f"'layer' must be a layer name, got {config.get('layer')!r}")
        names = config.get("class_names")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("'class_names' must be a list of strings")
        if not isinstance(config.get("random_state"), int):
            raise ValueError(f"'random_state' must be an integer, got {config.get('random_state')!r}")
        for key in ("model", "data"):
            _check_spec(config.get(key), repr(key))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise ValueError(f"{path} cannot be read: {exc}") from exc
    except OSError as exc:
        raise ValueError(f"{path} cannot be read: {exc}") from exc
    return config
