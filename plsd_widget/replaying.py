"""Headless replay: a saved edit log applied to the same model and data, fine-tuned, written out.

``plsd-widget replay DIR`` (or :func:`replay`) rebuilds the view an edit log was made on
from a folder written by :meth:`Session.save <plsd_widget.session.Session.save>` (the
start weights, the embedding, ``edits.json``), checks the log's fingerprint against the
positions that model and embedding give on the data, fine-tunes with PLSD (optionally
on several processes under ``torchrun``), and writes one folder:

- ``model.safetensors``: the fine-tuned weights (``safetensors.torch.load_file``);
- ``edits.json``: a copy of the edit log replayed;
- ``report.html``: the self-contained report of the headless demo;
- ``metrics.json``: per-class precision / recall / F1, accuracy and confusion of each
  run ("before", "PLSD", "baseline (CE)"), the declutter scores, the settings;
- ``history.json``: per-epoch mean loss, cross-entropy and embedding term.

The folder appears whole or not at all: it is written to a temporary folder beside it
and renamed. Input problems (an edits file that is not an edit log, a fingerprint
that does not match, an existing ``out``) raise :class:`ReplayError` before anything is
written; the command line exits with status 2 on them.
"""

from __future__ import annotations

import copy
import importlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plsd_widget.saved_session import CONFIG_FILE, EDITS_FILE, EMBEDDING_STEM, MODEL_FILE, read_config

DEFAULT_MODEL = "plsd_widget.models:SmallCNN"
DEFAULT_DATA = "plsd_widget.datasets:load_digits_split"
DEFAULT_LAYER = "latent"
OUTPUT_FILES = ("model.safetensors", "edits.json", "report.html", "metrics.json", "history.json")
#: Largest difference of any weight accepted between a replay on ``nproc`` processes and on
#: one with the same global batch (``tests/test_replay.py`` checks it). The difference is the
#: order of float sums only (:mod:`plsd_widget.distributed`); it grows with the number of
#: steps (``scripts/ddp_check.py``: 3e-8 after 6 steps of batch 500, 1e-4 after 46 of batch 64).
DDP_TOLERANCE = 1e-5


class ReplayError(ValueError):
    """The replay's inputs do not fit together; nothing was written. The message says how to fix it."""


@dataclass
class ReplayResult:
    """What a replay wrote.

    Attributes
    ----------
    out : Path
        The output folder.
    files : dict of str to Path
        Each file written, by name (``OUTPUT_FILES``).
    metrics : dict
        The content of ``metrics.json``.
    history : list of dict
        The content of ``history.json``: per epoch ``epoch``, ``loss``, ``ce``, ``emb``.
    """

    out: Path
    files: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    history: list = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return self.metrics.get("fingerprint", "")


# ------------------------------------------------------------------ inputs
def _locate(edits) -> tuple[Path, Path | None, dict]:
    """The edits file, the saved-session folder it is in (or None) and that folder's config."""
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


def _read_header(path: Path) -> dict:
    """The edit log's JSON, checked just enough to fail before any model is built."""
    from plsd_widget.edit_files import read_header

    try:
        header = read_header(path)
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


def _build_model(model, weights, folder, config):
    """The model to fine-tune, with the start weights loaded; and a description of where it came from."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    source = model if model is not None else config.get("model") or DEFAULT_MODEL
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


def _load_data(data, config):
    source = data if data is not None else config.get("data") or DEFAULT_DATA
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


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ReplayError(f"--out {out} is a file; remove it or choose another folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ReplayError(f"--out {out} exists and is not empty; pass force=True (--force) to replace it, "
                          "or choose another folder")


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


def _prepare(edits, *, model, weights, layer, data, embedding, device, random_state):
    """The session the edits were made on, with them loaded; checked against their fingerprint."""
    from plsd_widget.session import Session

    edits_path, folder, config = _locate(edits)
    header = _read_header(edits_path)
    net, model_src = _build_model(model, weights, folder, config)
    x, y, x_test, y_test, names, data_src = _load_data(data, config)
    names = config.get("class_names") or names
    n_points = header.get("n_points")
    if n_points is not None and n_points != len(y):
        raise ReplayError(f"the edits in {edits_path} are of {n_points} points, but the data ({data_src}) has "
                          f"{len(y)}: pass the data the session was made on (--data). Nothing was written")
    tsne, emb_src = _load_embedding(embedding, folder, device)
    layer = layer if layer is not None else config.get("layer", DEFAULT_LAYER)
    random_state = random_state if random_state is not None else config.get("random_state", 0)
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


# ------------------------------------------------------------------ running
def _train(session, *, epochs, lam, lr, anchor, batch_size, baseline, progress):
    from tqdm.auto import tqdm

    bar = tqdm(total=epochs, desc="replay: PLSD fine-tuning", unit="epoch", disable=not progress, file=sys.stderr)

    shown = 0  # epochs shown so far; not bar.n, which a disabled bar (progress=False) never advances

    def on_status(**_):  # after each epoch, once its mean losses are in the history
        nonlocal shown
        for means in session.history[shown:]:
            bar.set_postfix({k: f"{means[k]:.4f}" for k in ("loss", "ce", "emb")}, refresh=False)
            bar.update(1)
            shown += 1

    session.on("status", on_status)
    try:
        session.finetune(epochs=epochs, lam=lam, lr=lr, anchor=anchor, batch_size=batch_size, block=True)
    finally:
        bar.close()
    if baseline:
        if progress:
            print(f"replay: baseline: the start model, cross-entropy only, {epochs} epochs ...", file=sys.stderr)
        session.run_baseline()


def _plain(value):
    """JSON-ready: arrays to lists, NaN and infinities to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.integer, bool)):
        return value if isinstance(value, bool) else int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _metrics(session, declutter, settings) -> dict:
    runs = {}
    for run, report in session.metrics.reports.items():
        runs[run] = {"accuracy": report.accuracy, "precision": report.precision, "recall": report.recall,
                     "f1": report.f1, "support": report.support, "confusion": report.confusion}
    scores = {}
    for (run, split), s in declutter.scores.items():
        scores.setdefault(run, {})[split] = {k: s[k] for k in ("purity", "overlap", "distance", "class_overlap")
                                             if k in s}
    return _plain(settings | {"class_names": session.class_names, "embedding_scale": session.embedding_scale,
                              "runs": runs, "declutter": scores})


def _write(session, out: Path, edits_path: Path, force: bool, settings: dict) -> ReplayResult:
    """Write the outputs to a temporary folder beside ``out``, then put it in ``out``'s place."""
    from safetensors.torch import save_file

    from plsd_widget.report import write_report

    _check_out(out, force)
    declutter = session.declutter
    metrics = _metrics(session, declutter, settings)
    history = _plain(session.history)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.replay-", dir=out.parent))
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0o700 would make the results private
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in session.model.state_dict().items()},
                  str(tmp / "model.safetensors"))
        shutil.copyfile(edits_path, tmp / "edits.json")
        baseline = ", against a cross-entropy baseline of as many epochs" if "baseline (CE)" in session.reports else ""
        summary = (f"Replay of {len(session.edits.edits)} edit(s) from {edits_path.name} (fingerprint "
                   f"{settings['fingerprint']}): PLSD with λ={settings['lam']:g} for {settings['epochs']} epoch(s), "
                   f"unedited points held (anchor {settings['anchor']:g}){baseline}; "
                   f"{settings['nproc']} process(es).")
        write_report(tmp / "report.html", before=session.edits.positions, after=session.positions, labels=session.y,
                     class_names=session.class_names, targets=session.targets, metrics=session.metrics,
                     summary=summary, declutter=declutter)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1, allow_nan=False), encoding="utf-8")
        (tmp / "history.json").write_text(json.dumps(history, indent=1, allow_nan=False), encoding="utf-8")
        if out.exists():  # empty, or replaced with force
            _check_out(out, force)
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / "out")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return ReplayResult(out, {name: out / name for name in OUTPUT_FILES}, metrics, history)


def _read_result(out: Path) -> ReplayResult:
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    history = json.loads((out / "history.json").read_text(encoding="utf-8"))
    return ReplayResult(out, {name: out / name for name in OUTPUT_FILES}, metrics, history)


def _worker_args(edits, *, model, weights, layer, data, embedding, epochs, lam, lr, anchor, batch_size, baseline,
                 out, force, device, random_state, progress) -> list[str]:
    """The ``plsd-widget replay`` arguments that make each torchrun process do this replay."""
    for name, value in (("model", model), ("data", data)):
        if value is not None and not isinstance(value, str):
            raise ReplayError(f"nproc > 1 starts new processes, which cannot be handed Python objects: pass "
                              f"{name} as a 'module:callable' string, not {type(value).__name__}")
    if embedding is not None and not isinstance(embedding, (str, os.PathLike)):
        raise ReplayError("nproc > 1 starts new processes: pass embedding as the path ParametricTSNE.save wrote")
    args = [str(Path(edits).resolve()), "--epochs", str(epochs), "--lam", repr(float(lam)), "--lr", repr(float(lr)),
            "--anchor", repr(float(anchor)), "--batch-size", str(batch_size), "--out", str(Path(out).resolve()),
            "--device", str(device)]
    for flag, value in (("--model", model), ("--data", data), ("--layer", layer)):
        if value is not None:
            args += [flag, value]
    for flag, value in (("--weights", weights), ("--embedding", embedding)):
        if value is not None:
            args += [flag, str(Path(value).resolve())]
    if random_state is not None:
        args += ["--random-state", str(int(random_state))]
    args += [] if baseline else ["--no-baseline"]
    args += ["--force"] if force else []
    args += [] if progress else ["--quiet"]
    return args


class WorkersFailed(RuntimeError):
    """The ``nproc`` replay processes did not all finish; nothing was written. Their output says why."""


def _check_nproc(nproc: int, device) -> None:
    """Refuse, before starting anything, an ``nproc`` that the device cannot run."""
    import torch

    from plsd_widget.devices import resolve_device

    try:
        dev = resolve_device(device)
    except ValueError as exc:
        raise ReplayError(str(exc)) from exc
    if dev.type not in ("cpu", "cuda"):
        raise ReplayError(f"nproc {nproc} runs on 'cpu' (gloo) or 'cuda' (NCCL), not {dev.type!r}; pass "
                          "device='cpu' (--device cpu) or nproc=1")
    if dev.type == "cuda" and nproc > torch.cuda.device_count():
        raise ReplayError(f"nproc {nproc} on CUDA needs one GPU per process, {torch.cuda.device_count()} present; "
                          "pass a smaller nproc (--nproc) or device='cpu' (--device cpu, gloo)")


def _launch(args: list[str], nproc: int) -> None:
    """Run ``plsd-widget replay args`` on ``nproc`` processes with torch's launcher (gloo on CPU, NCCL on CUDA).

    An interrupt (Ctrl-C) or any error here stops the launcher with SIGTERM, which stops
    its workers, rather than leaving them running.
    """
    import plsd_widget

    root = str(Path(plsd_widget.__file__).resolve().parent.parent)  # the workers import this very package
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "plsd_widget.cli", "replay", *args, "--distributed-worker"]
    launcher = subprocess.Popen(cmd, env=env)
    try:
        code = launcher.wait()
    except BaseException:
        launcher.terminate()
        try:
            launcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.wait()
        raise
    if code != 0:
        raise WorkersFailed(f"the {nproc} replay processes failed (torch.distributed.run exit code {code}); "
                            "their output is above. Nothing was written")


def replay(edits, *, model=None, layer=None, data=None, embedding=None, weights=None, epochs: int = 3,
           lam: float = 0.5, lr: float = 0.01, anchor: float | None = None, batch_size: int = 64,
           baseline: bool = True, out="results", force: bool = False, nproc: int = 1, device="auto",
           random_state: int | None = None, progress: bool = True, _distributed: bool = False) -> ReplayResult:
    """Apply a saved edit log to the same model and data, fine-tune, and write weights, report and metrics.

    Parameters
    ----------
    edits : str or Path
        A folder written by :meth:`Session.save <plsd_widget.session.Session.save>` (its
        ``session.json`` supplies the defaults below and its ``model.safetensors`` and
        ``embedding`` the start), or an ``edits.json`` (in such a folder, or anywhere with
        ``embedding`` and ``weights`` given).
    model : torch.nn.Module, callable or str, optional
        The classifier, or what builds it: a callable or ``"module:callable"`` called
        without arguments. The start weights (``weights``, else the folder's
        ``model.safetensors``) are loaded into it. Default: the folder's recorded
        ``model``, else ``"plsd_widget.models:SmallCNN"`` (the demo's CNN). A module
        passed is copied, not changed.
    layer : str, optional
        Default: the folder's recorded layer, else ``"latent"``.
    data : tuple, callable or str, optional
        ``(x, y)``, ``(x, y, x_test, y_test)`` or ``(train, test)`` splits with ``.images``
        and ``.labels`` (like :func:`~plsd_widget.datasets.load_digits_split`), or a
        callable or ``"module:callable"`` returning one. Default: the folder's recorded
        ``data``, else ``"plsd_widget.datasets:load_digits_split"`` (the demo's digits).
    embedding : ParametricTSNE or path, optional
        Default: the folder's ``embedding``.
    weights : path, optional
        Start weights (safetensors); default: the folder's ``model.safetensors``.
    epochs : int, default=3
    lam : float, default=0.5
        λ in [0, 1], as in :meth:`Session.finetune`.
    lr : float, default=0.01
    anchor : float, optional
        Default: :class:`~plsd_widget.config.FinetuneConfig`'s.
    batch_size : int, default=64
        The global batch, whatever ``nproc``.
    baseline : bool, default=True
        Also train the start model with cross-entropy only for as many epochs (the
        "baseline (CE)" rows of the metrics and report).
    out : str or Path, default="results"
        The output folder; refused if it exists and is not empty, unless ``force``.
    force : bool, default=False
        Replace a non-empty ``out``.
    nproc : int, default=1
        Processes: above 1 the replay runs under ``python -m torch.distributed.run
        --standalone`` with ``DistributedDataParallel`` (gloo on the CPU, NCCL on CUDA,
        one GPU per process); every process rebuilds the session, process 0 writes.
        The weights equal one process's with the same ``batch_size`` up to the order of
        float sums (``DDP_TOLERANCE``). ``model`` and ``data`` must then be strings.
    device : str, default="auto"
    random_state : int, optional
        Seeds the batch order as in ``Session``; default the folder's, else 0.
    progress : bool, default=True
        A progress bar per epoch and a few lines on stderr.

    Returns
    -------
    ReplayResult

    Raises
    ------
    ReplayError
        For inputs that do not fit: an edits file that is not an edit log, a fingerprint
        that the model, embedding and data do not reproduce, an ``out`` that is not empty,
        an ``nproc`` the device cannot run. Nothing is written then.
    WorkersFailed
        With ``nproc > 1``: a process failed (its output is on stderr). Nothing is written.
    """
    from plsd_widget._validation import check_fraction, check_positive_int
    from plsd_widget.config import FinetuneConfig

    start = time.perf_counter()
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    nproc = check_positive_int(nproc, "nproc")
    lam = check_fraction(lam, "lam")
    anchor = FinetuneConfig().anchor if anchor is None else float(anchor)
    if not (math.isfinite(anchor) and anchor >= 0):
        raise ValueError(f"anchor must be a finite number >= 0, got {anchor!r}")
    if not (math.isfinite(float(lr)) and float(lr) > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    out = Path(out)
    rank, world_size, dev = 0, 1, device
    if _distributed:
        from plsd_widget.distributed import init_from_env, world

        dev = init_from_env(device)
        rank, world_size = world()
    progress = progress and rank == 0
    say = (lambda msg: print(f"replay: {msg}", file=sys.stderr)) if progress else (lambda msg: None)
    if rank == 0:
        _check_out(out, force)
    specs = dict(model=model, weights=weights, layer=layer, data=data, embedding=embedding)
    if nproc > 1 and not _distributed:
        _check_nproc(nproc, device)
        args = _worker_args(edits, **specs, epochs=epochs, lam=lam, lr=lr, anchor=anchor, batch_size=batch_size,
                            baseline=baseline, out=out, force=force, device=device, random_state=random_state,
                            progress=progress)
    say(f"rebuilding the session from {edits} ...")
    session, edits_path = _prepare(edits, **specs, device=dev, random_state=random_state)
    say(f"fingerprint {session.fingerprint} matches: {len(session.edits.edits)} edit(s) of "
        f"{int(np.isfinite(session.targets).all(axis=1).sum())} point(s)")
    if nproc > 1 and not _distributed:
        del session
        say(f"starting {nproc} processes (torch.distributed.run) ...")
        _launch(args, nproc)
        result = _read_result(out)
        say(f"written to {out} ({time.perf_counter() - start:.1f} s in all)")
        return result
    try:
        _train(session, epochs=epochs, lam=lam, lr=lr, anchor=anchor, batch_size=batch_size, baseline=baseline,
               progress=progress)
        settings = {"fingerprint": session.fingerprint, "edits": str(edits_path), "epochs": epochs, "lam": lam,
                    "lr": lr, "anchor": anchor, "batch_size": batch_size, "nproc": world_size,
                    "random_state": session.random_state}
        result = None
        if rank == 0:
            result = _write(session, out, edits_path, force, settings)
            say(f"written to {out} ({time.perf_counter() - start:.1f} s in all)")
    finally:
        if _distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
    return result
