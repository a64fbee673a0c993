"""The embedded default: sklearn's digits, a small CNN trained briefly, and a scripted edit."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix

from plsd_widget.datasets import load_digits_split
from plsd_widget.models import seeded_model, train_classifier
from plsd_widget.session import Session

DEFAULT_LAYER = "latent"


def default_session(*, cnn_epochs: int = 3, random_state: int = 0, verbose: bool = False) -> Session:
    """A session on the 8x8 digits with a CNN trained for a few seconds on CPU.

    The CNN is deliberately undertrained so that some classes are still confused: that is
    what the edit and the fine-tuning are meant to fix. Needs no files and no network.
    """
    train, test = load_digits_split(random_state=random_state)
    model = train_classifier(seeded_model(random_state=random_state), train.images, train.labels,
                             epochs=cnn_epochs, lr=3e-3, random_state=random_state)
    return Session(model, DEFAULT_LAYER, train.images, train.labels, x_test=test.images, y_test=test.labels,
                   class_names=train.class_names, random_state=random_state, verbose=verbose)


def most_confused_pair(session: Session) -> tuple[int, int]:
    """The two classes the classifier mixes up most on the training split (a, b with a < b).

    Raises
    ------
    ValueError
        If the classifier confuses no two classes there: there is nothing to separate.
    """
    preds = session.predictions
    cm = confusion_matrix(session.y, preds, labels=np.arange(len(session.class_names))).astype(float)
    np.fill_diagonal(cm, 0)
    cm = cm + cm.T
    if not cm.any():
        raise ValueError("the classifier confuses no two classes on the training split; "
                         "there is nothing to separate (train it for fewer epochs to see the demo's edit)")
    a, b = np.unravel_index(np.argmax(cm), cm.shape)
    return int(min(a, b)), int(max(a, b))


def scripted_edit(session: Session) -> str:
    """Separate the most confused pair: shift class b away from a and tighten both.

    Returns a one-line description of the edit.
    """
    a, b = most_confused_pair(session)
    pos = session.positions
    ca, cb = pos[session.y == a].mean(axis=0), pos[session.y == b].mean(axis=0)
    direction = cb - ca
    direction /= np.linalg.norm(direction) + 1e-12
    spread = float(np.ptp(pos, axis=0).max())
    delta = direction * 0.25 * spread
    name_a, name_b = session.class_names[a], session.class_names[b]
    session.contract([name_a], 0.5)
    session.contract([name_b], 0.5)
    session.shift(name_b, tuple(delta))
    return (f"classes {name_a!r} and {name_b!r} are confused most; contracted both by κ=0.5 and "
            f"shifted {name_b!r} by δ=({delta[0]:.1f}, {delta[1]:.1f})")
