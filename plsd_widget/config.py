"""One fine-tuning configuration, and the one default of every concept shared by several layers.

:class:`FinetuneConfig` is what ``Session.finetune``, ``PLSDTrainer``, the widget's inputs,
``replay``, the command line and the ``torchrun`` workers all read: a frozen object,
checked once when it is made, that travels as JSON (``to_json`` / ``from_json``) and is
recorded with every replay's output. Presets name measured recipes:
:meth:`FinetuneConfig.default` (this package's, measured in ``benchmarks/RESULTS.md``) and
:meth:`FinetuneConfig.paper` (the seed paper's, Sec. 3).

The module-level constants are the defaults every other layer takes its own from
(``ParametricTSNE``, ``Session``, ``joint_probabilities``, the kNN search, ...); the
README's "Defaults" table lists them, and a test keeps the two in step.
"""

from __future__ import annotations

import dataclasses
import json
import math
from types import MappingProxyType

from plsd_widget._validation import check_fraction, check_positive, check_positive_int

#: t-SNE perplexity: the paper's, and ``ParametricTSNE``'s, everywhere.
PERPLEXITY = 50.0
#: Seed of every random choice (kNN search, network weights, batch order) unless one is given.
RANDOM_STATE = 0
#: Where to compute: ``"auto"`` is CUDA, then MPS, then the CPU (:func:`plsd_widget.devices.resolve_device`).
DEVICE = "auto"

#: Density contours enclose this fraction of each class's mass (:func:`plsd_widget.contours.density_contours`).
CONTOUR_LEVEL = 0.9
#: The paper's contour level instead: a density of 1/N, N the points of the split shown.
PAPER_CONTOUR_LEVEL = "1/N"

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULER_INTERVALS = ("epoch", "batch")
#: How the embedding term averages: over the batch's edited points (each edited point weighs
#: the same whatever share of the batch is edited), or over the whole batch (Eq. 3 per
#: instance, averaged like the cross-entropy).
REDUCTIONS = ("edited", "batch")
#: Fields holding a callable, which no JSON can carry.
_CALLABLE_FIELDS = ("scheduler", "transform")
CONFIG_FORMAT = "plsd_widget.FinetuneConfig"


def _choice(value, name: str, choices) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value.lower()


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    """How to fine-tune a classifier with PLSD (Eq. 3); checked once, when made.

    ``L = (1 − λ)·CE + λ·(mean over the counted points of ‖E(C_m(x)) + o − y'‖² / s²)``,
    see :mod:`plsd_widget.finetune.loss`.

    Parameters
    ----------
    epochs : int, default=3
        Epochs of one run.
    lam : float, default=0.5
        λ in [0, 1]: weight of the embedding term (0 is plain cross-entropy).
    lr : float, default=0.01
        Learning rate of the optimiser.
    anchor : float, default=3
        With ``edited_only``: weight of a second term holding each unedited point where it
        is, relative to an edited point's (0: unedited points are free, as in the paper).
        Measured by ``benchmarks/unedited_drift.py`` (the demo's edit, 5 seeds, λ 0.5, 3
        epochs; ``benchmarks/RESULTS.md``): with free unedited points (0) they drift 2.2x as
        far as under plain cross-entropy (0.36 vs 0.17 of the embedding's scale) and the view
        clutters (kNN purity 0.96 -> 0.85); with 3 they drift less than under CE (0.11) and
        purity stays at CE's (0.93), while the edited points still close 47 % of their
        distance to the targets (free: 66 %; every point held, ``edited_only=False``: 27 %).
        F1 against CE is the same within noise for all of them.
    edited_only : bool, default=True
        Count the embedding term for edited points (plus the ``anchor``); False holds every
        unedited point at its current position with an edited point's weight.
    edit_weight : float, default=1
        Weight of the edited points' cross-entropy relative to the others' (the edit used
        as a reweighting as well).
    batch_size : int, default=64
        The global batch (a ``DataLoader`` passed to ``PLSDTrainer.fit`` keeps its own).
    optimizer : {"sgd", "adam", "adamw"} or callable, default="sgd"
        ``"sgd"`` is the paper's SGD with Nesterov momentum 0.9. A callable is called as
        ``optimizer(params, lr=lr)`` and must return a ``torch.optim.Optimizer``; it cannot
        be written to JSON.
    optimizer_kwargs : dict, optional
        Extra keyword arguments of a named optimiser (e.g. ``{"weight_decay": 1e-4}``).
    scheduler : callable, optional
        ``scheduler(optimizer) -> LRScheduler``, stepped every epoch or batch
        (``scheduler_interval``); not written to JSON.
    scheduler_interval : {"epoch", "batch"}, default="epoch"
    transform : callable, optional
        ``transform(x_batch) -> x_batch`` applied to every input batch on the device
        (augmentation); not written to JSON.
    reduction : {"edited", "batch"}, default="edited"
        ``"edited"``: the embedding term is the mean over the batch's counted points, so
        each edited point weighs the same whatever share of the batch is edited.
        ``"batch"``: the sum over them divided by the batch size, Eq. 3 per instance
        averaged over the batch as the cross-entropy is. λ converts between the two by the
        share of counted points in a batch.
    amp : bool, default=True
        Mixed precision on CUDA (ignored elsewhere).

    Examples
    --------
    >>> config = FinetuneConfig.paper().replace(epochs=3)
    >>> FinetuneConfig.from_json(config.to_json()) == config
    True
    """

    epochs: int = 3
    lam: float = 0.5
    lr: float = 0.01
    anchor: float = 3.0
    edited_only: bool = True
    edit_weight: float = 1.0
    batch_size: int = 64
    optimizer: object = "sgd"
    optimizer_kwargs: object = dataclasses.field(default_factory=dict)
    scheduler: object = None
    scheduler_interval: str = "epoch"
    transform: object = None
    reduction: str = "edited"
    amp: bool = True

    def __post_init__(self):
        checked = {
            "epochs": check_positive_int(self.epochs, "epochs"),
            "lam": check_fraction(self.lam, "lam"),
            "lr": check_positive(self.lr, "lr"),
            "anchor": check_fraction(self.anchor, "anchor", high=math.inf),
            "edit_weight": check_fraction(self.edit_weight, "edit_weight", high=math.inf),
            "batch_size": check_positive_int(self.batch_size, "batch_size"),
            "scheduler_interval": _choice(self.scheduler_interval, "scheduler_interval", SCHEDULER_INTERVALS),
            "reduction": _choice(self.reduction, "reduction", REDUCTIONS),
            "optimizer": self._check_optimizer(),
            "optimizer_kwargs": self._check_optimizer_kwargs(),
        }
        for name in ("edited_only", "amp"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in _CALLABLE_FIELDS:
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise TypeError(f"{name} must be a callable or None, got {value!r}")
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def _check_optimizer(self):
        if isinstance(self.optimizer, str):
            if self.optimizer.lower() not in OPTIMIZERS:
                raise ValueError(f"unknown optimizer {self.optimizer!r}; use one of {list(OPTIMIZERS)} "
                                 "or a callable optimizer(params, lr=lr)")
            return self.optimizer.lower()
        if not callable(self.optimizer):
            raise TypeError(f"optimizer must be a name ({list(OPTIMIZERS)}) or a callable "
                            f"optimizer(params, lr=lr), got {self.optimizer!r}")
        return self.optimizer

    def _check_optimizer_kwargs(self):
        kwargs = {} if self.optimizer_kwargs is None else self.optimizer_kwargs
        if not hasattr(kwargs, "keys") or not all(isinstance(k, str) for k in kwargs):
            raise TypeError(f"optimizer_kwargs must be a dict of keyword arguments, got {kwargs!r}")
        if kwargs and callable(self.optimizer):
            raise TypeError("optimizer_kwargs goes with a named optimizer; bind arguments of a callable "
                            "with functools.partial instead")
        return MappingProxyType(dict(kwargs))

    # ------------------------------------------------------------------ presets
    @classmethod
    def default(cls) -> FinetuneConfig:
        """This package's recipe: the defaults above (each measured; README "Defaults")."""
        return cls()

    @classmethod
    def paper(cls) -> FinetuneConfig:
        """The seed paper's recipe (Sec. 3): 7 epochs of SGD (lr 0.1, Nesterov 0.9, batch 100), λ 0.1.

        The embedding term counts the edited points only, the others free (anchor 0), per
        instance averaged over the batch (``reduction="batch"``, Eq. 3). Distances are in
        units of the embedding's scale, as in every recipe here (``PLSDTrainer(scale="auto")``,
        ``Session.embedding_scale``); the paper's literal Eq. 3 is in raw t-SNE units
        (``scale=1``), which diverges at this package's learning rates (README, "Departures
        from the paper"). The paper trained its classifier 5 epochs with affine augmentation
        (:func:`plsd_widget.augment.random_affine`) before these 7; that is the model you
        start from, not part of this recipe.
        """
        return cls(epochs=7, lam=0.1, lr=0.1, anchor=0.0, edited_only=True, batch_size=100, optimizer="sgd",
                   reduction="batch")

    @classmethod
    def preset(cls, name: str) -> FinetuneConfig:
        """The preset called ``name`` (one of :data:`PRESETS`)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; use one of {list(PRESETS)}")
        return getattr(cls, name)()

    def preset_name(self) -> str | None:
        """The name of the preset (:data:`PRESETS`) whose values this config holds, or None."""
        return next((name for name in PRESETS if self == FinetuneConfig.preset(name)), None)

    # ------------------------------------------------------------------ changes
    def replace(self, **changes) -> FinetuneConfig:
        """A copy with ``changes`` (field names) applied, checked as a new config is."""
        unknown = set(changes) - set(self.field_names())
        if unknown:
            raise TypeError(f"unknown fine-tuning option(s) {sorted(unknown)}; use {list(self.field_names())}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        """The fields as plain JSON values; refuses callables, which JSON cannot carry."""
        held = [name for name in ("optimizer", *_CALLABLE_FIELDS) if callable(getattr(self, name))]
        if held:
            raise ValueError(f"{', '.join(held)} {'is a callable' if len(held) == 1 else 'are callables'}, which "
                             "cannot be written as JSON; name the optimizer ('sgd', 'adam', 'adamw') and leave "
                             "scheduler and transform unset for a config that travels (replay, files)")
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["optimizer_kwargs"] = dict(self.optimizer_kwargs)
        return values

    def to_json(self) -> str:
        """``{"format": ..., "config": {...}}`` as JSON text (strict: no NaN)."""
        return json.dumps({"format": CONFIG_FORMAT, "config": self.to_dict()}, allow_nan=False)

    @classmethod
    def from_dict(cls, values) -> FinetuneConfig:
        """The config whose fields ``values`` gives; missing fields take the defaults."""
        if not isinstance(values, dict):
            raise TypeError(f"a fine-tuning config must be a JSON object, got {type(values).__name__}")
        return cls().replace(**values)

    @classmethod
    def from_json(cls, text: str) -> FinetuneConfig:
        """The config :meth:`to_json` wrote; a ``ValueError`` that names the problem otherwise."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != CONFIG_FORMAT or "config" not in data:
                raise ValueError(f"it is not a fine-tuning config (expected a JSON object with format "
                                 f"{CONFIG_FORMAT!r} and 'config')")
            return cls.from_dict(data["config"])
        except (TypeError, ValueError) as exc:  # JSONDecodeError too
            raise ValueError(f"cannot read the fine-tuning config: {exc}") from exc


#: The named recipes :meth:`FinetuneConfig.preset` knows.
PRESETS = ("default", "paper")


def resolve_config(config=None, **overrides) -> FinetuneConfig:
    """``config`` (a :class:`FinetuneConfig`, a preset name or None for the default) with ``overrides``."""
    if config is None:
        config = FinetuneConfig.default()
    elif isinstance(config, str):
        config = FinetuneConfig.preset(config)
    elif not isinstance(config, FinetuneConfig):
        raise TypeError(f"config must be a FinetuneConfig, a preset name ({list(PRESETS)}) or None, "
                        f"got {type(config).__name__}")
    return config.replace(**overrides) if overrides else config


#: Every concept's one default, as the README's "Defaults" table lists them.
DEFAULTS = {
    "perplexity": PERPLEXITY,
    "random_state": RANDOM_STATE,
    "device": DEVICE,
    "contour_level": CONTOUR_LEVEL,
    **{f"finetune.{f.name}": f.default if f.default is not dataclasses.MISSING else f.default_factory()
       for f in dataclasses.fields(FinetuneConfig)},
}
