"""Tests of the free-coordinate t-SNE optimiser (plsd_widget.embedding.layout)."""

import logging

import numpy as np
import pytest
import torch

from plsd_widget.embedding import joint_probabilities, layout
from plsd_widget.embedding.edges import edges_from_csr
from plsd_widget.embedding.fft_gradient import GRID_SPACING, grid_for
from plsd_widget.embedding.layout import GainsDescent

SCHEDULE = {"learning_rate": 50.0, "momentum": 0.8, "exaggeration": 4.0}


def problem(n=600, device="cpu"):
    """Edges of blobs in 8-d and a start wide enough that its grid is not clipped (cells of GRID_SPACING)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 8)) + 6.0 * rng.integers(3, size=(n, 1))
    edges = edges_from_csr(joint_probabilities(X.astype(np.float32), 20), device)
    Y = torch.from_numpy((rng.normal(size=(n, 2)) * 8.0).astype(np.float32)).to(device)
    return Y, edges


def test_a_step_reading_its_schedule_from_tensors_equals_one_with_floats():
    # the form a CUDA graph captures (schedule in 0-d tensors), checked where no GPU is
    Y, edges = problem()
    floats, tensors = GainsDescent(Y, edges), GainsDescent(Y, edges)
    assert grid_for(Y).h == GRID_SPACING
    for _ in range(5):
        floats.step(**SCHEDULE)
        tensors._step(grid_for(tensors.Y), **{k: torch.tensor(v) for k, v in SCHEDULE.items()}, with_kl=False)
    torch.testing.assert_close(tensors.Y, floats.Y, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tensors.gains, floats.gains)


def test_state_is_updated_in_place():
    # a captured graph writes to the tensors it saw at capture, so the state must never be rebound
    Y, edges = problem()
    descent = GainsDescent(Y, edges)
    state = [descent.Y, descent.update, descent.gains]
    descent.step(**SCHEDULE)
    assert all(a is b for a, b in zip(state, [descent.Y, descent.update, descent.gains]))
    assert not torch.equal(descent.Y, Y) and not torch.equal(descent.gains, torch.ones_like(Y))


def test_cuda_graphs_need_a_cuda_device():
    Y, edges = problem(100)
    with pytest.raises(ValueError, match="CUDA device"):
        GainsDescent(Y, edges, cuda_graphs=True)


@pytest.mark.cuda
def test_cuda_graph_steps_follow_eager_steps():
    # The GPU's index_add_ adds in no fixed order, so even two eager runs differ in the last bits:
    # compare a short run, within a tolerance far below a step's length.
    Y, edges = problem(device="cuda")
    runs = {}
    for graphs in (False, True):
        descent = GainsDescent(Y, edges, cuda_graphs=graphs)
        for _ in range(10):
            descent.step(**SCHEDULE)
        assert bool(descent.graphs) == graphs
        runs[graphs] = descent.Y.cpu()
    torch.testing.assert_close(runs[True], runs[False], rtol=0, atol=1e-3)


@pytest.mark.cuda
def test_a_failed_capture_falls_back_to_eager_steps(monkeypatch, caplog, break_cuda_capture):
    Y, edges = problem(device="cuda")
    eager = GainsDescent(Y, edges, cuda_graphs=False)
    for _ in range(5):
        eager.step(**SCHEDULE)
    monkeypatch.setattr(layout, "gradient_on_grid", break_cuda_capture(layout.gradient_on_grid))
    with pytest.raises(RuntimeError):
        GainsDescent(Y, edges, cuda_graphs=True).step(**SCHEDULE)
    assert torch.cuda.current_stream() == torch.cuda.default_stream()  # not left on the capture's stream
    descent = GainsDescent(Y, edges)  # graphs by default: a failure is a warning
    with caplog.at_level(logging.WARNING, logger="plsd_widget.embedding.cuda_graphs"):
        for _ in range(5):
            descent.step(**SCHEDULE)
    assert not descent.use_graphs and not descent.graphs
    assert "runs eagerly" in caplog.text and "the layout's step" in caplog.text
    torch.testing.assert_close(descent.Y, eager.Y, rtol=0, atol=1e-3)
