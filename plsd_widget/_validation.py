"""Input checks shared by every module, with error messages that say how to fix them."""

from __future__ import annotations

import numpy as np


class NotFittedError(ValueError, AttributeError):
    """Raised when an estimator is used before ``fit``."""


def first_rows(rows) -> str:
    """The first five of ``rows`` for an error message: ``"3, 8, 9"`` or ``"3, 8, 9, 11, 12, ..."``."""
    return ", ".join(map(str, rows[:5])) + (", ..." if len(rows) > 5 else "")


def as_float_array(X, name: str = "X", *, min_samples: int = 1) -> np.ndarray:
    """Return ``X`` as a C-contiguous float32 array of shape (n_samples, n_features).

    Accepts numpy arrays, torch tensors and nested sequences of real numbers. Raises a
    ``TypeError`` for sparse matrices and non-numeric data, and a ``ValueError`` naming
    the problem (in the words scikit-learn's checks expect) for complex numbers, input
    that is not 2-D, fewer than ``min_samples`` samples, no features and non-finite values.
    """
    if hasattr(X, "detach"):  # torch tensor, without importing torch here
        X = X.detach().cpu().numpy()
    if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy.sparse, without importing scipy here
        raise TypeError(f"{name} is a sparse {type(X).__name__}, and sparse input is not supported; "
                        f"pass a dense array ({name}.toarray())")
    arr = _as_array(X, name)
    if np.iscomplexobj(arr):
        raise ValueError(f"Complex data not supported: {name} holds complex numbers; pass their real part "
                         f"({name}.real) or their magnitude (abs({name})), whichever you mean")
    arr = _as_array(arr, name, np.float32, given=type(X).__name__)
    if arr.ndim != 2:
        hint = (f"; Reshape your data: {name}.reshape(-1, 1) if it has a single feature, "
                f"{name}.reshape(1, -1) if it is a single sample") if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D of shape (n_samples, n_features), got shape {arr.shape}{hint}")
    for count, what, needed in ((arr.shape[0], "sample", min_samples), (arr.shape[1], "feature", 1)):
        if count < needed:
            raise ValueError(f"{name} has {count} {what}(s) (shape={arr.shape}) while a minimum of {needed} "
                             f"is required; pass {'more data' if what == 'sample' else 'data with features'}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{name} contains NaN or inf in {rows.size} row(s) (rows {first_rows(rows)}); "
            "drop or impute those rows first"
        )
    return np.ascontiguousarray(arr)


def _as_array(X, name: str, dtype=None, given: str | None = None) -> np.ndarray:
    try:
        return np.asarray(X, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric array-like, got {given or type(X).__name__}: {exc}") from exc


def one_label_per_sample(y, n_samples: int, name: str = "y") -> np.ndarray:
    """``y`` (a sequence, array or tensor) as a 1-D array of ``n_samples`` labels of any type, else raise."""
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (n_samples,), got shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {arr.shape[0]} labels but the data has {n_samples} samples; "
            "pass one label per sample"
        )
    return arr


def as_labels(y, n_samples: int, name: str = "y") -> np.ndarray:
    """Return integer class labels of shape (n_samples,), checking length and type."""
    arr = one_label_per_sample(y, n_samples, name)
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(
                f"{name} must hold integer class indices 0..n_classes-1, got dtype {arr.dtype}; "
                "map class names to integers first (e.g. sklearn.preprocessing.LabelEncoder)"
            )
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be non-negative class indices, found {arr.min()}")
    return arr.astype(np.int64)


def check_fraction(value, name: str, *, low: float = 0.0, high: float = 1.0) -> float:
    """Return ``value`` as float if it is finite and in [low, high], else raise (``True`` is not a number here)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number, got {value!r}; use one in [{low}, {high}]")
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number, got {value!r}; use one in [{low}, {high}]") from exc
    if not np.isfinite(v) or not (low <= v <= high):
        raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")
    return v


def check_positive(value, name: str) -> float:
    """Return ``value`` as float if it is a finite number > 0, else raise."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number, got {value!r}; use a positive one")
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number, got {value!r}; use a positive one") from exc
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return v


def check_positive_int(value, name: str) -> int:
    """Return ``value`` as int if it is an integer >= 1, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def to_numpy(value):
    """``value`` itself, or a torch tensor (any device, gradients or not) as a host numpy array; torch not imported."""
    return value.detach().cpu().numpy() if hasattr(value, "detach") else value
