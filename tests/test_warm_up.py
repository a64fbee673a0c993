"""Tests of the numba kernels' background warm-up and on-disk cache (plsd_widget.embedding.warm_up).

Most tests run a fresh Python process, because what is tested (numba's import, the
cache a first process writes, the threads an import starts) happens once per process.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from plsd_widget.embedding import neighbour_offsets

ROOT = Path(__file__).resolve().parents[1]
KERNEL_MODULES = ("attraction", "edges", "locality", "neighbour_offsets")

# Starts the warm-up, then a real OffsetLookup call at once, while the warm-up compiles,
# then reports the result, how many times each kernel was compiled and loaded from the
# cache, and what the warm-up left behind.
RACE_AND_REPORT = """
import json
import numpy as np
from plsd_widget.embedding import attraction, edges, locality, neighbour_offsets, warm_up
rng = np.random.default_rng(0)
X, Y = rng.normal(size=(50, 4)).astype(np.float32), rng.normal(size=(50, 2))
thread = warm_up.start_warm_up()
nearest = neighbour_offsets.OffsetLookup(X, Y, Y).nearest(X, Y).tolist()
if thread is not None:
    thread.join()
kernels = {m.__name__.rsplit(".", 1)[1]: m._kernel for m in (attraction, edges, locality, neighbour_offsets)}
print(json.dumps({
    "nearest": nearest,
    "warm_up_thread": thread is not None,
    "built": {name: k._dispatcher is not None for name, k in kernels.items()},
    "compiled": {name: sum(k._dispatcher.stats.cache_misses.values()) if k._dispatcher else 0
                 for name, k in kernels.items()},
    "from_cache": {name: sum(k._dispatcher.stats.cache_hits.values()) if k._dispatcher else 0
                   for name, k in kernels.items()},
}))
"""


def run_fresh(env_changes: dict, pythonpath: Path = ROOT) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PLSD_WARM_UP")}
    env.update(env_changes, PYTHONPATH=str(pythonpath))
    # cwd: ``python -c`` imports from the working directory before PYTHONPATH
    result = subprocess.run([sys.executable, "-c", RACE_AND_REPORT], env=env, cwd=pythonpath, capture_output=True,
                            text=True, timeout=300, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def index_files(folder: Path) -> dict[str, list[Path]]:
    return {name: list(folder.rglob(f"{name}.*.nbi")) for name in KERNEL_MODULES}


def test_the_warm_up_compiles_each_kernel_once_and_a_second_process_loads_them_from_the_cache(tmp_path):
    cache = tmp_path / "numba"
    first = run_fresh({"NUMBA_CACHE_DIR": str(cache)})
    assert first["warm_up_thread"]
    # the racing call did not compile again
    assert first["compiled"] == {"attraction": 1, "edges": 1, "locality": 1, "neighbour_offsets": 1}
    assert all(len(files) == 1 for files in index_files(cache).values()), index_files(cache)
    X, Y = (np.random.default_rng(0).normal(size=shape) for shape in [(50, 4), (50, 2)])
    lookup = neighbour_offsets.OffsetLookup(X.astype(np.float32), Y, Y)
    assert first["nearest"] == lookup.nearest(X.astype(np.float32), Y).tolist()

    second = run_fresh({"NUMBA_CACHE_DIR": str(cache)})
    assert second["compiled"] == {"attraction": 0, "edges": 0, "locality": 0, "neighbour_offsets": 0}
    assert second["from_cache"] == {"attraction": 1, "edges": 1, "locality": 1, "neighbour_offsets": 1}


def test_a_package_whose_folder_is_not_writable_caches_in_the_users_cache(tmp_path):
    # A file named __pycache__ makes the package's cache folder impossible to create, as
    # for a system-wide install (root ignores permission bits, so they cannot stand in).
    package = tmp_path / "site-packages"
    shutil.copytree(ROOT / "plsd_widget", package / "plsd_widget",
                    ignore=shutil.ignore_patterns("__pycache__", "static"))
    (package / "plsd_widget" / "embedding" / "__pycache__").touch()
    home = tmp_path / "home"
    run_fresh({"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}, pythonpath=package)
    assert all(len(files) == 1 for files in index_files(home / ".cache" / "numba").values())


def test_plsd_warm_up_0_turns_the_warm_up_off(tmp_path):
    report = run_fresh({"NUMBA_CACHE_DIR": str(tmp_path), "PLSD_WARM_UP": "0"})
    assert not report["warm_up_thread"]
    # only the kernel the script called was built: nothing ran ahead of it
    assert report["built"] == {"attraction": False, "edges": False, "locality": False, "neighbour_offsets": True}
    assert list(tmp_path.rglob("attraction.*.nbi")) == []


def test_a_process_that_exits_during_the_warm_up_exits_cleanly(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("PLSD_WARM_UP", None)
    script = "from plsd_widget.embedding import start_warm_up; assert start_warm_up() is not None"
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert (result.returncode, result.stderr) == (0, "")


def test_importing_the_package_starts_no_thread_and_loads_no_torch():
    env = {k: v for k, v in os.environ.items() if k != "PLSD_WARM_UP"}
    script = ("import json, sys, threading; import plsd_widget.embedding; "
              "print(json.dumps([[t.name for t in threading.enumerate()], "
              "sorted(m for m in ('torch', 'numba', 'scipy', 'sklearn') if m in sys.modules)]))")
    result = subprocess.run([sys.executable, "-c", script], env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=True)
    threads, heavy = json.loads(result.stdout)
    assert threads == ["MainThread"] and heavy == []


def test_fit_and_load_start_the_warm_up(monkeypatch, tmp_path):
    from plsd_widget.embedding import ParametricTSNE, parametric

    calls = []
    monkeypatch.setattr(parametric, "start_warm_up", lambda: calls.append("started"))
    X = np.random.default_rng(0).normal(size=(12, 3))
    model = ParametricTSNE(perplexity=2, hidden=(4,), n_epochs=1, pretrain_epochs=0, device="cpu").fit(X)
    assert calls == ["started"]
    model.save(tmp_path)
    ParametricTSNE.load(tmp_path)
    assert calls == ["started", "started"]
