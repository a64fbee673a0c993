"""The recipes and variants of ``benchmarks/paper_table.py``, as ``FinetuneConfig`` values.

:data:`RECIPES` say how a seed's start classifier and embedding are made (``--recipe``);
:data:`CONFIGS` name the fine-tuning variants (``--configs``), each a
:class:`~plsd_widget.config.FinetuneConfig` plus the edit it follows and the CE baseline
it is compared with. ``paper_table``'s docstring describes both recipes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace

from plsd_widget.augment import random_affine
from plsd_widget.config import PERPLEXITY, FinetuneConfig

#: The fine-tuning of ``--recipe ours``: λ 0.5, SGD Nesterov 0.9, lr 0.01, batch 64, 5 epochs,
#: the embedding term averaged over the edited points, unedited points free (anchor 0).
OURS = FinetuneConfig.default().replace(epochs=5, lam=0.5, lr=0.01, batch_size=64, anchor=0.0)


@dataclass(frozen=True)
class StartRecipe:
    """How a seed's start classifier and embedding are made (``--recipe``)."""

    layer: str  # the layer embedded and edited
    perplexity: float
    tsne_epochs: int | None  # None: ParametricTSNE's default
    classifier: FinetuneConfig  # λ 0: its epochs, lr, batch size, optimizer and transform train the start CNN
    variants: tuple  # the CONFIGS ids run when --configs is not given


RECIPES = {
    "ours": StartRecipe("latent", 30.0, 150, FinetuneConfig(epochs=2, lam=0.0, lr=1e-3, batch_size=64,
                                                             optimizer="adam"), ("table",)),
    "paper": StartRecipe("head", PERPLEXITY, None,
                         FinetuneConfig.paper().replace(epochs=5, lam=0.0, transform=random_affine()), ("paper",)),
}


@dataclass(frozen=True)
class Variant:
    """One row of the table: a fine-tuning config, the edit it follows, the CE baseline it meets."""

    finetune: FinetuneConfig = OURS
    kappa: float = 0.5
    shift: bool = True  # False: contract only (no move into empty space)
    shift_factor: float = 1.0  # scales δ (edit magnitude)
    hold: bool = False  # control: targets = current positions of the targeted classes
    unit_scale: bool = False  # distances in raw t-SNE units (scale 1, Eq. 3 literally), not the embedding's scale
    baseline_lr: float | None = None  # lr of the CE baseline compared with; None: the same lr

    def key(self, **changes) -> str:
        """A hashable identity (FinetuneConfig holds a mapping, so it is not hashable itself)."""
        variant = replace(self, **changes)
        return json.dumps(variant.to_dict(), sort_keys=True)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"finetune": self.finetune.to_dict()}


#: Named variants: id -> (label, Variant). ``--sweep`` runs the first block, ``--configs`` any.
CONFIGS = {
    "table": ("table (λ=0.5, edited only, κ=0.5, 5 epochs, lr 0.01)", Variant()),
    "lam0.25": ("λ=0.25", Variant(OURS.replace(lam=0.25))),
    "lam0.75": ("λ=0.75", Variant(OURS.replace(lam=0.75))),
    "all": ("all points (unedited held)", Variant(OURS.replace(edited_only=False))),
    "kappa0": ("shift only (κ=0)", Variant(kappa=0.0)),
    "kappa0.8": ("strong contraction (κ=0.8)", Variant(kappa=0.8)),
    "noshift": ("contract only (κ=0.5, no shift)", Variant(shift=False)),
    "halfshift": ("half the shift", Variant(shift_factor=0.5)),
    "ep2": ("2 epochs", Variant(OURS.replace(epochs=2))),
    "ep10": ("10 epochs", Variant(OURS.replace(epochs=10))),
    "lr0.003": ("lr 0.003", Variant(OURS.replace(lr=0.003))),
    "lr0.03": ("lr 0.03", Variant(OURS.replace(lr=0.03))),
    "lr0.02-ce0.01": ("λ=0.5 at lr 0.02 vs CE at lr 0.01 (same CE step)",
                      Variant(OURS.replace(lr=0.02), baseline_lr=0.01)),
    "hold": ("control: hold targeted classes in place (no edit)", Variant(hold=True)),
    "anchor3": ("unedited points held by a second term, weight 3 (anchor; the widget's default)",
                Variant(OURS.replace(anchor=3.0))),
    # not in the sweep:
    "lr0.02": ("lr 0.02", Variant(OURS.replace(lr=0.02))),
    "lr0.02-ce0.03": ("λ=0.5 at lr 0.02 vs CE at lr 0.03", Variant(OURS.replace(lr=0.02), baseline_lr=0.03)),
    "paper": ("paper (FinetuneConfig.paper(): λ=0.1, 7 epochs, SGD lr 0.1, batch 100, scale s)",
              Variant(FinetuneConfig.paper())),
    "paper-scale1": ("paper at scale 1 (raw t-SNE units, Eq. 3 literally)",
                     Variant(FinetuneConfig.paper(), unit_scale=True)),
}
SWEEP = list(CONFIGS)[:list(CONFIGS).index("anchor3") + 1]
