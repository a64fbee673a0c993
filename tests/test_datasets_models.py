"""Datasets (digits, real MNIST from ../shared/data/mnist), the demo CNN, devices, colours."""

import numpy as np
import pytest
import torch

from plsd_widget.datasets import load_digits_split, load_mnist
from plsd_widget.devices import resolve_device
from plsd_widget.models import SmallCNN, seeded_model, train_classifier
from plsd_widget.palette import class_colors
from tests.conftest import MNIST


def test_digits_split_is_stratified_and_scaled(digits):
    train, test = digits
    assert train.images.shape[1:] == (1, 8, 8) and train.images.dtype == np.float32
    assert len(train) + len(test) == 1797 and len(test) == 450
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0
    assert np.bincount(test.labels).min() >= 43  # every class present in proportion
    again, _ = load_digits_split()
    np.testing.assert_array_equal(again.labels, train.labels)


def test_real_mnist_from_local_idx_files():
    test = load_mnist(MNIST, "test")
    assert test.images.shape == (10_000, 1, 28, 28) and test.labels.shape == (10_000,)
    assert test.images.dtype == np.float32 and 0.0 <= test.images.min() and test.images.max() == 1.0
    assert sorted(set(test.labels.tolist())) == list(range(10))


def test_mnist_errors_say_what_to_fix(tmp_path):
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_mnist(MNIST, "validation")
    with pytest.raises(FileNotFoundError, match="point root at the folder"):
        load_mnist(tmp_path, "train")


def test_seeded_model_is_reproducible_without_global_seed():
    torch.manual_seed(123)
    a = seeded_model(random_state=5)
    torch.manual_seed(456)
    b = seeded_model(random_state=5)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(next(a.parameters()), next(seeded_model(random_state=6).parameters()))


def test_small_cnn_shapes_and_layers():
    model = SmallCNN(n_classes=10, image_size=28, latent_dim=16)
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert {"features", "latent", "head"} <= dict(model.named_modules()).keys()


def test_train_classifier_learns_the_digits(digits):
    train, test = digits
    model = train_classifier(seeded_model(), train.images, train.labels, epochs=2, lr=3e-3)
    with torch.no_grad():
        acc = (model(torch.from_numpy(test.images)).argmax(1).numpy() == test.labels).mean()
    assert acc > 0.7


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")).type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    with pytest.raises(ValueError, match="use 'auto', 'cpu', 'cuda' or 'mps'"):
        resolve_device("gpu0")


def test_class_colors_cycle_through_twenty():
    colors = class_colors(25)
    assert len(colors) == 25 and len(set(colors[:20])) == 20 and colors[20] == colors[0]
