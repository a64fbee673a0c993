"""A small slice of the digits for the replay tests, named ``tests.replay_data:tiny_digits`` in a saved session."""


def tiny_digits():
    """``(x, y, x_test, y_test)``: 300 training and 100 test images of scikit-learn's digits."""
    from plsd_widget.datasets import load_digits_split

    train, test = load_digits_split()
    return train.images[:300], train.labels[:300], test.images[:100], test.labels[:100]
