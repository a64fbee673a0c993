"""The paper's affine augmentation (plsd_widget.augment) and the training loops that use it."""

import functools
import math

import numpy as np
import pytest
import torch

from plsd_widget.augment import affine_parameters, affine_theta, random_affine
from plsd_widget.config import FinetuneConfig
from plsd_widget.models import seeded_model, train_classifier


def _images(n=6, size=12, seed=0):
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


def test_shape_dtype_and_device_are_kept():
    x = _images().double()
    out = random_affine(generator=torch.Generator().manual_seed(0))(x)
    assert out.shape == x.shape and out.dtype == torch.float64 and out.device == x.device
    assert not torch.equal(out, x)


def test_zero_ranges_are_the_identity():
    x = _images()
    out = random_affine(degrees=0, translate=0, scale=(1, 1))(x)
    torch.testing.assert_close(out, x, atol=1e-6, rtol=0)


def test_drawn_parameters_stay_in_their_ranges():
    drawn = affine_parameters(20000, degrees=15, translate=0.1, scale=(0.7, 1.3),
                              generator=torch.Generator().manual_seed(1))
    angle, shift, zoom = drawn["angle"], drawn["shift"], drawn["zoom"]
    assert angle.shape == (20000,) and shift.shape == (20000, 2) and zoom.shape == (20000,)
    limit = math.radians(15)
    assert angle.abs().max() <= limit and angle.abs().max() > 0.99 * limit  # the range is used, not a corner of it
    assert shift.abs().max() <= 0.1 and shift.abs().max() > 0.099
    assert 0.7 <= zoom.min() < 0.701 and 1.299 < zoom.max() <= 1.3
    assert abs(float(angle.mean())) < 0.01 and abs(float(zoom.mean()) - 1.0) < 0.01


def test_same_seed_same_batch_and_a_new_draw_per_call():
    x = _images()
    first = random_affine(generator=torch.Generator().manual_seed(3))
    second = random_affine(generator=torch.Generator().manual_seed(3))
    a = first(x)
    torch.testing.assert_close(a, second(x), atol=0, rtol=0)
    assert not torch.equal(first(x), a)  # the generator moves on: each batch gets new transforms


def test_without_a_generator_it_draws_from_the_seeded_global_one():
    x = _images()
    torch.manual_seed(5)
    a = random_affine()(x)
    torch.manual_seed(5)
    torch.testing.assert_close(random_affine()(x), a, atol=0, rtol=0)


def test_a_shift_moves_the_content_by_that_share_of_the_size():
    x = torch.zeros(1, 1, 20, 20)
    x[0, 0, 8:12, 4:8] = 1.0  # a blob centred at column 5.5, row 9.5
    theta = affine_theta(torch.zeros(1), torch.tensor([[0.25, 0.0]]), torch.ones(1))  # a quarter of the width right
    grid = torch.nn.functional.affine_grid(theta, [1, 1, 20, 20], align_corners=False)
    out = torch.nn.functional.grid_sample(x, grid, align_corners=False)
    cols = (out[0, 0].sum(0) * torch.arange(20.0)).sum() / out.sum()
    rows = (out[0, 0].sum(1) * torch.arange(20.0)).sum() / out.sum()
    assert float(cols) == pytest.approx(5.5 + 5.0, abs=1e-4) and float(rows) == pytest.approx(9.5, abs=1e-4)


def test_zoom_above_one_grows_the_content():
    x = torch.zeros(1, 1, 20, 20)
    x[0, 0, 8:12, 8:12] = 1.0
    theta = affine_theta(torch.zeros(1), torch.zeros(1, 2), torch.tensor([2.0]))
    grid = torch.nn.functional.affine_grid(theta, [1, 1, 20, 20], align_corners=False)
    out = torch.nn.functional.grid_sample(x, grid, align_corners=False)
    assert float(out.sum()) == pytest.approx(4 * 16.0, rel=0.05)  # twice the side: four times the area


@pytest.mark.parametrize("kwargs, message", [
    ({"degrees": -1}, "degrees must be in"),
    ({"translate": 1.5}, "translate must be in"),
    ({"scale": (1.3, 0.7)}, "low <= high"),
    ({"scale": 1.1}, "pair"),
    ({"scale": (0, 1)}, "scale must be a positive number"),
])
def test_bad_ranges_are_refused_with_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        random_affine(**kwargs)


def test_a_batch_without_a_channel_axis_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"unsqueeze\(1\)"):
        random_affine()(torch.zeros(2, 12, 12))


def test_usable_as_a_finetune_config_transform():
    config = FinetuneConfig.paper().replace(transform=random_affine())
    assert callable(config.transform)
    with pytest.raises(ValueError, match="transform is a callable"):
        config.to_json()


def test_train_classifier_with_sgd_and_augmentation_is_seeded_and_leaves_the_global_state(digits):
    train, _ = digits
    x, y = train.images[:300], train.labels[:300]
    sgd = functools.partial(torch.optim.SGD, momentum=0.9, nesterov=True)
    first_draw = torch.rand(1, generator=torch.Generator().manual_seed(123)).item()
    runs = []
    for _ in range(2):
        model = seeded_model()  # its construction draws from the global generator too
        torch.manual_seed(123)
        model = train_classifier(model, x, y, epochs=1, batch_size=100, lr=0.1, optimizer=sgd,
                                 transform=random_affine(), random_state=7)
        runs.append(model.state_dict())
        assert torch.rand(1).item() == first_draw  # the caller's global generator is where it was
    for name in runs[0]:
        torch.testing.assert_close(runs[0][name], runs[1][name], atol=0, rtol=0)
    other = train_classifier(seeded_model(), x, y, epochs=1, batch_size=100, lr=0.1, optimizer=sgd,
                             transform=random_affine(), random_state=8)
    assert not all(torch.equal(runs[0][n], other.state_dict()[n]) for n in runs[0])


def test_train_classifier_without_transform_is_unchanged_by_the_fork(digits):
    """The fork of the global generator must not change a run that draws nothing from it (Adam, no transform)."""
    train, _ = digits
    x, y = train.images[:200], train.labels[:200]
    gen = torch.Generator().manual_seed(0)
    expected = seeded_model()
    opt = torch.optim.Adam(expected.parameters(), lr=1e-3)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long)
    order = torch.randperm(len(xt), generator=gen)
    for start in range(0, len(xt), 64):
        idx = order[start:start + 64]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(expected(xt[idx]), yt[idx]).backward()
        opt.step()
    model = train_classifier(seeded_model(), x, y, epochs=1, batch_size=64, lr=1e-3, random_state=0)
    for name, value in expected.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, atol=0, rtol=0)
    assert np.isfinite(model(xt[:2]).detach().numpy()).all()
