"""Class labels as the user has them (integers, strings, any hashable) encoded as class indices.

A ``Session`` works on integer indices ``0..n_classes-1`` and shows ``class_names``. Integer
labels are the indices themselves. Other labels (``"LVOT"``, ``"RVOT"``, ...) are encoded
here in a stated order: the order of ``class_names`` when given, else the labels sorted
(by their text where they are of mixed types); each class's name is its label as text.
"""

from __future__ import annotations

import numpy as np

from plsd_widget._validation import as_labels, one_label_per_sample


def _is_integer_like(arr: np.ndarray) -> bool:
    if np.issubdtype(arr.dtype, np.integer):
        return True
    return bool(np.issubdtype(arr.dtype, np.floating) and np.isfinite(arr).all() and (arr == np.round(arr)).all())


def _sorted_classes(values) -> list:
    try:
        return sorted(values)
    except TypeError:  # mixed types: sort by the text shown
        return sorted(values, key=str)


def encode_labels(y, n_samples: int, *, y_test=None, n_test: int = 0, class_names=None):
    """Class indices of ``y`` (and ``y_test``) and the class names, in one stated order.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Integer class indices, or labels of any hashable type (strings, ...).
    n_samples : int
        Samples the labels belong to.
    y_test : array-like of shape (n_test,), optional
        Labels of a held-out split, of the same kind as ``y``.
    n_test : int
        Samples of the held-out split.
    class_names : sequence, optional
        For integer labels: the name of class ``i`` at position ``i`` (default ``"0"``,
        ``"1"``, ...). For other labels: the classes in the order wanted (index ``i`` is
        ``class_names[i]``); every label must be among them. Default: the labels sorted.

    Returns
    -------
    y_codes : ndarray of shape (n_samples,), int64
    y_test_codes : ndarray of shape (n_test,), int64, or None
    names : list of str
    """
    arr = one_label_per_sample(y, n_samples, "y")
    test = None if y_test is None else one_label_per_sample(y_test, n_test, "y_test")
    if test is not None and _is_integer_like(arr) != _is_integer_like(test):
        raise TypeError(f"y and y_test must be labels of one kind, got {arr.dtype} and {test.dtype}; "
                        "pass both as class indices or both as class names")
    if _is_integer_like(arr):
        codes = as_labels(arr, n_samples, "y")
        test_codes = None if test is None else as_labels(test, n_test, "y_test")
        n_classes = int(max(codes.max(initial=-1), -1 if test_codes is None else test_codes.max(initial=-1))) + 1
        names = [str(i) for i in range(n_classes)] if class_names is None else [str(c) for c in class_names]
        if len(names) < n_classes:
            raise ValueError(f"labels go up to {n_classes - 1} but only {len(names)} class names were given")
        return codes, test_codes, names
    seen = set(arr.tolist()) | (set() if test is None else set(test.tolist()))
    classes = _sorted_classes(seen) if class_names is None else list(class_names)
    index = {c: i for i, c in enumerate(classes)}
    if len(index) != len(classes):
        raise ValueError(f"class_names has repeated entries: {classes}; name each class once")
    missing = sorted(seen - set(index), key=str)
    if missing:
        raise ValueError(f"labels {missing[:5]} are not in class_names {classes}; add them, or leave "
                         "class_names out to use the labels sorted")
    names = [str(c) for c in classes]
    if len(set(names)) != len(names):
        raise ValueError(f"two classes print the same name in {names}; give them distinct names")

    def encode(values):
        return np.fromiter((index[v] for v in values.tolist()), dtype=np.int64, count=len(values))

    return encode(arr), None if test is None else encode(test), names
