"""benchmarks/paper_table.py's recipes (paper_recipes.py) as FinetuneConfig values (no MNIST, no training)."""

from pathlib import Path

import pytest
import torch

from plsd_widget.config import PERPLEXITY, FinetuneConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pt(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import paper_table

    return paper_table


def test_the_paper_recipe_is_the_papers(pt):
    recipe = pt.RECIPES["paper"]
    assert (recipe.layer, recipe.perplexity, recipe.tsne_epochs) == ("head", PERPLEXITY, None)
    start = recipe.classifier
    assert (start.epochs, start.lam, start.lr, start.batch_size, start.optimizer) == (5, 0.0, 0.1, 100, "sgd")
    assert callable(start.transform)  # the affine augmentation, for the start model only
    variant = pt.CONFIGS["paper"][1]
    assert variant.finetune == FinetuneConfig.paper() and variant.finetune.transform is None
    assert (variant.finetune.epochs, variant.finetune.lam, variant.finetune.anchor, variant.finetune.reduction) == \
        (7, 0.1, 0.0, "batch")
    assert not variant.unit_scale and pt.CONFIGS["paper-scale1"][1].unit_scale
    assert recipe.variants == ("paper",)


def test_our_recipe_keeps_the_numbers_of_the_old_config(pt):
    """The values the table's own Config dataclass had (λ 0.5, 5 epochs, lr 0.01, batch 64, anchor 0)."""
    table = pt.CONFIGS["table"][1]
    assert table.finetune == FinetuneConfig(epochs=5, lam=0.5, lr=0.01, batch_size=64, anchor=0.0)
    assert (table.kappa, table.shift, table.shift_factor, table.hold, table.baseline_lr) == \
        (0.5, True, 1.0, False, None)
    assert pt.CONFIGS["anchor3"][1].finetune.anchor == 3.0 and pt.CONFIGS["all"][1].finetune.edited_only is False
    recipe = pt.RECIPES["ours"]
    assert (recipe.layer, recipe.perplexity, recipe.tsne_epochs) == ("latent", 30.0, 150)
    assert (recipe.classifier.epochs, recipe.classifier.lr, recipe.classifier.optimizer) == (2, 1e-3, "adam")
    assert pt.parse_args([]).recipe == "ours" and recipe.variants == ("table",)


def test_the_ce_baseline_is_the_variant_at_lambda_zero(pt):
    variant = pt.CONFIGS["lr0.02-ce0.01"][1]
    assert pt.baseline_changes(variant) == {"lam": 0.0, "anchor": 0.0, "edited_only": True, "lr": 0.01}
    assert pt.baseline_changes(pt.CONFIGS["paper"][1])["lr"] == 0.1
    assert variant.key(baseline_lr=None) == pt.CONFIGS["lr0.02"][1].key()  # they share one PLSD run
    assert pt.CONFIGS["paper"][1].key() != pt.CONFIGS["paper-scale1"][1].key()


@pytest.mark.parametrize("recipe, optimizer, extra", [("paper", torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
                                                      ("ours", torch.optim.Adam, {})])
def test_the_start_model_is_trained_as_its_config_says(pt, monkeypatch, recipe, optimizer, extra):
    seen = {}
    monkeypatch.setattr(pt, "train_classifier", lambda model, x, y, **kwargs: seen.update(kwargs) or model)
    config = pt.RECIPES[recipe].classifier
    pt.train_start_model(3, None, None, config)
    made = seen["optimizer"]([torch.nn.Parameter(torch.zeros(1))], lr=seen["lr"])
    assert type(made) is optimizer and all(made.defaults[k] == v for k, v in extra.items())
    assert (seen["epochs"], seen["batch_size"], seen["lr"], seen["random_state"]) == \
        (config.epochs, config.batch_size, config.lr, 3)
    assert seen["transform"] is config.transform
