"""Where a replay's inputs come from: the edits file and its saved-session folder, the model, the data,
the embedding; and the session they rebuild, checked against the edits' fingerprint.

Every problem raises :class:`ReplayError` with a message that says how to fix it,
before anything is written.
"""

from __future__ import annotations

import copy
import importlib
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from plsd_widget.config import RANDOM_STATE
from plsd_widget.saved_session import CONFIG_FILE, EDITS_FILE, EMBEDDING_STEM, MODEL_FILE, read_config

DEFAULT_MODEL = "plsd_widget.models:SmallCNN"
DEFAULT_DATA = "plsd_widget.datasets:load_digits_split"
DEFAULT_LAYER = "latent"


class ReplayError(ValueError):
    """The replay's inputs do not fit together; nothing was written. The message says how to fix it."""



def locate(edits) -> tuple[Path, Path | None, dict]:
    """The edits file, the saved-session folder it is in (or None) and that folder's ``session.json``."""
    if not isinstance(edits, (str, os.PathLike)):
        raise TypeError(f"edits must be a path to an edits.json or a saved-session folder, got {type(edits).__name__}")
    path = Path(edits)
    if path.is_dir():
        folder, path = path, path / EDITS_FILE
        if not path.is_file():
            raise ReplayError(f"{folder} holds no {EDITS_FILE}; pass a folder written by Session.save "
                              "(or `plsd-widget demo --headless --save-session DIR`), or an edits file")
    elif not path.is_file():
        raise ReplayError(f"edits file {path} not found; pass the edits.json that Session.save_edits wrote "
                          "or the folder Session.save wrote")
    else:
        folder = path.parent
    if not (folder / CONFIG_FILE).is_file():
        return path, None, {}
    try:
        return path, folder, read_config(folder)
    except ValueError as exc:
        raise ReplayError(str(exc)) from exc


def read_header(path: Path) -> dict:
    """The edit log's JSON, checked just enough to fail before any model is built."""
    from plsd_widget import edit_files

    try:
        header = edit_files.read_header(path)
        if not header["edits"]:
            raise ValueError(f"{path}: it holds no edit; there is nothing to replay")
    except ValueError as exc:
        raise ReplayError(f"cannot replay {exc}. Pass an edits file written by Session.save_edits "
                          "or Session.save") from exc
    return header


@contextmanager
def _cwd_importable():
    """Let ``module:callable`` name a module in the working directory, as ``python -m`` would."""
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def load_callable(spec: str, what: str):
    """The callable named by ``"module:callable"`` (``callable`` may be dotted); a ``ReplayError`` if none."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ReplayError(f"{what} must be 'module:callable' like {DEFAULT_MODEL!r}, got {spec!r}")
    module_name, attr = spec.split(":")
    try:
        with _cwd_importable():
            obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise ReplayError(f"cannot import {module_name!r} for {what} {spec!r}: {exc}; check the name, or run "
                          "from the folder that holds the module") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ReplayError(f"{module_name!r} has no {attr!r} for {what} {spec!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ReplayError(f"{what} {spec!r} is not callable")
    return obj


def _describe(source) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "__qualname__", type(source).__name__)


def _build_model(model, weights, folder, saved):
    """The model to fine-tune, with the start weights loaded; and a description of where it came from."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    source = model if model is not None else saved.get("model") or DEFAULT_MODEL
    if isinstance(source, torch.nn.Module):
        module = copy.deepcopy(source)  # the caller's model is left as it is
    elif isinstance(source, str):
        module = load_callable(source, "model")()
    elif callable(source):
        module = source()
    else:
        raise TypeError(f"model must be a torch.nn.Module, a callable or a 'module:callable' string, got "
                        f"{type(source).__name__}")
    if not isinstance(module, torch.nn.Module):
        raise ReplayError(f"model {_describe(source)} returned {type(module).__name__}, not a torch.nn.Module")
    description = _describe(source)
    if weights is None and folder is not None and (folder / MODEL_FILE).is_file():
        weights = folder / MODEL_FILE
    if weights is not None:
        try:
            state = load_file(str(weights))
        except (OSError, SafetensorError) as exc:
            raise ReplayError(f"cannot read the weights {weights}: {exc}") from exc
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise ReplayError(f"the weights in {weights} do not fit the model built by {description}: {exc}. "
                              "Pass the --model the session was saved with") from exc
        description += f" with the weights {weights}"
    return module.eval(), description


def _unpack_data(value, description):
    """``(x, y, x_test, y_test, class_names)`` from what a data source gave."""
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and all(hasattr(v, "images") and hasattr(v, "labels") for v in value):
            train, test = value
            return train.images, train.labels, test.images, test.labels, getattr(train, "class_names", None)
        if len(value) in (2, 4):
            x, y, *rest = value
            return (x, y, *(rest or (None, None)), None)
    raise ReplayError(f"data {description} must give (x, y), (x, y, x_test, y_test) or (train, test) splits "
                      f"with .images and .labels; got {type(value).__name__}"
                      + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""))


def _load_data(data, saved):
    source = data if data is not None else saved.get("data") or DEFAULT_DATA
    description = _describe(source) if callable(source) or isinstance(source, str) else "the data passed"
    if isinstance(source, str):
        source = load_callable(source, "data")
    value = source() if callable(source) else source
    return (*_unpack_data(value, description), description)


def _load_embedding(embedding, folder, device):
    from plsd_widget.embedding import ParametricTSNE

    if isinstance(embedding, ParametricTSNE):
        return embedding, "the embedding passed"
    path = embedding if embedding is not None else (folder / EMBEDDING_STEM if folder is not None else None)
    if path is None:
        raise ReplayError("no embedding to replay the edits on: pass embedding= (--embedding PATH, what "
                          "ParametricTSNE.save wrote), or replay from the folder Session.save wrote")
    try:
        return ParametricTSNE.load(path, device=device), f"the embedding {path}"
    except (FileNotFoundError, ValueError) as exc:
        raise ReplayError(f"cannot load the embedding {path}: {exc}") from exc


def _mismatch_message(edits_path, header, session, embedding, sources) -> str:
    from plsd_widget.edits import fingerprint

    expected, actual = header["fingerprint"], session.fingerprint
    own = getattr(embedding, "embedding_", None)
    model_src, data_src, emb_src = sources
    if own is not None and own.shape == session.positions.shape and fingerprint(own) == expected:
        why = (f"the embedding is the one the edits were made on, but the model's activations at layer "
               f"{session.layer!r} are not the ones it was fitted on: the model ({model_src}), the layer or the "
               f"data ({data_src}) differ from the session's")
    else:
        why = (f"{emb_src} does not show the points where the session did: it is another embedding, or the "
               f"model ({model_src}) or the data ({data_src}) differ from the session's")
    return (f"fingerprint mismatch: {edits_path} was made on positions with fingerprint {expected!r}, but "
            f"these give {actual!r}; {why}. Replay from the folder the session was saved in (Session.save, or "
            "`plsd-widget demo --headless --save-session DIR`), which holds its start weights and embedding, "
            "with the data and layer of that session. Nothing was written")


def prepare(edits, *, model, weights, layer, data, embedding, device, random_state):
    """The session the edits were made on, with them loaded; checked against their fingerprint."""
    from plsd_widget.session import Session

    edits_path, folder, saved = locate(edits)
    header = read_header(edits_path)
    net, model_src = _build_model(model, weights, folder, saved)
    x, y, x_test, y_test, names, data_src = _load_data(data, saved)
    names = saved.get("class_names") or names
    n_points = header.get("n_points")
    if n_points is not None and n_points != len(y):
        raise ReplayError(f"the edits in {edits_path} are of {n_points} points, but the data ({data_src}) has "
                          f"{len(y)}: pass the data the session was made on (--data). Nothing was written")
    tsne, emb_src = _load_embedding(embedding, folder, device)
    layer = layer if layer is not None else saved.get("layer", DEFAULT_LAYER)
    random_state = random_state if random_state is not None else saved.get("random_state", RANDOM_STATE)
    try:
        session = Session(net, layer, x, y, x_test=x_test, y_test=y_test, class_names=names, embedding=tsne,
                          device=device, random_state=random_state)
    except (ValueError, TypeError) as exc:
        raise ReplayError(f"cannot rebuild the session ({model_src}, layer {layer!r}, data {data_src}, "
                          f"{emb_src}): {exc}") from exc
    if session.fingerprint != header["fingerprint"]:
        raise ReplayError(_mismatch_message(edits_path, header, session, tsne, (model_src, data_src, emb_src)))
    try:
        session.load_edits(edits_path)
    except ValueError as exc:
        raise ReplayError(str(exc)) from exc
    return session, edits_path
