"""Edits of the embedding (shift, contract, move) and an ``EditLog`` with undo/redo.

An edit turns current 2-D positions into target positions ``Y'`` for some points.
Edits compose in order: each one starts from the targets left by the previous ones
(or the original position for a point no edit touched). Targets are NaN for points
that no edit touched, which the fine-tuning loss reads as "free".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np


def _check_indices(indices, n_points: int) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 1:
        raise ValueError(f"indices must be 1-D, got shape {idx.shape}")
    if idx.size == 0:
        raise ValueError("the edit selects no points; select some points first")
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"indices must be integers, got dtype {idx.dtype}")
    if idx.min() < 0 or idx.max() >= n_points:
        raise ValueError(
            f"indices must be in [0, {n_points - 1}], got values from {idx.min()} to {idx.max()}"
        )
    return np.unique(idx.astype(np.int64))


def _check_vector(value, name: str, shape: tuple) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric with shape {shape}, got {value!r}") from exc
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return arr


@dataclass(frozen=True)
class Shift:
    """Move points by a fixed offset ``delta`` (Eq. 1 of the paper: y' = y + δ)."""

    indices: np.ndarray
    delta: tuple[float, float]
    label: str = ""

    def apply(self, current: np.ndarray) -> np.ndarray:
        return current[self.indices] + np.asarray(self.delta, dtype=current.dtype)


@dataclass(frozen=True)
class Contract:
    """Pull points toward their centroid by ``kappa`` (Eq. 2: y' = y + κ(c − y)).

    κ = 0.5 halves every distance to the centroid; κ < 0 expands the group.
    """

    indices: np.ndarray
    kappa: float
    label: str = ""

    def apply(self, current: np.ndarray) -> np.ndarray:
        pts = current[self.indices]
        centroid = pts.mean(axis=0)
        return pts + self.kappa * (centroid - pts)


@dataclass(frozen=True)
class MovePoints:
    """Place points at explicit target positions (what a drag in the widget produces)."""

    indices: np.ndarray
    targets: np.ndarray
    label: str = ""

    def apply(self, current: np.ndarray) -> np.ndarray:
        return self.targets.astype(current.dtype)


EDIT_TYPES = {"shift": Shift, "contract": Contract, "move": MovePoints}
_EDIT_VALUES = {"shift": "delta", "contract": "kappa", "move": "targets"}  # what each kind saves besides indices


def make_edit(kind: str, indices, n_points: int, *, delta=None, kappa=None, targets=None, label: str = ""):
    """Build a validated edit; raises ``ValueError``/``TypeError`` before anything is applied."""
    idx = _check_indices(indices, n_points)
    if kind == "shift":
        d = _check_vector(delta, "delta", (2,))
        return Shift(idx, (float(d[0]), float(d[1])), label)
    if kind == "contract":
        k = _check_vector(kappa, "kappa", ())
        return Contract(idx, float(k), label)
    if kind == "move":
        raw_idx = np.asarray(indices).astype(np.int64)
        t = _check_vector(targets, "targets", (raw_idx.size, 2))
        if np.unique(raw_idx).size != raw_idx.size:
            raise ValueError("indices of a move must not repeat")
        order = np.argsort(raw_idx)
        return MovePoints(raw_idx[order], t[order], label)
    raise ValueError(f"unknown edit kind {kind!r}; use one of {sorted(EDIT_TYPES)}")


def fingerprint(positions: np.ndarray) -> str:
    """A short hash of the positions an edit log was made on."""
    arr = np.ascontiguousarray(np.asarray(positions, dtype=np.float32))
    return hashlib.sha256(arr.tobytes() + str(arr.shape).encode()).hexdigest()[:16]


@dataclass
class EditLog:
    """Ordered edits with undo/redo over points whose original positions are ``positions``.

    Parameters
    ----------
    positions : ndarray of shape (n_points, 2)
        The embedding the edits are made on.
    """

    positions: np.ndarray
    _edits: list = field(default_factory=list)
    _undone: list = field(default_factory=list)

    def __post_init__(self):
        self.positions = np.asarray(self.positions, dtype=np.float32)

    @property
    def n_points(self) -> int:
        return len(self.positions)

    @property
    def edits(self) -> tuple:
        return tuple(self._edits)

    @property
    def can_undo(self) -> bool:
        return bool(self._edits)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def add(self, edit) -> None:
        """Append an edit (clears the redo stack).

        Raises
        ------
        ValueError
            If the edit would put points beyond float32's range (a finite but huge δ or
            κ); the log is left unchanged.
        """
        self._edits.append(edit)
        if not np.isfinite(self.targets()[edit.indices]).all():
            self._edits.pop()
            raise ValueError(f"the edit would move points beyond ±{np.finfo(np.float32).max:.3g}, so their targets "
                             "would not be finite; use a smaller delta or kappa")
        self._undone.clear()

    def undo(self) -> bool:
        """Undo the last edit; returns False if there was none."""
        if not self._edits:
            return False
        self._undone.append(self._edits.pop())
        return True

    def redo(self) -> bool:
        """Redo the last undone edit; returns False if there was none."""
        if not self._undone:
            return False
        self._edits.append(self._undone.pop())
        return True

    def reset(self) -> None:
        """Drop every edit (undo/redo history too)."""
        self._edits.clear()
        self._undone.clear()

    def targets(self) -> np.ndarray:
        """Target positions of shape (n_points, 2), NaN where no edit touched a point."""
        current = self.positions.copy()
        touched = np.zeros(self.n_points, dtype=bool)
        for edit in self._edits:
            current[edit.indices] = edit.apply(current)
            touched[edit.indices] = True
        out = np.full_like(current, np.nan)
        out[touched] = current[touched]
        return out

    def to_json(self) -> str:
        """Serialise the active edits with a fingerprint of the positions they were made on."""
        items = []
        for e in self._edits:
            kind = next(k for k, t in EDIT_TYPES.items() if isinstance(e, t))
            item = {"kind": kind, "indices": e.indices.tolist(), "label": e.label}
            if kind == "shift":
                item["delta"] = list(e.delta)
            elif kind == "contract":
                item["kappa"] = e.kappa
            else:
                item["targets"] = e.targets.tolist()
            items.append(item)
        return json.dumps({"fingerprint": fingerprint(self.positions), "n_points": self.n_points, "edits": items})

    @classmethod
    def from_json(cls, text: str, positions: np.ndarray) -> "EditLog":
        """Rebuild a log on ``positions``; fails loudly if they are not the ones it was made on.

        Raises
        ------
        ValueError
            For text that is not an edit log written by :meth:`to_json` (truncated,
            wrong types, unknown edit kinds, indices outside ``positions``), naming the
            problem, and for a log made on other positions, naming both fingerprints.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"it is not valid JSON ({exc}); was the file cut short?") from exc
        if not isinstance(data, dict) or not {"fingerprint", "edits"} <= data.keys():
            raise ValueError("it is not an edit log: expected a JSON object with 'fingerprint' and 'edits'")
        expected = fingerprint(positions)
        if data["fingerprint"] != expected:
            raise ValueError(
                f"these edits were made on a different embedding (fingerprint {data['fingerprint']!r}; this "
                f"one's is {expected!r}); load the embedding they were made with (ParametricTSNE.load) on "
                "the same data, or replay them on the session they came from"
            )
        if not isinstance(data["edits"], list):
            raise ValueError(f"'edits' must be a list of edits, got {type(data['edits']).__name__}")
        log = cls(positions)
        for number, item in enumerate(data["edits"], 1):
            try:
                log.add(_edit_from_dict(item, log.n_points))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"edit {number} of {len(data['edits'])}: {exc}") from exc
        return log


def _edit_from_dict(item, n_points: int):
    """One edit of :meth:`EditLog.to_json`'s list, checked as strictly as a new edit."""
    if not isinstance(item, dict):
        raise TypeError(f"an edit must be a JSON object, got {type(item).__name__}")
    if item.get("kind") not in EDIT_TYPES:
        raise ValueError(f"unknown edit kind {item.get('kind')!r}; use one of {sorted(EDIT_TYPES)}")
    indices, label = item.get("indices"), item.get("label", "")
    if not isinstance(indices, list):
        raise TypeError(f"indices must be a list of point indices, got {type(indices).__name__}")
    if len(indices) > n_points:  # a log written by to_json never repeats an index
        raise ValueError(f"it lists {len(indices)} indices, more than the embedding's {n_points} points")
    if not isinstance(label, str):
        raise TypeError(f"label must be a string, got {type(label).__name__}")
    value = _EDIT_VALUES[item["kind"]]
    if value not in item:
        raise ValueError(f"a {item['kind']} edit needs {value!r}")
    return make_edit(item["kind"], indices, n_points, label=label, **{value: item[value]})
