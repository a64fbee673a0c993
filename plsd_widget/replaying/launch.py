"""A replay on several processes: ``python -m torch.distributed.run`` starting ``plsd-widget replay`` workers.

Each worker rebuilds the session and fine-tunes its shard of every global batch
(:mod:`plsd_widget.distributed`); process 0 writes the outputs. The workers read the
fine-tuning config from one JSON file the launcher writes (``--config``); the other
arguments name where the inputs and outputs are.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from plsd_widget.replaying.sources import ReplayError

#: Largest difference of any weight accepted between a replay on ``nproc`` processes and on
#: one with the same global batch (``tests/test_replay.py`` checks it). The difference is the
#: order of float sums only (:mod:`plsd_widget.distributed`); it grows with the number of
#: steps (``scripts/ddp_check.py``: 3e-8 after 6 steps of batch 500, 1e-4 after 46 of batch 64).
DDP_TOLERANCE = 1e-5


class WorkersFailed(RuntimeError):
    """The ``nproc`` replay processes did not all finish; nothing was written. Their output says why."""


def check_nproc(nproc: int, device) -> None:
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


def worker_args(edits, *, model, weights, layer, data, embedding, baseline, out, force, device, random_state,
                progress) -> list[str]:
    """The ``plsd-widget replay`` arguments, but for the config, that make each worker do this replay."""
    for name, value in (("model", model), ("data", data)):
        if value is not None and not isinstance(value, str):
            raise ReplayError(f"nproc > 1 starts new processes, which cannot be handed Python objects: pass "
                              f"{name} as a 'module:callable' string, not {type(value).__name__}")
    if embedding is not None and not isinstance(embedding, (str, os.PathLike)):
        raise ReplayError("nproc > 1 starts new processes: pass embedding as the path ParametricTSNE.save wrote")
    args = [str(Path(edits).resolve()), "--out", str(Path(out).resolve()), "--device", str(device)]
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


def launch(args: list[str], config, nproc: int) -> None:
    """Run ``plsd-widget replay args --config FILE`` on ``nproc`` processes (gloo on CPU, NCCL on CUDA).

    ``FILE`` holds ``config`` as JSON for the time of the run. An interrupt (Ctrl-C) or
    any error here stops the launcher with SIGTERM, which stops its workers, rather than
    leaving them running.
    """
    import plsd_widget

    root = str(Path(plsd_widget.__file__).resolve().parent.parent)  # the workers import this very package
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    handle, config_file = tempfile.mkstemp(prefix="plsd-replay-config-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(config.to_json())
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "plsd_widget.cli", "replay", *args, "--config", config_file, "--distributed-worker"]
        code = _wait_for(subprocess.Popen(cmd, env=env))
    finally:
        os.unlink(config_file)
    if code != 0:
        raise WorkersFailed(f"the {nproc} replay processes failed (torch.distributed.run exit code {code}); "
                            "their output is above. Nothing was written")


def _wait_for(launcher: subprocess.Popen) -> int:
    try:
        return launcher.wait()
    except BaseException:
        launcher.terminate()
        try:
            launcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.wait()
        raise
