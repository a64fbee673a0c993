"""Where fine-tuning batches come from, and the per-sample weights of their cross-entropy.

:func:`make_source` turns what ``PLSDTrainer.fit`` gets into a data source: arrays or
tensors in memory (:class:`TensorSource`, batches are index operations), or a map-style
``Dataset`` of ``(input, label)`` pairs, alone or inside a ``DataLoader``
(:class:`DatasetSource`, whose workers, collate function, batch size and ``drop_last``
are kept). Either gives an epoch's batches in the trainer's seeded order
(:func:`draw_batches`), each with the indices of its samples so that every sample meets
its own target row, and its inputs in order (``inputs``) for a pass over the data.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, default_collate

def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray:
    """``sample_weight`` as float32 of shape (n_samples,), finite, non-negative, not all zero."""
    try:
        w = np.asarray(sample_weight, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"sample_weight must be numeric, got {type(sample_weight).__name__}") from exc
    if w.shape != (n_samples,):
        raise ValueError(f"sample_weight must have shape ({n_samples},), one weight per sample, got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or not w.any():
        raise ValueError("sample_weight must be finite and non-negative with at least one positive weight")
    return w


def balanced_weights(y, n_classes: int | None = None) -> np.ndarray:
    """Class-balanced sample weights ``n / (n_classes_present · n_c)``: every class weighs the same in total.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Integer class labels.
    n_classes : int, optional
        Number of classes; defaults to ``max(y) + 1``.

    Returns
    -------
    ndarray of shape (n_samples,), float32
        Mean 1 over the samples.
    """
    y = np.asarray(y).astype(np.int64)
    counts = np.bincount(y, minlength=n_classes or 0)
    present = int((counts > 0).sum())
    return (len(y) / (present * counts[y])).astype(np.float32)


def cross_entropy_weights(sample_weight, edited: np.ndarray, edit_weight: float) -> np.ndarray | None:
    """The cross-entropy's weight of each sample: ``sample_weight`` times ``edit_weight`` where ``edited``.

    None when every weight is 1 (the plain mean). Raises if no weight is positive.
    """
    if sample_weight is None and edit_weight == 1:
        return None
    n_samples = len(edited)
    weights = np.ones(n_samples, np.float32) if sample_weight is None else check_sample_weight(sample_weight, n_samples)
    weights = (weights * np.where(edited, edit_weight, 1)).astype(np.float32)
    # checked again: an edit_weight of 0 on a fully edited set leaves no positive weight
    return check_sample_weight(weights, n_samples)


def draw_batches(n_samples: int, batch_size: int, drop_last: bool, generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch's batches of sample indices, shuffled by ``generator`` (the last one dropped if short and asked)."""
    batches = list(torch.randperm(n_samples, generator=generator).split(batch_size))
    if drop_last and len(batches) > 1 and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def _split_item(item, where: str):
    if isinstance(item, (tuple, list)) and len(item) >= 2:
        return item[0], item[1]
    raise TypeError(
        f"{where} must give (input, label) pairs (extra fields after them are ignored), got "
        f"{type(item).__name__}; wrap the dataset so that __getitem__ returns (x, y)"
    )


class TensorSource:
    """Arrays or tensors held in memory: batches are plain index operations (the fast path)."""

    batch_size = None  # the trainer's
    drop_last = False

    def __init__(self, x, y):
        if y is None:
            raise ValueError("pass the labels y with array inputs, or pass a Dataset/DataLoader of (x, y) pairs")
        self.x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
        if not self.x.is_floating_point():
            self.x = self.x.float()
        self.y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).long()
        if len(self.x) != len(self.y):
            raise ValueError(f"x and y must have the same length, got {len(self.x)} and {len(self.y)}")

    def __len__(self):
        return len(self.x)

    def epoch(self, batches, _aux: torch.Generator):
        """``(indices, inputs, labels)`` for each batch of indices."""
        for idx in batches:
            yield idx, self.x[idx], self.y[idx]

    def inputs(self, batch_size: int):
        """All inputs, in order, batch by batch."""
        return (self.x[i:i + batch_size] for i in range(0, len(self.x), batch_size))


class _Indexed(Dataset):
    """Wraps a map-style dataset so each item carries its index (to look up its target)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        return i, self.dataset[i]


class _IndexedCollate:
    """Collates ``(index, item)`` pairs: indices into a LongTensor, items with the user's collate."""

    def __init__(self, collate_fn):
        self.collate_fn = collate_fn or default_collate

    def __call__(self, batch):
        return torch.tensor([i for i, _ in batch], dtype=torch.long), self.collate_fn([it for _, it in batch])


class DatasetSource:
    """A map-style Dataset, or the dataset of a DataLoader with its workers, collate, batch size and drop_last."""

    def __init__(self, data, y):
        if y is not None:
            raise ValueError("y must be None when data is a Dataset or DataLoader: the labels come from its items")
        loader = data if isinstance(data, DataLoader) else None
        dataset = loader.dataset if loader is not None else data
        if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
            raise TypeError(
                "fine-tuning needs a map-style Dataset (with __len__ and __getitem__): each sample's "
                "edit target is looked up by its index; an IterableDataset has no indices"
            )
        self.dataset = dataset
        self.options, self.collate, self.drop_last, self.batch_size = {}, None, False, None
        if loader is not None:
            self.options = {"num_workers": loader.num_workers, "pin_memory": loader.pin_memory,
                            "worker_init_fn": loader.worker_init_fn, "timeout": loader.timeout,
                            "multiprocessing_context": loader.multiprocessing_context}
            self.collate, self.drop_last, self.batch_size = loader.collate_fn, loader.drop_last, loader.batch_size
        if len(dataset) == 0:
            raise ValueError("the dataset is empty; pass at least one sample")
        _split_item(dataset[0], "the dataset's items")

    def __len__(self):
        return len(self.dataset)

    def epoch(self, batches, aux: torch.Generator):
        """``(indices, inputs, labels)`` for each batch of indices; ``aux`` seeds the loader's workers."""
        loader = DataLoader(_Indexed(self.dataset), batch_sampler=[b.tolist() for b in batches],
                            collate_fn=_IndexedCollate(self.collate),
                            generator=torch.Generator().manual_seed(int(torch.randint(2**62, (1,), generator=aux))),
                            **self.options)
        for idx, item in loader:
            xb, yb = _split_item(item, "the DataLoader's batches")
            yield idx, xb, torch.as_tensor(yb).long()

    def inputs(self, batch_size: int):
        """All inputs, in order, batch by batch (as the dataset gives them, augmentation included)."""
        loader = DataLoader(self.dataset, batch_size=batch_size, collate_fn=self.collate or default_collate,
                            **self.options)
        return (_split_item(item, "the DataLoader's batches")[0] for item in loader)


def make_source(data, y) -> TensorSource | DatasetSource:
    """The data source of ``fit(x, y)``: a :class:`DatasetSource` for a Dataset or DataLoader, else arrays."""
    if isinstance(data, (DataLoader, Dataset)):
        return DatasetSource(data, y)
    return TensorSource(data, y)
