from pathlib import Path

import numpy as np
import pytest

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


@pytest.fixture(scope="session")
def digits():
    from plsd_widget.datasets import load_digits_split

    return load_digits_split()


@pytest.fixture(scope="session")
def trained_cnn_state(digits):
    """Weights of the demo CNN trained briefly on the digits (shared, never mutated)."""
    from plsd_widget.models import seeded_model, train_classifier

    train, _ = digits
    model = train_classifier(seeded_model(), train.images, train.labels, epochs=3, lr=3e-3)
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture
def trained_cnn(trained_cnn_state):
    from plsd_widget.models import SmallCNN

    model = SmallCNN()
    model.load_state_dict(trained_cnn_state)
    return model.eval()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
