import numpy as np
import pytest


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` skip without a CUDA device (``scripts/gpu_check.sh`` runs them on one)."""
    cuda = [item for item in items if item.get_closest_marker("cuda") is not None]
    if not cuda:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (scripts/gpu_check.sh runs these on a GPU machine)")
    for item in cuda:
        item.add_marker(skip)


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


@pytest.fixture(scope="session")
def fitted_embedding(digits, trained_cnn_state):
    """A ParametricTSNE of the trained CNN's latent layer on the digits (shared, never refitted)."""
    from plsd_widget.activations import extract_activations
    from plsd_widget.embedding import ParametricTSNE
    from plsd_widget.models import SmallCNN

    model = SmallCNN()
    model.load_state_dict(trained_cnn_state)
    H = extract_activations(model, "latent", digits[0].images)
    return ParametricTSNE(perplexity=30, random_state=0).fit(H)


@pytest.fixture
def session(digits, trained_cnn, fitted_embedding):
    """A fresh session on the digits with the shared CNN weights and embedding."""
    from plsd_widget.session import Session

    train, test = digits
    return Session(trained_cnn, "latent", train.images, train.labels, x_test=test.images, y_test=test.labels,
                   class_names=train.class_names, embedding=fitted_embedding)


@pytest.fixture
def break_cuda_capture():
    """Wrap a function so that it syncs with the host, which a CUDA graph capture cannot contain, while one runs."""
    import functools

    import torch

    def wrap(function):
        @functools.wraps(function)
        def breaking(*args, **kwargs):
            if torch.cuda.is_current_stream_capturing():
                torch.cuda.synchronize()
            return function(*args, **kwargs)
        return breaking

    return wrap
