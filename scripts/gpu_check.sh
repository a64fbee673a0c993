#!/usr/bin/env bash
# The GPU path in one go, for a CUDA machine: the CUDA tests, one line per figure
# (benchmarks/gpu_figures.py), then DDP with NCCL on all GPUs present against one process
# (scripts/ddp_check.py). Meant to finish in under 8 minutes on one GPU.
#
#   scripts/gpu_check.sh            on a CUDA machine, with the python that has torch
#   scripts/gpu_check.sh --dry-run  anywhere: the same steps on the CPU at toy sizes
#
# PYTHON picks the interpreter (default: .venv/bin/python if present, else python3).
# PROFILE_TABLE=<file>: where the profiler's tables go if the t-SNE fit is profiled (it is
# when it misses its target, and in a dry run).
# Real MNIST comes from load_mnist: the `data` extra, or PLSD_MNIST=<folder with the IDX files>.
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=()
case "${1:-}" in
    "") ;;
    --dry-run) dry_run=(--dry-run) ;;
    *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout, installed or not

start=$(date +%s)
"$PYTHON" -c 'import torch; print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")'
if [ ${#dry_run[@]} -eq 0 ]; then
    "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "no CUDA device: use --dry-run")'
fi

echo "==> CUDA tests (pytest -m cuda)"
# Only the files that hold them: the rest of the suite needs JupyterLab, Chromium and
# openTSNE, which a GPU machine may lack. Without a GPU they are all skipped: a dry run
# checks that they collect.
cuda_files=$(grep -l "mark.cuda" tests/test_*.py)
# The figures run even when a test fails: a GPU is lent for minutes, so each run should say all it can.
status=0
if "$PYTHON" -m pytest -q -m cuda -p no:cacheprovider $cuda_files; then
    echo "cuda_tests: passed"
else
    echo "cuda_tests: FAILED"; status=1
fi

echo "==> figures"
"$PYTHON" benchmarks/gpu_figures.py "${dry_run[@]}" ${PROFILE_TABLE:+--profile-table "$PROFILE_TABLE"} || status=1

echo "==> distributed fine-tuning against one process"
if [ ${#dry_run[@]} -eq 0 ]; then
    gpus=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())')
    "$PYTHON" scripts/ddp_check.py --nproc "$gpus" --device cuda || status=1
else
    "$PYTHON" scripts/ddp_check.py --nproc 1 --device cpu || status=1
fi
echo "gpu_check: done in $(( $(date +%s) - start )) s$([ $status = 0 ] || echo ', with failures')"
exit $status
