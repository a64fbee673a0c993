"""The replay driver: rebuild the session, fine-tune with one ``FinetuneConfig``, write the outputs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from plsd_widget.config import DEVICE, resolve_config
from plsd_widget.progress import epoch_progress
from plsd_widget.replaying.launch import check_nproc, launch, worker_args
from plsd_widget.replaying.outputs import check_out, read_result, write_outputs
from plsd_widget.replaying.sources import ReplayError, prepare


def train(session, config, *, baseline: bool, progress: bool) -> None:
    """Fine-tune ``session`` with ``config`` (a bar per epoch), then the baseline if asked."""
    with epoch_progress(session, config.epochs, desc="replay: PLSD fine-tuning", enabled=progress, file=sys.stderr):
        session.finetune(config, block=True)
    if baseline:
        if progress:
            print(f"replay: baseline: the start model, cross-entropy only, {config.epochs} epochs ...",
                  file=sys.stderr)
        session.run_baseline(block=True)


def replay(edits, config=None, *, model=None, layer=None, data=None, embedding=None, weights=None,
           baseline: bool = True, out="results", force: bool = False, nproc: int = 1, device=DEVICE,
           random_state: int | None = None, progress: bool = True, _distributed: bool = False, **overrides):
    """Apply a saved edit log to the same model and data, fine-tune, and write weights, report and metrics.

    Parameters
    ----------
    edits : str or Path
        A folder written by :meth:`Session.save <plsd_widget.session.Session.save>` (its
        ``session.json`` supplies the defaults below and its ``model.safetensors`` and
        ``embedding`` the start), or an ``edits.json`` (in such a folder, or anywhere with
        ``embedding`` and ``weights`` given).
    config : FinetuneConfig or str, optional
        The fine-tuning recipe (:class:`~plsd_widget.config.FinetuneConfig`) or a preset's
        name (``"default"``, ``"paper"``); None is the default. It must be writable as JSON
        (a named optimiser, no scheduler or transform): the output records it.
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
    baseline : bool, default=True
        Also train the start model with cross-entropy only for as many epochs (the
        "baseline (CE)" rows of the metrics and report).
    out : str or Path, default="results"
        The output folder (:mod:`~plsd_widget.replaying.outputs`); refused if it exists and
        is not empty, unless ``force``.
    force : bool, default=False
        Replace a non-empty ``out``.
    nproc : int, default=1
        Processes: above 1 the replay runs under ``python -m torch.distributed.run
        --standalone`` with ``DistributedDataParallel`` (gloo on the CPU, NCCL on CUDA,
        one GPU per process); every process rebuilds the session, process 0 writes.
        The weights equal one process's with the same global batch up to the order of
        float sums (``DDP_TOLERANCE``). ``model`` and ``data`` must then be strings.
    device : str, default="auto"
    random_state : int, optional
        Seeds the batch order as in ``Session``; default the folder's, else 0.
    progress : bool, default=True
        A progress bar per epoch and a few lines on stderr.
    **overrides
        Fields of the config to change (``epochs``, ``lam``, ``lr``, ``anchor``,
        ``batch_size``, ...).

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
    from plsd_widget._validation import check_positive_int

    start = time.perf_counter()
    config = _json_config(config, overrides)
    nproc = check_positive_int(nproc, "nproc")
    out = Path(out)
    rank, world_size, dev = 0, 1, device
    if _distributed:
        from plsd_widget.distributed import init_from_env, world

        dev = init_from_env(device)
        rank, world_size = world()
    progress = progress and rank == 0
    say = (lambda msg: print(f"replay: {msg}", file=sys.stderr)) if progress else (lambda msg: None)
    if rank == 0:
        check_out(out, force)
    specs = dict(model=model, weights=weights, layer=layer, data=data, embedding=embedding)
    launching = nproc > 1 and not _distributed
    if launching:
        check_nproc(nproc, device)
        args = worker_args(edits, **specs, baseline=baseline, out=out, force=force, device=device,
                           random_state=random_state, progress=progress)
    say(f"rebuilding the session from {edits} ...")
    session, edits_path = prepare(edits, **specs, device=dev, random_state=random_state)
    say(f"fingerprint {session.fingerprint} matches: {len(session.edits.edits)} edit(s) of "
        f"{int(np.isfinite(session.targets).all(axis=1).sum())} point(s)")
    if launching:
        session.close()
        del session
        say(f"starting {nproc} processes (torch.distributed.run) ...")
        launch(args, config, nproc)
        result = read_result(out)
    else:
        result = _run_here(session, edits_path, config, out=out, force=force, baseline=baseline, rank=rank,
                           world_size=world_size, progress=progress, distributed=_distributed)
    if result is not None:
        say(f"written to {out} ({time.perf_counter() - start:.1f} s in all)")
    return result


def _json_config(config, overrides):
    """The run's config, refused (before any work) if JSON cannot record it."""
    config = resolve_config(config, **overrides)
    try:
        config.to_json()
    except ValueError as exc:
        raise ReplayError(f"a replay records its fine-tuning config as JSON: {exc}") from exc
    return config


def _run_here(session, edits_path, config, *, out, force, baseline, rank, world_size, progress, distributed):
    """Fine-tune in this process (one of ``world_size``); process 0 writes the outputs and returns them."""
    try:
        train(session, config, baseline=baseline, progress=progress)
        settings = {"fingerprint": session.fingerprint, "edits": str(edits_path), "nproc": world_size,
                    "random_state": session.random_state}
        return write_outputs(session, out, edits_path, force, settings, config) if rank == 0 else None
    finally:
        session.close()
        if distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
