"""Cold start: the first ``ParametricTSNE.transform`` and ``fit`` of a fresh process vs warm ones.

Target (issue 12): the first ``transform`` of a fresh process within 2x the warm figure.

Set-up: a ``ParametricTSNE`` (scheme "distil", whose ``transform`` runs the numba kernel
of :mod:`plsd_widget.embedding.neighbor_offsets`) fitted on PCA-50 of 5,000 MNIST
training images and saved; each measurement is a fresh Python process that imports
``plsd_widget.embedding``, loads the model and embeds the 10,000 test images, once
(first call) and then, once the warm-up thread is done, ``--warm-calls`` times (warm:
their median, same process).
Kinds of process, interleaved so that load spikes hit all alike:

* **empty cache**: a new ``NUMBA_CACHE_DIR`` (the first process after an install);
* **cached**: the cache written by an earlier process (every later process);
* each with the background warm-up on (the default) and off (``PLSD_WARM_UP=0``);
* **cached, pause**: the warm-up on and ``--pause`` seconds between loading the model
  and the first call, as between two notebook cells.

"import to result" is the wall time from the start of ``import plsd_widget.embedding``
to the end of the first ``transform``, which shows whether the warm-up saves time or
only moves it. ``fit`` is measured the same way (a first and a second fit of 5,000
points in one process, ``n_epochs=--fit-epochs``).

Usage: ``python benchmarks/cold_start.py [--repeats 5] [--fit-repeats 3] [--pause 2]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
N_FIT = 5000
TARGET_RATIO = 2.0


def _wait_for_warm_up() -> None:
    """Let the warm-up thread finish, so that it does not slow the warm calls."""
    from plsd_widget.embedding.warm_up import start_warm_up

    thread = start_warm_up()  # the running thread, or None when it is off
    if thread is not None:
        thread.join()


def child_transform(workdir: Path, warm_calls: int, pause: float) -> dict:
    """In a fresh process: import, load, first and warm ``transform`` times in seconds."""
    start = time.perf_counter()
    from plsd_widget.embedding import ParametricTSNE

    imported = time.perf_counter()
    model = ParametricTSNE.load(workdir / "model")
    X_new = np.load(workdir / "X_new.npy", allow_pickle=False)
    loaded = time.perf_counter()
    time.sleep(pause)
    begin = time.perf_counter()
    model.transform(X_new)
    first = time.perf_counter() - begin
    _wait_for_warm_up()
    warm = []
    for _ in range(warm_calls):
        begin = time.perf_counter()
        model.transform(X_new)
        warm.append(time.perf_counter() - begin)
    return {"import": imported - start, "load": loaded - imported, "first": first,
            "warm": float(np.median(warm)), "import_to_result": loaded - start + first}


def child_fit(workdir: Path, fit_epochs: int) -> dict:
    """In a fresh process: the first and the second ``fit`` times in seconds."""
    from plsd_widget.embedding import ParametricTSNE

    X_fit = np.load(workdir / "X_fit.npy", allow_pickle=False)
    times = []
    for _ in range(2):
        begin = time.perf_counter()
        ParametricTSNE(n_epochs=fit_epochs, random_state=0).fit(X_fit)
        times.append(time.perf_counter() - begin)
        _wait_for_warm_up()
    return {"first": times[0], "warm": times[1]}


def prepare(workdir: Path) -> None:
    """Fit and save the model, and write the training and test arrays."""
    from sklearn.decomposition import PCA

    from plsd_widget.datasets import load_mnist
    from plsd_widget.embedding import ParametricTSNE

    train, test = load_mnist("train"), load_mnist("test")
    X_train = train.images[:N_FIT].reshape(N_FIT, -1)
    pca = PCA(n_components=50, svd_solver="full").fit(X_train)
    X_fit = pca.transform(X_train).astype(np.float32)
    np.save(workdir / "X_fit.npy", X_fit)
    np.save(workdir / "X_new.npy", pca.transform(test.images.reshape(len(test.images), -1)).astype(np.float32))
    ParametricTSNE(random_state=0).fit(X_fit).save(workdir / "model")


def run_child(task: str, workdir: Path, cache: Path, warm_up: bool, args, pause: float = 0.0) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PLSD_WARM_UP": "1" if warm_up else "0",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, __file__, "--child", task, "--workdir", str(workdir),
               "--warm-calls", str(args.warm_calls), "--pause", str(pause), "--fit-epochs", str(args.fit_epochs)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(task: str, workdir: Path, repeats: int, args) -> dict[str, list[dict]]:
    """``repeats`` rounds of every kind of process; each empty-cache run gets a new cache directory."""
    kinds = {"empty cache, warm-up on": [], "empty cache, warm-up off": [],
             "cached, warm-up on": [], "cached, warm-up off": []}
    if task == "transform":
        kinds["cached, warm-up on, pause"] = []
    populated = workdir / f"cache-{task}"
    run_child(task, workdir, populated, True, args)  # writes the cache the "cached" kinds read
    for _ in range(repeats):
        for kind, runs in kinds.items():
            cache = populated if kind.startswith("cached") else Path(tempfile.mkdtemp(dir=workdir))
            pause = args.pause if kind.endswith("pause") else 0.0
            runs.append(run_child(task, workdir, cache, "warm-up on" in kind, args, pause))
    return kinds


def report(task: str, kinds: dict[str, list[dict]]) -> None:
    print(f"\nfirst `{task}` of a fresh process (medians of {len(next(iter(kinds.values())))} processes)")
    columns = ["import", "load", "first", "warm", "import_to_result"] if task == "transform" else ["first", "warm"]
    print("| kind | " + " | ".join(f"{c} (s)" for c in columns) + " | first / warm | target |")
    print("|---|" + "---|" * (len(columns) + 2))
    for kind, runs in kinds.items():
        medians = {c: float(np.median([r[c] for r in runs])) for c in columns}
        ratios = [r["first"] / r["warm"] for r in runs]
        ratio = float(np.median(ratios))
        verdict = ("met" if ratio <= TARGET_RATIO else "not met") if task == "transform" else ""
        print(f"| {kind} | " + " | ".join(f"{medians[c]:.3f}" for c in columns)
              + f" | {ratio:.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) | {verdict} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="processes of each kind for transform")
    parser.add_argument("--fit-repeats", type=int, default=3, help="processes of each kind for fit (0: skip)")
    parser.add_argument("--warm-calls", type=int, default=7)
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between load and the first call")
    parser.add_argument("--fit-epochs", type=int, default=5)
    parser.add_argument("--child", choices=["transform", "fit"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "transform":
        print(json.dumps(child_transform(args.workdir, args.warm_calls, args.pause)))
        return
    if args.child == "fit":
        print(json.dumps(child_fit(args.workdir, args.fit_epochs)))
        return

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        prepare(workdir)
        report("transform", measure("transform", workdir, args.repeats, args))
        if args.fit_repeats:
            report("fit", measure("fit", workdir, args.fit_repeats, args))
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
