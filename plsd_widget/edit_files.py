"""Edit-log files: the one place that writes, reads and names them.

An edit log on disk is the JSON of :meth:`EditLog.to_json <plsd_widget.edits.EditLog.to_json>`:
``{"fingerprint": ..., "n_points": ..., "edits": [...]}``. Everything that touches such a
file goes through here: ``Session`` (``save_edits``, ``load_edits``, autosave), ``replay``,
the saved-session folder and the widget's autosave.

- Writes are atomic: a temporary file beside the target, then ``os.replace``; a crash
  leaves the old file or the new one, never half of one.
- Reads refuse a file over :data:`MAX_EDIT_FILE_BYTES` before reading it, and check the
  JSON as strictly as a new edit (``EditLog.from_json``), naming the file and the problem.
- :func:`read_header` checks just enough to fail before anything costly (a model, an
  embedding) is built; :func:`read_edit_log` also checks the fingerprint against the
  positions the edits are applied to.
- :func:`autosave_path` names a notebook's autosave file.
"""

from __future__ import annotations

import json
import os
import pathlib
import re

from plsd_widget.edits import EditLog

#: The largest edit log read. A log of 100 drags of 100 000 points each is about 0.5 GB,
#: far beyond any session; a bigger file is not one.
MAX_EDIT_FILE_BYTES = 1 << 30
#: The autosave folder, in the working directory (the notebook's folder in JupyterLab).
AUTOSAVE_DIR = ".plsd_autosave"
#: Characters of the notebook's name kept in the autosave file's name: at most 4 bytes each,
#: so with the fingerprint and ``.previous.json`` the name stays under the usual 255 bytes.
NOTEBOOK_STEM_MAX = 50


def write_edit_log(path, log: EditLog) -> pathlib.Path:
    """Write ``log`` as JSON to ``path`` atomically (parent folders are created); return the path."""
    return write_text_atomically(path, log.to_json())


def write_text_atomically(path, text: str) -> pathlib.Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file beside it and ``os.replace``."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _read_text(path: pathlib.Path) -> str:
    size = path.stat().st_size
    if size > MAX_EDIT_FILE_BYTES:
        raise ValueError(f"it is {size / 2**30:.1f} GiB, more than an edit log can be "
                         f"({MAX_EDIT_FILE_BYTES / 2**30:.0f} GiB)")
    return path.read_text(encoding="utf-8")


def read_edit_log(path, positions) -> EditLog:
    """The edit log saved in ``path``, rebuilt on ``positions`` (which its fingerprint must match).

    Raises
    ------
    ValueError
        ``"<path>: <problem>"``, for a file too large, not UTF-8 or JSON, not an edit log,
        or made on other positions (both fingerprints named). The file is not changed.
    """
    path = pathlib.Path(path)
    try:
        return EditLog.from_json(_read_text(path), positions)
    except ValueError as exc:  # UnicodeDecodeError too
        raise ValueError(f"{path}: {exc}") from exc


def read_header(path) -> dict:
    """The edit log's JSON object, checked just enough to replay it: ``fingerprint``, ``edits``, ``n_points``.

    Raises
    ------
    ValueError
        ``"<path>: <problem>"`` for a file that is not an edit log. A log holding no edit
        is one (its ``edits`` is empty): the caller decides whether that is enough.
    """
    path = pathlib.Path(path)
    try:
        data = json.loads(_read_text(path))
        if not isinstance(data, dict) or not {"fingerprint", "edits"} <= data.keys():
            raise ValueError("it is not an edit log: expected a JSON object with 'fingerprint' and 'edits'")
        if not isinstance(data["fingerprint"], str) or not isinstance(data["edits"], list):
            raise ValueError("'fingerprint' must be a string and 'edits' a list")
        n_points = data.get("n_points")
        if n_points is not None and (isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 1):
            raise ValueError(f"'n_points' must be a positive integer, got {n_points!r}")
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise ValueError(f"{path}: {exc}") from exc
    return data


def notebook_name() -> str | None:
    """The running notebook's file name, when the kernel knows it; else None.

    Jupyter server (JupyterLab, Notebook 7) passes it to the kernel as ``JPY_SESSION_NAME``;
    VS Code puts ``__vsc_ipynb_file__`` in the user namespace.
    """
    path = os.environ.get("JPY_SESSION_NAME")
    if not path:
        try:
            from IPython import get_ipython

            shell = get_ipython()
            path = shell.user_ns.get("__vsc_ipynb_file__") if shell is not None else None
        except ImportError:
            path = None
    return pathlib.PurePath(str(path)).name if path else None


def autosave_path(fingerprint: str, notebook: str | None = None) -> pathlib.Path:
    """``.plsd_autosave/edits-<notebook>-<fingerprint>.json`` in the working directory.

    Keyed by notebook and embedding, so two notebooks open on the same embedding keep
    their own edits; ``edits-<fingerprint>.json`` outside a notebook. Only the name's
    letters, digits, ``.``, ``-`` and ``_`` are kept, and at most ``NOTEBOOK_STEM_MAX`` of
    them: no name (``../x``, ``..``, ``C:\\x``) leads out of the folder or past the file
    system's limit on a name's length.
    """
    stem = re.sub(r"[^\w.-]+", "_", pathlib.PurePath(notebook).stem)[:NOTEBOOK_STEM_MAX] if notebook else ""
    name = f"edits-{stem}-{fingerprint}.json" if stem else f"edits-{fingerprint}.json"
    return pathlib.Path(AUTOSAVE_DIR).resolve() / name


def previous_path(path) -> pathlib.Path:
    """Where an earlier session's autosave file is moved aside: ``<stem>.previous.json``."""
    path = pathlib.Path(path)
    return path.with_name(path.stem + ".previous.json")
