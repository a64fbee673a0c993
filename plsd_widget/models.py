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
    random_state: int = 0,
) -> nn.Module:
    """Train ``model`` with Adam on cross-entropy for a few epochs on CPU; returns it."""
    gen = torch.Generator().manual_seed(random_state)
    x = torch.as_tensor(images, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.long)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
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
