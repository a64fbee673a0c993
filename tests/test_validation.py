"""Tests of the shared input checks (plsd_widget._validation): each message says the fix."""

import numpy as np
import pytest
import scipy.sparse as sp

from plsd_widget._validation import as_float_array


@pytest.mark.parametrize("X, error, match", [
    (sp.csr_matrix(np.eye(3)), TypeError, r"X is a sparse csr_matrix, and sparse input is not supported; .*toarray"),
    (np.ones((3, 2)) * 1j, ValueError, r"Complex data not supported: .*X\.real"),
    (np.ones(3), ValueError, r"got shape \(3,\); Reshape your data: X\.reshape\(-1, 1\) .*X\.reshape\(1, -1\)"),
    (np.ones((2, 2, 2)), ValueError, r"must be 2-D of shape \(n_samples, n_features\), got shape \(2, 2, 2\)$"),
    (np.ones((0, 3)), ValueError, r"X has 0 sample\(s\) \(shape=\(0, 3\)\) while a minimum of 1 is required"),
    (np.ones((4, 0)), ValueError, r"X has 0 feature\(s\) \(shape=\(4, 0\)\) while a minimum of 1 is required"),
    ([["a", "b"]], TypeError, r"X must be numeric array-like, got list"),
    ([[1.0, 2.0], [3.0]], TypeError, r"X must be numeric array-like, got list"),
])
def test_bad_input_is_refused_with_the_fix(X, error, match):
    with pytest.raises(error, match=match):
        as_float_array(X)


def test_too_few_samples_are_counted_against_the_minimum():
    with pytest.raises(ValueError, match=r"H has 1 sample\(s\) \(shape=\(1, 5\)\) while a minimum of 4 .*more data"):
        as_float_array(np.ones((1, 5)), "H", min_samples=4)


def test_numbers_of_any_real_dtype_become_contiguous_float32():
    X = np.arange(12, dtype=np.int64).reshape(3, 4).T
    out = as_float_array(X)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, X)
    assert as_float_array([[1, 2], [3, 4]]).dtype == np.float32
