"""The embedded default: sklearn's digits, a small CNN trained briefly, and a scripted edit."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix

from plsd_widget.config import FinetuneConfig
from plsd_widget.datasets import load_digits_split
from plsd_widget.edit_planner import plan_edits
from plsd_widget.models import seeded_model, train_classifier
from plsd_widget.session import Session

DEFAULT_LAYER = "latent"
#: The demo's fine-tuning (headless and the quick start): the default recipe for 10 epochs instead
#: of 3, so the edited classes get where the edit put them (on the digits, 3 epochs close about half
#: of the edited points' distance to their targets, 10 about three quarters; benchmarks/RESULTS.md,
#: issue 26). An epoch takes well under a second on a CPU here.
DEMO_FINETUNE = FinetuneConfig.default().replace(epochs=10)


def default_session(*, cnn_epochs: int = 3, random_state: int = 0, verbose: bool = False) -> Session:
    """A session on the 8x8 digits with a CNN trained for a second or two on CPU.

    Three epochs give clean clusters with some confusion left: test accuracy 0.936 with
    ``random_state=0`` (0.960 and 0.938 with 1 and 2), the t-SNE map's 10-NN class purity
    0.95-0.97, and '1' and '8' mixed up most, the pair the demo's edit separates. Four or
    more epochs leave that pair apart in the map already, so the edit has little to move
    and fine-tuning little to fix (benchmarks/RESULTS.md, issue 26). Needs no files and no
    network.
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
    """Separate the most confused pair: contract both, and move each to the nearest empty space.

    Each class goes to the nearest spot where no other class lies, which may be where it
    already is (:func:`plsd_widget.edit_planner.plan_edits`): the paper's guideline that
    decluttering needs empty space. Returns a one-line description of the edit.
    """
    a, b = most_confused_pair(session)
    _, plan = plan_edits(session.positions, session.labels, (a, b), kappa=0.5)
    said = []
    for step in plan:
        name = session.class_names[step["class"]]
        session.contract([name], step["kappa"])
        if any(step["delta"]):
            session.shift(name, tuple(step["delta"]))
            said.append(f"shifted {name!r} by δ=({step['delta'][0]:.1f}, {step['delta'][1]:.1f})")
    names = " and ".join(repr(session.class_names[c]) for c in (a, b))
    return f"classes {names} are confused most; contracted both by κ=0.5" + "".join(f", {s}" for s in said) \
        + " into empty space"
