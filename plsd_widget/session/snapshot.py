"""What a session's model shows at one epoch, frozen: the one reference every view and table reads.

A :class:`Snapshot` holds the epoch of the weights it was taken of, the layer's
activations of the training inputs, where the embedding puts them and the model's
predicted classes. The held-out split's activations, positions and predictions are
computed on first use (one pass through a model with the snapshot's weights) and kept,
as is the classification report. A session replaces its snapshot by one assignment
after each epoch or rollback, so a reader that holds one sees one consistent state;
nothing is cleared by hand.
"""

from __future__ import annotations

import threading
from dataclasses import InitVar, dataclass, field

import numpy as np

from plsd_widget.activations import activations_and_predictions, extract_activations
from plsd_widget.embedding.neighbor_offsets import OffsetLookup
from plsd_widget.metrics import class_report


def place_new_points(embedding, H, encoded, offsets, H_new) -> np.ndarray:
    """Where new activations ``H_new`` go: the encoder's output, moved by a training neighbour's offset.

    As ``ParametricTSNE.transform`` does (:class:`OffsetLookup`), among the training
    activations ``H``, the encoder's output for them (``encoded``) and their ``offsets``;
    the encoder's output alone when every offset is zero.
    """
    placed = embedding.encode(H_new)
    if offsets.any():
        placed = OffsetLookup(H, encoded, offsets)(H_new, placed)
    return placed


def embed_through(model, layer, embedding, x, offsets, x_test=None, *, activations=None):
    """Where ``model`` puts ``x`` and ``x_test`` in a frozen embedding, as a ``Session`` shows them.

    Parameters
    ----------
    model : torch.nn.Module
    layer : str
    embedding : ParametricTSNE
        Fitted; its encoder is applied to the layer's activations.
    x : array-like of shape (n_samples, ...)
        The training inputs.
    offsets : ndarray of shape (n_samples, 2)
        Each training point's constant offset from the encoder's output (``Session.offsets``).
    x_test : array-like, optional
        New inputs, placed by :func:`place_new_points`.
    activations : ndarray, optional
        ``model``'s activations of ``x`` when they are already at hand.

    Returns
    -------
    positions : ndarray of shape (n_samples, 2)
    test_positions : ndarray of shape (n_test, 2) or None
    """
    H = extract_activations(model, layer, x) if activations is None else activations
    encoded = embedding.encode(H)
    if x_test is None:
        return encoded + offsets, None
    H_test = extract_activations(model, layer, x_test)
    return encoded + offsets, place_new_points(embedding, H, encoded, offsets, H_test)


@dataclass(frozen=True)
class SnapshotInputs:
    """What every snapshot of one session shares: the layer, the frozen embedding, the offsets, the splits."""

    layer: str
    embedding: object
    offsets: np.ndarray
    x_test: np.ndarray | None
    eval_labels: np.ndarray  # the held-out labels, or the training ones without a held-out split
    n_classes: int


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def start_positions(embedding, H) -> tuple[np.ndarray, np.ndarray]:
    """Where to show the points at the start, and their offsets from the encoder's output.

    An embedding fitted on exactly these activations shows its own ``embedding_`` (for
    scheme "distil" the free t-SNE layout, not quite where the network puts the points);
    any other shows the network's ``encode(H)``.
    """
    network = embedding.encode(H)
    own = getattr(embedding, "embedding_", None)
    offsets = getattr(embedding, "offsets_", None)
    if own is not None and offsets is not None and own.shape == network.shape \
            and np.allclose(network, own - offsets, rtol=0, atol=1e-3 * (1 + np.abs(own).max())):
        return own.astype(np.float32), _frozen(offsets.astype(np.float32))
    return network, _frozen(np.zeros_like(network))


@dataclass(frozen=True, eq=False)
class Snapshot:
    """The session's state at one epoch of its model (see the module docstring).

    ``activations`` (n_samples, n_features) are shared, not copied: do not change them;
    ``positions`` (n_samples, 2) float32 and ``predictions`` (n_samples,) are read-only.
    ``model_source(snapshot)`` gives a model with the snapshot's weights, once, for the
    held-out split; it is dropped after that.
    """

    inputs: SnapshotInputs = field(repr=False)
    epoch: int
    activations: np.ndarray = field(repr=False)  # left writable: torch.from_numpy warns on read-only arrays
    positions: np.ndarray = field(repr=False)
    predictions: np.ndarray = field(repr=False)
    model_source: InitVar[object]
    _lazy: dict = field(default_factory=dict, init=False, repr=False)  # "source", "test", "report"
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self, model_source):
        object.__setattr__(self, "positions", _frozen(np.asarray(self.positions, dtype=np.float32)))
        _frozen(self.predictions)
        self._lazy["source"] = model_source

    @classmethod
    def take(cls, inputs: SnapshotInputs, model, x, epoch: int, model_source) -> Snapshot:
        """The snapshot of ``model`` (with the weights of ``epoch``) on the training inputs ``x``."""
        H, predictions = activations_and_predictions(model, inputs.layer, x)
        return cls(inputs, epoch, H, inputs.embedding.encode(H) + inputs.offsets, predictions, model_source)

    @property
    def test_activations(self) -> np.ndarray | None:
        """The layer's activations of the held-out inputs (computed on first use, shared); None without them."""
        return self._test_split()[0]

    @property
    def test_positions(self) -> np.ndarray | None:
        """Where the held-out inputs are placed (:func:`place_new_points`), read-only; None without them."""
        return self._test_split()[1]

    @property
    def test_predictions(self) -> np.ndarray | None:
        """The predicted class of each held-out input, read-only; None without them."""
        return self._test_split()[2]

    @property
    def report(self):
        """The :class:`~plsd_widget.metrics.ClassReport` on the held-out split (else the training one)."""
        if "report" not in self._lazy:
            predicted = self.predictions if self.inputs.x_test is None else self.test_predictions
            self._lazy["report"] = class_report(self.inputs.eval_labels, predicted, self.inputs.n_classes)
        return self._lazy["report"]

    def compute_test(self) -> Snapshot:
        """Compute the held-out split's data now (while a model with these weights is at hand); return self."""
        self._test_split()
        return self

    def _test_split(self) -> tuple:
        inputs = self.inputs
        if inputs.x_test is None:
            return None, None, None
        with self._lock:
            if "test" not in self._lazy:
                H_test, predicted = activations_and_predictions(self._lazy["source"](self), inputs.layer,
                                                                inputs.x_test)
                placed = place_new_points(inputs.embedding, self.activations, self.positions - inputs.offsets,
                                          inputs.offsets, H_test)
                self._lazy["test"] = H_test, _frozen(placed.astype(np.float32, copy=False)), _frozen(predicted)
                del self._lazy["source"]
        return self._lazy["test"]
