"""Tests of the encoder networks (plsd_widget.embedding.encoders) and the distil stage's pieces."""

import numpy as np
import pytest
import torch

from plsd_widget.embedding import distil
from plsd_widget.embedding.encoders import LocalExpertsEncoder, TSNEEncoder


def _experts(seed=0, n_features=6, n_experts=4):
    encoder = LocalExpertsEncoder(n_features, n_experts, hidden=(16, 8))
    encoder.reset_parameters(torch.Generator().manual_seed(seed))
    return encoder


def test_building_and_initialising_never_touch_the_global_rng():
    state = torch.random.get_rng_state()
    a, b = _experts(seed=3), _experts(seed=3)
    TSNEEncoder(6, 2, (8,)).reset_parameters(torch.Generator().manual_seed(0))
    assert torch.equal(torch.random.get_rng_state(), state)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name


def test_local_experts_output_gradient_and_buffers():
    encoder = _experts()
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(1), requires_grad=True)
    y, logits = encoder.forward_with_logits(x)
    assert y.shape == (5, 2) and logits.shape == (5, 4)
    torch.testing.assert_close(encoder(x), y)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # PLSD fine-tunes through it
    assert {"mean", "scale", "out_scale", "centers"} <= dict(encoder.named_buffers()).keys()


def test_output_is_the_gate_weighted_region_positions():
    encoder = _experts()
    with torch.no_grad():
        encoder.heads.weight.zero_()
        encoder.heads.bias.zero_()
        encoder.centers.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        encoder.out_scale.fill_(10.0)
        x = torch.randn(7, 6, generator=torch.Generator().manual_seed(2))
        _, logits = encoder.forward_with_logits(x)
        expected = 10.0 * torch.softmax(logits, dim=1) @ encoder.centers
        torch.testing.assert_close(encoder(x), expected)


def test_sharpening_the_gate_commits_to_one_region():
    encoder = _experts()
    x = torch.randn(50, 6, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        before = torch.softmax(encoder.forward_with_logits(x)[1], dim=1)
        encoder.sharpen_gate(4.0)
        after = torch.softmax(encoder.forward_with_logits(x)[1], dim=1)
    assert (after.argmax(1) == before.argmax(1)).all()
    assert (after.max(1).values >= before.max(1).values - 1e-6).all()
    assert after.max(1).values.mean() > before.max(1).values.mean()


def test_local_experts_need_a_trunk():
    with pytest.raises(ValueError, match="at least one hidden layer"):
        LocalExpertsEncoder(6, 4, hidden=())


@pytest.mark.parametrize("n, expected", [(10, 8), (300, 8), (4000, 10), (20000, 50), (60000, 50), (5, 5)])
def test_number_of_experts_follows_the_data_size(n, expected):
    assert distil.n_experts_for(n) == expected


def test_layout_regions_are_seeded_k_means():
    rng = np.random.default_rng(0)
    layout = np.concatenate([rng.normal(c, 0.5, size=(40, 2)) for c in ((0, 0), (20, 0), (0, 20))]).astype(np.float32)
    regions = distil.layout_regions(layout, 3, seed=0)
    assert regions.centers.shape == (3, 2) and regions.labels.shape == (120,)
    # each blob is one region
    assert all(len(set(regions.labels[i:i + 40])) == 1 for i in (0, 40, 80))
    np.testing.assert_array_equal(distil.layout_regions(layout, 3, seed=0).labels, regions.labels)
