"""Command line: ``plsd-widget demo`` opens the quick-start notebook (``--headless`` runs it scripted);
``plsd-widget replay`` fine-tunes again from a saved session's edits."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "01_quickstart.ipynb"


def run_headless(out: Path, config, save_session: Path | None = None) -> int:
    """Run the whole loop with a scripted edit and ``config``, print the tables, write the HTML report."""
    from plsd_widget.demo import default_session, scripted_edit
    from plsd_widget.progress import epoch_progress
    from plsd_widget.report import write_session_report

    t0 = time.perf_counter()
    print("Training a small CNN on sklearn's digits and fitting a parametric t-SNE of layer 'latent' ...")
    session = default_session(verbose=True)
    print(f"  ready in {time.perf_counter() - t0:.1f} s: {len(session.y)} training points")
    description = scripted_edit(session)
    print(f"Edit: {description}")
    if save_session is not None:
        session.save(save_session, model="plsd_widget.models:SmallCNN", data="plsd_widget.datasets:load_digits_split")
        print(f"Session saved to {save_session} (replay it with `plsd-widget replay {save_session}`)")

    with epoch_progress(session, config.epochs, desc="PLSD fine-tuning"):
        session.finetune(config, block=True)
    print("Baseline: same start model, cross-entropy only, same epochs ...")
    session.run_baseline(block=True)
    print()
    print("Per-class precision / recall / F1 on the held-out split:")
    print(session.metrics)
    declutter = session.declutter
    print()
    print("Decluttering of the 2-D embedding (distance to target in units of the embedding's scale):")
    print(declutter)
    summary = (f"{description}; PLSD with λ={config.lam} for {config.epochs} epochs (unedited points held, anchor "
               f"{config.anchor:g}), vs a CE-only baseline.")
    fixed = session.fixed_by_plsd()
    print(f"\nFixed by PLSD on the test split: {len(fixed.fixed)} image(s) the baseline gets wrong; "
          f"broken: {len(fixed.broken)} the baseline gets right")
    path = write_session_report(out, session, summary=summary, declutter=declutter)
    session.close()
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


#: The fine-tuning options the command line overrides: flag, config field, parser, help.
OVERRIDES = (("--epochs", "epochs", int, "fine-tuning epochs"),
             ("--lam", "lam", float, "λ, weight of the embedding term, in [0, 1]"),
             ("--lr", "lr", float, "learning rate"),
             ("--anchor", "anchor", float, "weight holding the unedited points"),
             ("--batch-size", "batch_size", int, "global batch size"))


def _config_value(field: str, parse):
    """An argparse type: ``parse`` the text, checked as ``FinetuneConfig`` checks ``field``."""
    from plsd_widget.config import FinetuneConfig

    def check(text: str):
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {'an integer' if parse is int else 'a number'}, "
                                             f"got {text!r}") from None
        try:
            FinetuneConfig().replace(**{field: value})
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{field} ")) from None
        return value

    return check


def add_finetune_arguments(parser) -> None:
    """``--preset`` or ``--config``, then overrides of single fields: one ``FinetuneConfig``."""
    from plsd_widget.config import PRESETS, FinetuneConfig

    group = parser.add_argument_group("fine-tuning", "one FinetuneConfig: a preset (default: 'default') or a JSON "
                                                     "file, with the options below overriding its fields")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=PRESETS, default=None, help="a named recipe (default: 'default')")
    source.add_argument("--config", type=Path, default=None, metavar="FILE.json",
                        help="a FinetuneConfig as JSON (FinetuneConfig.to_json, or a replay's config.json)")
    default = FinetuneConfig.default()
    for flag, field, parse, what in OVERRIDES:
        group.add_argument(flag, dest=field, type=_config_value(field, parse), default=None,
                           help=f"{what} (default: the preset's; 'default' has {getattr(default, field):g})")


def finetune_config(args, parser, default=None):
    """The ``FinetuneConfig`` that ``--preset`` / ``--config`` and the overrides describe; exit 2 if it cannot be read.

    Without ``--preset`` or ``--config`` the overrides apply to ``default`` (None: the default recipe).
    """
    from plsd_widget.config import FinetuneConfig, resolve_config

    config = args.preset if args.preset is not None else default
    if args.config is not None:
        try:
            config = FinetuneConfig.from_json(args.config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            parser.error(f"--config {args.config}: {exc}")
    return resolve_config(config, **{field: getattr(args, field) for _, field, _, _ in OVERRIDES
                                     if getattr(args, field) is not None})


def _positive_int(text: str) -> int:
    """Parse ``--nproc``: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def add_replay_parser(sub) -> None:
    """The ``replay`` subcommand's arguments."""
    replay = sub.add_parser(
        "replay", help="apply a saved session's edits again: fine-tune, write weights, report and metrics",
        description="Rebuild the session an edit log was made on (from the folder Session.save or `demo --headless "
                    "--save-session` wrote), check the log's fingerprint, fine-tune with PLSD and write OUT/: "
                    "model.safetensors, edits.json, config.json, report.html, metrics.json, history.json. Exit "
                    "status 2 when the inputs do not fit (nothing is written then).")
    replay.add_argument("edits", type=Path, help="a saved-session folder, or an edits.json (in one, or with "
                                                 "--embedding and --weights)")
    replay.add_argument("--model", default=None, help="MODULE:CALLABLE building the classifier (default: the "
                                                     "folder's, else plsd_widget.models:SmallCNN)")
    replay.add_argument("--weights", type=Path, default=None, help="start weights, safetensors (default: the "
                                                                   "folder's model.safetensors)")
    replay.add_argument("--layer", default=None, help="layer name (default: the folder's, else 'latent')")
    replay.add_argument("--data", default=None, help="MODULE:CALLABLE returning (x, y[, x_test, y_test]) or "
                                                     "(train, test) splits (default: the folder's, else the digits)")
    replay.add_argument("--embedding", type=Path, default=None, help="a saved ParametricTSNE (default: the folder's)")
    add_finetune_arguments(replay)
    replay.add_argument("--no-baseline", action="store_true", help="skip the cross-entropy baseline")
    replay.add_argument("--random-state", type=int, default=None, help="seed (default: the folder's, else 0)")
    replay.add_argument("--out", type=Path, default=Path("results"), help="output folder (default results/)")
    replay.add_argument("--force", action="store_true", help="replace a non-empty --out")
    replay.add_argument("--nproc", type=_positive_int, default=1,
                        help="processes: >1 runs under torch.distributed.run with DDP (gloo on CPU, NCCL on CUDA)")
    replay.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    replay.add_argument("--quiet", action="store_true", help="no progress on stderr")
    replay.add_argument("--distributed-worker", action="store_true", help=argparse.SUPPRESS)


def run_replay(args, config) -> int:
    """``plsd-widget replay``: 0 on success, 2 when the inputs do not fit, 1 when a process failed (nothing written)."""
    from plsd_widget.replaying import ReplayError, WorkersFailed, replay

    code = 0
    try:
        replay(args.edits, config, model=args.model, layer=args.layer, data=args.data, embedding=args.embedding,
               weights=args.weights, baseline=not args.no_baseline, out=args.out, force=args.force,
               nproc=args.nproc, device=args.device, random_state=args.random_state, progress=not args.quiet,
               _distributed=args.distributed_worker)
    except ReplayError as exc:
        print(f"plsd-widget replay: error: {exc}", file=sys.stderr)
        code = 2
    except WorkersFailed as exc:
        print(f"plsd-widget replay: error: {exc}", file=sys.stderr)
        code = 1
    if args.distributed_worker:
        # A torchrun worker whose work is done (process 0 has written the outputs, the process
        # group is destroyed) leaves without the interpreter's C++ teardown: with gloo, a process
        # tearing down while another rank still runs aborts now and then ("terminate called
        # without an active exception", SIGABRT; 2 in 10 two-process runs of torch 2.13 on the
        # CPU, 0 in 40 with os._exit), and torchrun would then report the whole replay failed.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="plsd-widget", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the demo on the embedded default (sklearn digits)",
                          description="Run the demo on the embedded default (sklearn digits). Without --preset or "
                                      "--config it fine-tunes with the demo's recipe, plsd_widget.demo.DEMO_FINETUNE "
                                      "(the default recipe for 10 epochs, so the edited classes get where they were "
                                      "put); --epochs etc. override its fields.")
    demo.add_argument("--headless", action="store_true", help="no browser: scripted edit, table, HTML report")
    demo.add_argument("--out", type=Path, default=Path("plsd_report.html"), help="report path (headless)")
    demo.add_argument("--port", type=int, default=None, help="JupyterLab port")
    demo.add_argument("--save-session", type=Path, default=None, metavar="DIR",
                      help="save the session (start weights, embedding, the edit) for `plsd-widget replay DIR` "
                           "(headless)")
    add_finetune_arguments(demo)
    add_replay_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "demo" and args.save_session is not None and not args.headless:
        parser.error("--save-session needs --headless (in JupyterLab, call session.save(DIR))")
    default = None
    if args.command == "demo":
        from plsd_widget.demo import DEMO_FINETUNE

        default = DEMO_FINETUNE
    config = finetune_config(args, parser, default)
    if args.command == "replay":
        return run_replay(args, config)
    if args.headless:
        return run_headless(args.out, config, args.save_session)
    return open_lab(args.port)


if __name__ == "__main__":
    sys.exit(main())
