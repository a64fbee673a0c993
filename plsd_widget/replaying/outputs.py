"""A replay's output folder, written whole or not at all, and what it holds.

- ``model.safetensors``: the fine-tuned weights (``safetensors.torch.load_file``);
- ``edits.json``: the edit log replayed (as ``Session.save_edits`` writes it);
- ``config.json``: the fine-tuning config (``FinetuneConfig.from_json`` reads it);
- ``report.html``: the self-contained report of the headless demo;
- ``metrics.json``: per-class precision / recall / F1, accuracy and confusion of each run
  ("before", "PLSD", "baseline (CE)"), the declutter scores and the settings (the config
  among them);
- ``history.json``: per-epoch mean loss, cross-entropy and embedding term.

The files are written to a new folder beside ``out``, made with the process's usual
permissions, which then takes ``out``'s place by a rename.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plsd_widget.replaying.sources import ReplayError

OUTPUT_FILES = ("model.safetensors", "edits.json", "config.json", "report.html", "metrics.json", "history.json")


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

    @property
    def config(self):
        """The :class:`~plsd_widget.config.FinetuneConfig` the replay ran with."""
        from plsd_widget.config import FinetuneConfig

        return FinetuneConfig.from_dict(self.metrics["config"])


def check_out(out: Path, force: bool) -> None:
    """Refuse an ``out`` that is a file, or a folder that is not empty unless ``force``."""
    if out.exists() and not out.is_dir():
        raise ReplayError(f"--out {out} is a file; remove it or choose another folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ReplayError(f"--out {out} exists and is not empty; pass force=True (--force) to replace it, "
                          "or choose another folder")


def plain(value):
    """JSON-ready: arrays to lists, NaN and infinities to None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (np.integer, bool)):
        return value if isinstance(value, bool) else int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def metrics_of(session, declutter, settings: dict) -> dict:
    """``metrics.json``: ``settings``, then each run's scores and the declutter table's."""
    runs = {}
    for run, report in session.metrics.reports.items():
        runs[run] = {"accuracy": report.accuracy, "precision": report.precision, "recall": report.recall,
                     "f1": report.f1, "support": report.support, "confusion": report.confusion}
    scores = {}
    for (run, split), s in declutter.scores.items():
        scores.setdefault(run, {})[split] = {k: s[k] for k in ("purity", "overlap", "distance", "class_overlap")
                                             if k in s}
    return plain(settings | {"class_names": session.class_names, "embedding_scale": session.embedding_scale,
                             "runs": runs, "declutter": scores})


def _fresh_folder_beside(out: Path, what: str) -> Path:
    """An empty folder next to ``out``, with the permissions any new folder of this process gets."""
    while True:
        folder = out.parent / f".{out.name}.{what}-{uuid.uuid4().hex[:12]}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue


def write_outputs(session, out: Path, edits_path: Path, force: bool, settings: dict, config) -> ReplayResult:
    """Write the outputs to a fresh folder beside ``out``, then put it in ``out``'s place."""
    from safetensors.torch import save_file

    from plsd_widget.edit_files import write_edit_log

    check_out(out, force)
    declutter = session.declutter
    metrics = metrics_of(session, declutter, settings | {"config": config.to_dict()})
    history = plain(session.history)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _fresh_folder_beside(out, "replay")
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in session.model.state_dict().items()},
                  str(tmp / "model.safetensors"))
        write_edit_log(tmp / "edits.json", session.edits)
        (tmp / "config.json").write_text(config.to_json(), encoding="utf-8")
        _write_report(tmp / "report.html", session, declutter, edits_path, settings, config)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1, allow_nan=False), encoding="utf-8")
        (tmp / "history.json").write_text(json.dumps(history, indent=1, allow_nan=False), encoding="utf-8")
        if out.exists():  # empty, or replaced with force
            check_out(out, force)
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return ReplayResult(out, {name: out / name for name in OUTPUT_FILES}, metrics, history)


def _write_report(path: Path, session, declutter, edits_path: Path, settings: dict, config) -> None:
    from plsd_widget.report import write_session_report

    baseline = ", against a cross-entropy baseline of as many epochs" if "baseline (CE)" in session.reports else ""
    summary = (f"Replay of {len(session.edits.edits)} edit(s) from {edits_path.name} (fingerprint "
               f"{settings['fingerprint']}): PLSD with λ={config.lam:g} for {config.epochs} epoch(s), "
               f"unedited points held (anchor {config.anchor:g}){baseline}; {settings['nproc']} process(es).")
    write_session_report(path, session, summary=summary, declutter=declutter)


def read_result(out: Path) -> ReplayResult:
    """The :class:`ReplayResult` of a folder a replay wrote."""
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    history = json.loads((out / "history.json").read_text(encoding="utf-8"))
    return ReplayResult(out, {name: out / name for name in OUTPUT_FILES}, metrics, history)
