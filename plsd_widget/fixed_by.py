"""What PLSD fixed and what it broke: the images it classifies right and the CE baseline wrong, and the reverse.

The paper's Figure 2 shows "three example images that were successfully classified after
applying PLSD … the positions in both embeddings". :func:`fixed_and_broken` finds every such
image of a split, and the reverse (the baseline right, PLSD wrong), each with its label, both
predictions and its position in both embeddings; :func:`session_fixed_by` reads them from a
:class:`~plsd_widget.session.Session` whose baseline has run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLITS = ("test", "train")


@dataclass(frozen=True)
class Changed:
    """The images of one split whose classification PLSD changed one way (fixed or broke).

    Attributes
    ----------
    indices : ndarray of shape (k,), int64
        Into the split (``x_test`` for "test", ``x`` for "train"), ascending.
    labels : ndarray of shape (k,)
    baseline_predictions, plsd_predictions : ndarray of shape (k,)
    baseline_positions, plsd_positions : ndarray of shape (k, 2), float32
        Where the CE baseline's and PLSD's models put each image in the (frozen) embedding.
    """

    indices: np.ndarray
    labels: np.ndarray
    baseline_predictions: np.ndarray
    plsd_predictions: np.ndarray
    baseline_positions: np.ndarray
    plsd_positions: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


@dataclass(frozen=True)
class FixedAndBroken:
    """:attr:`fixed`: PLSD right, baseline wrong; :attr:`broken`: baseline right, PLSD wrong; on :attr:`split`."""

    split: str
    fixed: Changed
    broken: Changed

    def __repr__(self) -> str:
        return (f"FixedAndBroken(split={self.split!r}: {len(self.fixed)} fixed by PLSD, "
                f"{len(self.broken)} broken by PLSD)")


def fixed_and_broken(labels, baseline_predictions, plsd_predictions, baseline_positions, plsd_positions, *,
                     split: str = "test") -> FixedAndBroken:
    """The images PLSD classifies right and the baseline wrong (fixed), and the reverse (broken).

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
    baseline_predictions, plsd_predictions : array-like of shape (n_samples,)
        Predicted classes of the CE baseline's and of PLSD's model.
    baseline_positions, plsd_positions : array-like of shape (n_samples, 2)
        Each image's position in the embedding through either model.
    split : {"test", "train"}, default="test"
        Which split these are, recorded in the result.

    Returns
    -------
    FixedAndBroken
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    labels = np.asarray(labels).reshape(-1)
    columns = [np.asarray(a) for a in (baseline_predictions, plsd_predictions)]
    positions = [np.asarray(a, dtype=np.float32) for a in (baseline_positions, plsd_positions)]
    n = len(labels)
    for name, array in zip(("baseline_predictions", "plsd_predictions"), columns):
        if array.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) like labels, got {array.shape}")
    for name, array in zip(("baseline_positions", "plsd_positions"), positions):
        if array.shape != (n, 2):
            raise ValueError(f"{name} must have shape ({n}, 2), got {array.shape}")
    baseline_right, plsd_right = columns[0] == labels, columns[1] == labels

    def changed(mask) -> Changed:
        idx = np.flatnonzero(mask)
        return Changed(idx, labels[idx], columns[0][idx], columns[1][idx], positions[0][idx], positions[1][idx])

    return FixedAndBroken(split, changed(plsd_right & ~baseline_right), changed(baseline_right & ~plsd_right))


def session_fixed_by(session, split: str = "test") -> FixedAndBroken:
    """:func:`fixed_and_broken` of a session's current (PLSD) model against its CE baseline.

    Parameters
    ----------
    session : Session
        Fine-tuned, with ``run_baseline()`` done for as many epochs.
    split : {"test", "train"}, default="test"
        "test" is the held-out split (the paper's gallery); "train" the images the edit
        was made and PLSD fine-tuned on, which say less about generalisation.

    Raises
    ------
    ValueError
        Without a PLSD epoch, without a baseline (or one of another number of epochs), or
        without a test split when ``split="test"``; each message says what to call.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    if len(session.checkpoints) < 2:
        raise ValueError("nothing to compare yet: run session.finetune(...), then session.run_baseline()")
    baseline = session.baseline_snapshot
    if baseline is None:
        raise ValueError("no CE baseline of as many epochs as PLSD: call session.run_baseline() "
                         "(after the last finetune) first")
    current = session.snapshot
    if current.epoch != baseline.epoch:  # a run moved on between the two reads
        raise ValueError("the session changed while it was read (a run goes on?); wait for it, then call "
                         "session.run_baseline() again")
    if split == "train":
        return fixed_and_broken(session.y, baseline.predictions, current.predictions, baseline.positions,
                                current.positions, split="train")
    if session.y_test is None:
        raise ValueError("this session has no test split: pass x_test and y_test to Session, or ask for "
                         "split='train' (the images PLSD was fine-tuned on)")
    return fixed_and_broken(session.y_test, baseline.test_predictions, current.test_predictions,
                            baseline.test_positions, current.test_positions, split="test")
