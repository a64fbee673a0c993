"""scripts/gpu_check.sh stays runnable where no GPU is: its dry run on the CPU."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_dry_run_prints_every_figure(tmp_path):
    table = tmp_path / "profile.txt"
    result = subprocess.run(["bash", "scripts/gpu_check.sh", "--dry-run"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600, env={**os.environ, "PYTHON": sys.executable, "PROFILE_TABLE": str(table)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    for prefix in ("cuda_tests: passed", "tsne_fit: n=600 fit", "tsne_stages: kNN", "profile: fit of n=600", "knn: exact, k=150", "epoch: n=600",
                   "ddp: gloo, 1 process(es)", "gpu_check: done"):
        assert any(line.startswith(prefix) for line in lines), f"no line starting {prefix!r} in:\n{result.stdout}"
    assert "dry run, no verdict" in result.stdout
    assert "sorted by self_cpu_time_total" in table.read_text()


def test_gpu_check_refuses_unknown_options():
    result = subprocess.run(["bash", "scripts/gpu_check.sh", "--fast"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "usage:" in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where no GPU is")
def test_gpu_figures_without_a_gpu_point_to_the_dry_run():
    result = subprocess.run([sys.executable, "benchmarks/gpu_figures.py"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2 and "no CUDA device; use --dry-run" in result.stderr


def test_knn_figure_skips_a_size_predicted_over_its_budget(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import gpu_figures

    X = np.random.default_rng(0).normal(size=(400, 8)).astype(np.float32)
    gpu_figures.knn_figure(torch.device("cpu"), X, copies=(1, 4), budget_s=1e-9)
    line = capsys.readouterr().out
    assert "n=400 x 8" in line and "n=1600 skipped (about" in line and "n=1600 x" not in line
