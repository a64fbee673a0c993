"""Data the demos and tests use: sklearn's bundled digits and MNIST from local IDX files."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class ImageSplit:
    """Images of shape (n, 1, h, w) float32 in [0, 1], integer labels and class names."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def load_digits_split(test_size: float = 0.25, random_state: int = 0) -> tuple[ImageSplit, ImageSplit]:
    """Scikit-learn's bundled 8x8 digits (1,797 images), split stratified into train and test.

    Needs no files and no network: the data ships with scikit-learn.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    labels = digits.target.astype(np.int64)
    names = [str(c) for c in digits.target_names]
    xtr, xte, ytr, yte = train_test_split(
        images, labels, test_size=test_size, stratify=labels, random_state=random_state
    )
    return ImageSplit(xtr, ytr, names), ImageSplit(xte, yte, names)


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_mnist(root, split: str = "train") -> ImageSplit:
    """Read MNIST from the gzipped IDX files in ``root`` (nothing is downloaded).

    Parameters
    ----------
    root : str or Path
        Folder holding ``train-images-idx3-ubyte.gz`` etc.
    split : {"train", "test"}
    """
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    img_path = root / f"{prefix}-images-idx3-ubyte.gz"
    if not img_path.exists():
        raise FileNotFoundError(f"{img_path} not found; point root at the folder with the MNIST IDX files")
    images = _read_idx(img_path).astype(np.float32)[:, None] / 255.0
    labels = _read_idx(root / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    return ImageSplit(images, labels, [str(i) for i in range(10)])
