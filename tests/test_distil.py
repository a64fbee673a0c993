"""Tests of the regression of the local-experts encoder onto a layout (plsd_widget.embedding.distil)."""

import copy
import logging

import numpy as np
import pytest
import torch

from plsd_widget.embedding import distil
from plsd_widget.embedding.encoders import LocalExpertsEncoder


def problem(n, device="cpu", seed=0):
    """An encoder, inputs, a layout target and its regions, all on ``device``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    target = np.stack([X[:, 0] + X[:, 1], X[:, 2] - X[:, 3]], axis=1).astype(np.float32)
    regions = distil.layout_regions(target, 4, seed=seed)
    encoder = LocalExpertsEncoder(6, 4, (16,))
    encoder.reset_parameters(torch.Generator().manual_seed(seed))
    encoder.centers.copy_(torch.from_numpy(regions.centers))
    to = dict(device=device)
    return (encoder.to(device).train(), torch.from_numpy(X).to(**to), torch.from_numpy(target).to(**to),
            torch.from_numpy(regions.labels).to(**to))


def regression(encoder, X, target, labels, n_epochs, seed=0, **kwargs):
    noise = torch.Generator(device=X.device).manual_seed(seed)
    return distil.Regression(encoder, X, target, labels, n_epochs, 1e-2, noise, **kwargs)


def test_regression_runs_the_whole_schedule_in_full_batches():
    n, n_epochs = 600, 20  # 600 = 2 x 256 + 88: the third batch wraps round to the epoch's start
    encoder, X, target, labels = problem(n)
    fit = regression(encoder, X, target, labels, n_epochs)
    assert fit.batch == distil.MIN_BATCH and fit.steps_per_epoch == 3 and not fit.use_graph
    rng = np.random.default_rng(0)
    losses = [fit.epoch(rng.permutation(n)) for _ in range(n_epochs)]
    assert fit.steps_done == 60
    assert losses[-1] < 0.5 * losses[0]
    # the one-cycle schedule ends far below its peak, and stepping past its end is an error
    assert fit.optimizer.param_groups[0]["lr"] < 1e-4
    with pytest.raises(ValueError):
        fit.scheduler.step()
    fit.close()
    assert all(p.grad is None for p in encoder.parameters())


@pytest.mark.parametrize("n, batch", [(600, 256), (51_199, 256), (51_200, 512), (60_000, 512), (102_400, 1024),
                                      (204_799, 1024), (204_800, 2048), (1_000_000, 2048), (50, 50)])
def test_batches_grow_with_the_data_and_keep_a_hundred_steps_an_epoch(n, batch):
    assert distil.batch_for(n) == batch
    assert n // batch >= distil.MIN_STEPS_PER_EPOCH or batch in (distil.MIN_BATCH, n)


def test_larger_batches_scale_the_peak_learning_rate_by_the_square_root():
    encoder, X, target, labels = problem(60_000)  # batch 512
    fit = regression(encoder, X, target, labels, 1)
    assert fit.batch == 512
    assert fit.optimizer.param_groups[0]["max_lr"] == pytest.approx(1e-2 * 2 ** 0.5)


def test_regression_of_fewer_points_than_a_batch_uses_them_all():
    encoder, X, target, labels = problem(50)
    fit = regression(encoder, X, target, labels, 2)
    assert fit.batch == 50 and fit.steps_per_epoch == 1
    before = copy.deepcopy(encoder.state_dict())
    assert np.isfinite(fit.epoch(np.arange(50)))
    assert not torch.equal(before["heads.weight"], encoder.heads.weight)


def test_regression_is_deterministic_on_the_cpu():
    results = []
    for _ in range(2):
        encoder, X, target, labels = problem(300)
        fit = regression(encoder, X, target, labels, 2)
        rng = np.random.default_rng(1)
        results.append(([fit.epoch(rng.permutation(300)) for _ in range(2)], encoder.state_dict()))
    assert results[0][0] == results[1][0]
    for name, value in results[0][1].items():
        assert torch.equal(value, results[1][1][name]), name


def test_cuda_graph_needs_a_cuda_device():
    encoder, X, target, labels = problem(100)
    with pytest.raises(ValueError, match="CUDA device"):
        regression(encoder, X, target, labels, 1, cuda_graph=True)


@pytest.mark.cuda
def test_cuda_graph_steps_equal_eager_steps():
    # Same start, same batches, same noise: the graph replays the eager step's kernels. Adam's
    # capturable form computes its bias corrections on the device, hence a tolerance, not equality.
    n, n_epochs = 1000, 3
    runs = {}
    for graph in (False, True):
        encoder, X, target, labels = problem(n, device="cuda")
        fit = regression(encoder, X, target, labels, n_epochs, cuda_graph=graph)
        rng = np.random.default_rng(2)
        losses = [fit.epoch(rng.permutation(n)) for _ in range(n_epochs)]
        assert (fit.graph is not None) == graph
        fit.close()
        runs[graph] = losses, {k: v.cpu() for k, v in encoder.state_dict().items()}
    np.testing.assert_allclose(runs[True][0], runs[False][0], rtol=1e-3)
    for name, value in runs[False][1].items():
        torch.testing.assert_close(runs[True][1][name], value, rtol=1e-3, atol=1e-4, msg=name)


@pytest.mark.cuda
def test_a_failed_capture_falls_back_to_eager_steps(monkeypatch, caplog, break_cuda_capture):
    n, n_epochs = 1000, 2
    encoder, X, target, labels = problem(n, device="cuda")
    eager = copy.deepcopy(encoder)
    eager_fit = regression(eager, X, target, labels, n_epochs, cuda_graph=False)
    monkeypatch.setattr(distil.Regression, "_train_step", break_cuda_capture(distil.Regression._train_step))
    with pytest.raises(RuntimeError):
        regression(copy.deepcopy(encoder), X, target, labels, n_epochs, cuda_graph=True).epoch(np.arange(n))
    assert torch.cuda.current_stream() == torch.cuda.default_stream()  # not left on the capture's stream
    fit = regression(encoder, X, target, labels, n_epochs)  # a graph by default: a failure is a warning
    with caplog.at_level(logging.WARNING, logger="plsd_widget.embedding.cuda_graphs"):
        for epoch in range(n_epochs):
            order = np.random.default_rng(epoch).permutation(n)
            np.testing.assert_allclose(fit.epoch(order), eager_fit.epoch(order), rtol=1e-3)
    assert fit.graph is None and not fit.use_graph
    assert "runs eagerly" in caplog.text and "the network's training step" in caplog.text
    for name, value in eager.state_dict().items():
        torch.testing.assert_close(encoder.state_dict()[name], value, rtol=1e-3, atol=1e-4, msg=name)
