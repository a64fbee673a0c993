"""Command line: ``plsd-widget demo`` opens the quick-start notebook; ``--headless`` runs it scripted."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "01_quickstart.ipynb"


def run_headless(out: Path, epochs: int, lam: float) -> int:
    """Run the whole loop with a scripted edit, print the tables, write the HTML report."""
    from tqdm.auto import tqdm

    from plsd_widget.demo import default_session, scripted_edit
    from plsd_widget.report import write_report
    from plsd_widget.session import DEFAULT_ANCHOR

    t0 = time.perf_counter()
    print("Training a small CNN on sklearn's digits and fitting a parametric t-SNE of layer 'latent' ...")
    session = default_session(verbose=True)
    print(f"  ready in {time.perf_counter() - t0:.1f} s: {len(session.y)} training points")
    before = session.positions.copy()
    description = scripted_edit(session)
    print(f"Edit: {description}")

    bar = tqdm(total=epochs, desc="PLSD fine-tuning", unit="epoch")
    session.on("progress", lambda batch, n_batches, **_: bar.update(int(batch == n_batches)))
    session.finetune(epochs=epochs, lam=lam, block=True)
    bar.close()
    print("Baseline: same start model, cross-entropy only, same epochs ...")
    session.run_baseline()
    print()
    print("Per-class precision / recall / F1 on the held-out split:")
    print(session.metrics)
    declutter = session.declutter
    print()
    print("Decluttering of the 2-D embedding (distance to target in units of the embedding's scale):")
    print(declutter)
    summary = (f"{description}; PLSD with λ={lam} for {epochs} epochs (unedited points held, anchor "
               f"{DEFAULT_ANCHOR:g}), vs a CE-only baseline.")
    path = write_report(out, before=before, after=session.positions, labels=session.y,
                        class_names=session.class_names, targets=session.targets,
                        metrics=session.metrics, summary=summary, declutter=declutter)
    print(f"\nReport written to {path.resolve()} ({time.perf_counter() - t0:.1f} s in all)")
    return 0


def open_lab(port: int | None) -> int:
    """Start JupyterLab on the quick-start notebook."""
    if not NOTEBOOK.exists():
        print(f"quick-start notebook not found at {NOTEBOOK}; run from a source checkout, "
              "or use `plsd-widget demo --headless`", file=sys.stderr)
        return 2
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or shutil.which("jupyter")
    if jupyter is None:
        print("JupyterLab is not installed; `pip install plsd_widget[notebook]`", file=sys.stderr)
        return 2
    cmd = [jupyter, "lab", str(NOTEBOOK)] + ([f"--port={port}"] if port else [])
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers often run as root; JupyterLab refuses it otherwise
    return subprocess.call(cmd)


def _positive_int(text: str) -> int:
    """Parse ``--epochs``: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _fraction(text: str) -> float:
    """Parse ``--lam``: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="plsd-widget", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the demo on the embedded default (sklearn digits)")
    demo.add_argument("--headless", action="store_true", help="no browser: scripted edit, table, HTML report")
    demo.add_argument("--out", type=Path, default=Path("plsd_report.html"), help="report path (headless)")
    demo.add_argument("--epochs", type=_positive_int, default=3, help="fine-tuning epochs (headless)")
    demo.add_argument("--lam", type=_fraction, default=0.5, help="λ, weight of the embedding term (headless)")
    demo.add_argument("--port", type=int, default=None, help="JupyterLab port")
    args = parser.parse_args(argv)
    if args.headless:
        return run_headless(args.out, args.epochs, args.lam)
    return open_lab(args.port)


if __name__ == "__main__":
    sys.exit(main())
