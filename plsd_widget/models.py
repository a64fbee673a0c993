"""A small CNN for the demos and a short cross-entropy training loop."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class SmallCNN(nn.Module):
    """Two conv blocks, a latent layer ``"latent"`` and a linear classifier ``"head"``.

    Works on any square single-channel image size divisible by 4 (8x8 digits, 28x28 MNIST).
    The layer to edit in the demos is ``"latent"`` (ReLU features of size ``latent_dim``).
    """

    def __init__(self, n_classes: int = 10, image_size: int = 8, latent_dim: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        flat = 32 * (image_size // 4) ** 2
        self.latent = nn.Sequential(nn.Flatten(), nn.Linear(flat, latent_dim), nn.ReLU())
        self.head = nn.Linear(latent_dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.latent(self.features(x)))


def train_classifier(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer=torch.optim.Adam,
    transform=None,
    random_state: int = 0,
) -> nn.Module:
    """Train ``model`` on cross-entropy for a few epochs on CPU; returns it (in eval mode).

    Parameters
    ----------
    model : torch.nn.Module
    images : ndarray of shape (n_samples, channels, height, width)
    labels : ndarray of shape (n_samples,)
    epochs, batch_size, lr
        Epochs, batch size and learning rate.
    optimizer : callable, default=torch.optim.Adam
        ``optimizer(params, lr=lr) -> torch.optim.Optimizer``, e.g.
        ``functools.partial(torch.optim.SGD, momentum=0.9, nesterov=True)`` (the paper's).
    transform : callable, optional
        ``transform(x_batch) -> x_batch`` applied to every batch (augmentation, e.g.
        :func:`plsd_widget.augment.random_affine`).
    random_state : int, default=0
        Seeds the batch order through a local generator, and a fork of torch's global
        generator for the run (what ``transform`` draws from by default); the caller's
        global state is restored afterwards.
    """
    global_seed = int(np.random.SeedSequence(random_state).generate_state(1, np.uint64)[0] >> 1)
    gen = torch.Generator().manual_seed(random_state)
    x = torch.as_tensor(images, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.long)
    opt = optimizer(model.parameters(), lr=lr)
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(global_seed)  # the CPU generator only: the fork restores it
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), batch_size):
                idx = order[start : start + batch_size]
                xb = x[idx] if transform is None else transform(x[idx])
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(xb), y[idx])
                loss.backward()
                opt.step()
    return model.eval()


def seeded_model(n_classes: int = 10, image_size: int = 8, latent_dim: int = 32, random_state: int = 0) -> SmallCNN:
    """A ``SmallCNN`` whose initial weights depend only on ``random_state`` (no global seeding)."""
    gen = torch.Generator().manual_seed(random_state)
    model = SmallCNN(n_classes, image_size, latent_dim)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(module.weight, nonlinearity="relu", generator=gen)
            nn.init.zeros_(module.bias)
    return model
