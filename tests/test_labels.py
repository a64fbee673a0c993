import numpy as np
import pytest

from plsd_widget.labels import encode_labels


def test_integer_labels_are_the_class_indices():
    y, y_test, names = encode_labels([2, 0, 1], 3, y_test=np.array([3.0, 0.0]), n_test=2)
    assert y.tolist() == [2, 0, 1] and y_test.tolist() == [3, 0] and names == ["0", "1", "2", "3"]
    assert encode_labels([1, 0], 2, class_names=["cat", "dog"])[2] == ["cat", "dog"]
    with pytest.raises(ValueError, match="only 1 class names"):
        encode_labels([1, 0], 2, class_names=["cat"])


def test_string_labels_are_encoded_sorted_with_their_names():
    y, y_test, names = encode_labels(["RVOT", "LVOT", "4CH", "LVOT"], 4, y_test=["3VV", "RVOT"], n_test=2)
    assert names == ["3VV", "4CH", "LVOT", "RVOT"]
    assert y.tolist() == [3, 2, 1, 2] and y_test.tolist() == [0, 3]
    assert y.dtype == np.int64


def test_class_names_give_the_order_of_string_labels():
    y, _, names = encode_labels(np.array(["b", "a", "c"], dtype=object), 3, class_names=["c", "b", "a", "unused"])
    assert names == ["c", "b", "a", "unused"] and y.tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match=r"labels \['d'\] are not in class_names"):
        encode_labels(["a", "d"], 2, class_names=["a", "b"])
    with pytest.raises(ValueError, match="repeated"):
        encode_labels(["a"], 1, class_names=["a", "a"])


def test_mixed_and_mismatched_labels_are_refused_or_ordered_by_text():
    _, _, names = encode_labels(np.array(["x", 1], dtype=object), 2)
    assert names == ["1", "x"]
    with pytest.raises(TypeError, match="one kind"):
        encode_labels([0, 1], 2, y_test=["a", "b"], n_test=2)
    with pytest.raises(ValueError, match="print the same name"):
        encode_labels(np.array([1, "1"], dtype=object), 2)
    with pytest.raises(ValueError, match="one label per sample"):
        encode_labels(["a"], 2)


def test_a_session_takes_string_labels(digits, trained_cnn, fitted_embedding):
    from plsd_widget.session import Session

    train, test = digits
    words = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    session = Session(trained_cnn, "latent", train.images, words[train.labels], x_test=test.images,
                      y_test=words[test.labels], class_names=list(words), embedding=fitted_embedding)
    assert session.class_names == list(words)
    np.testing.assert_array_equal(session.labels, train.labels)
    session.select("three")
    assert session.selection.size == (train.labels == 3).sum()
    assert "three" in session.metrics.to_html()
    session.close()
