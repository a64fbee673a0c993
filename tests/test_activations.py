import numpy as np
import pytest
import torch
from torch import nn

from plsd_widget.activations import extract_activations, get_layer


def test_shape_and_flattening(trained_cnn, digits):
    train, _ = digits
    H = extract_activations(trained_cnn, "latent", train.images[:100], batch_size=32)
    assert H.shape == (100, 32) and H.dtype == np.float32
    conv = extract_activations(trained_cnn, "features.2", train.images[:10])
    assert conv.shape == (10, 32 * 8 * 8)  # conv output flattened


def test_matches_manual_forward(trained_cnn, digits):
    train, _ = digits
    x = torch.from_numpy(train.images[:20])
    with torch.no_grad():
        expected = trained_cnn.latent(trained_cnn.features(x)).numpy()
    np.testing.assert_allclose(extract_activations(trained_cnn, "latent", train.images[:20]), expected, rtol=1e-5)


def test_dataloader_input(trained_cnn, digits):
    train, _ = digits
    ds = torch.utils.data.TensorDataset(torch.from_numpy(train.images[:50]), torch.from_numpy(train.labels[:50]))
    H = extract_activations(trained_cnn, "latent", torch.utils.data.DataLoader(ds, batch_size=16))
    np.testing.assert_allclose(H, extract_activations(trained_cnn, "latent", train.images[:50]), rtol=1e-4, atol=1e-5)


def test_unknown_layer_lists_available_names(trained_cnn):
    with pytest.raises(ValueError, match="no layer named 'fc7'.*latent.*head"):
        get_layer(trained_cnn, "fc7")


def test_restores_training_mode(trained_cnn, digits):
    trained_cnn.train()
    extract_activations(trained_cnn, "latent", digits[0].images[:4])
    assert trained_cnn.training


def test_nan_activations_are_reported(trained_cnn, digits):
    x = digits[0].images[:8].copy()
    x[3] = np.nan
    with pytest.raises(ValueError, match="NaN or inf activations for 1 sample"):
        extract_activations(trained_cnn, "latent", x)


def test_nested_torchvision_style_names():
    model = nn.Sequential()
    model.add_module("layer1", nn.Sequential(nn.Linear(4, 6), nn.ReLU()))
    model.add_module("fc", nn.Linear(6, 2))
    H = extract_activations(model, "layer1.0", np.ones((3, 4), np.float32))
    assert H.shape == (3, 6)
