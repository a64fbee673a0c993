"""Distributed fine-tuning: two gloo processes under torchrun give the single-process result."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from plsd_widget.distributed import any_rank, shard, sum_over_ranks, world
from plsd_widget.finetune.loss import batch_totals, plsd_loss

ROOT = Path(__file__).resolve().parent.parent


def test_shards_cover_a_batch_once_and_keep_indices():
    batch = torch.tensor([7, 3, 9, 1, 4])
    parts = [shard(batch, rank, 2) for rank in range(2)]
    assert parts[0].tolist() == [7, 9, 4] and parts[1].tolist() == [3, 1]
    assert sorted(torch.cat(parts).tolist()) == sorted(batch.tolist())


def test_outside_a_process_group_the_helpers_are_identities():
    assert world() == (0, 1)
    values = torch.tensor([1.0, 2.0])
    assert torch.equal(sum_over_ranks(values), values)
    assert any_rank(True, "cpu") is True and any_rank(False, "cpu") is False


@pytest.mark.parametrize("reduction", ["edited", "batch"])
def test_shard_losses_with_global_totals_sum_to_the_batch_loss(reduction):
    gen = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(9, 4, generator=gen), torch.randint(4, (9,), generator=gen)
    embedded, targets = torch.randn(9, 2, generator=gen), torch.randn(9, 2, generator=gen)
    mask = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0, 0], dtype=torch.bool)
    held, weight = ~mask, torch.rand(9, generator=gen) + 0.1
    whole = plsd_loss(logits, labels, embedded, targets, mask, 0.4, 2.0, weight, held, 1.5, reduction=reduction)
    totals = batch_totals(9, mask, weight, held, reduction)
    parts = [plsd_loss(logits[s], labels[s], embedded[s], targets[s], mask[s], 0.4, 2.0, weight[s], held[s], 1.5,
                       totals) for s in (slice(0, None, 2), slice(1, None, 2))]
    for term in range(3):
        np.testing.assert_allclose(float(parts[0][term] + parts[1][term]), float(whole[term]), rtol=1e-6)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process():
    result = subprocess.run([sys.executable, "scripts/ddp_check.py", "--nproc", "2", "--device", "cpu"], cwd=ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()[-2:]
    for line, reduction in zip(lines, ("edited", "batch"), strict=True):
        assert line.startswith(f"ddp: gloo, 2 process(es), 2 epochs, global batch 500, reduction {reduction!r}"), line
        assert "(tolerance 1e-05: met)" in line, line


def test_init_from_env_names_the_devices_it_can_use(monkeypatch):
    from plsd_widget.distributed import init_from_env

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match=r"runs on 'cpu' \(gloo\) or 'cuda' \(NCCL\), not 'meta'"):
        init_from_env("meta")
    assert world() == (0, 1)
