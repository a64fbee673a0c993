"""FinetuneConfig: checked once, frozen, presets, strict JSON; the one table of defaults."""

import dataclasses
import functools
import json

import pytest

from plsd_widget.config import DEFAULTS, PRESETS, FinetuneConfig, resolve_config


def test_defaults_are_the_measured_recipe():
    config = FinetuneConfig()
    assert config == FinetuneConfig.default() == FinetuneConfig.preset("default")
    assert (config.lam, config.lr, config.anchor, config.edited_only, config.batch_size) == (0.5, 0.01, 3.0, True, 64)
    assert config.reduction == "edited" and config.optimizer == "sgd" and dict(config.optimizer_kwargs) == {}


def test_paper_preset_is_the_papers_recipe():
    paper = FinetuneConfig.paper()
    assert (paper.epochs, paper.lam, paper.lr, paper.batch_size) == (7, 0.1, 0.1, 100)
    assert paper.optimizer == "sgd" and paper.edited_only and paper.anchor == 0.0 and paper.reduction == "batch"
    assert FinetuneConfig.preset("paper") == paper
    assert set(PRESETS) == {"default", "paper"}


def test_preset_name_is_the_preset_a_config_equals():
    for name in PRESETS:
        assert FinetuneConfig.preset(name).preset_name() == name
        assert FinetuneConfig.from_json(FinetuneConfig.preset(name).to_json()).preset_name() == name
    assert FinetuneConfig.paper().replace(anchor=3.0).preset_name() is None
    assert FinetuneConfig(transform=lambda x: x).preset_name() is None  # an augmentation is no preset's


def test_config_is_frozen():
    config = FinetuneConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lam = 0.1
    with pytest.raises(TypeError):
        config.optimizer_kwargs["weight_decay"] = 1.0  # read-only view, not a dict to change behind its back


@pytest.mark.parametrize("changes, error, match", [
    ({"lam": 2}, ValueError, r"lam must be in \[0.0, 1.0\]"),
    ({"lam": "a lot"}, TypeError, "lam must be a number"),
    ({"lam": True}, TypeError, "lam must be a number"),
    ({"lr": "fast"}, TypeError, "lr must be a number, got 'fast'; use a positive one"),
    ({"epochs": 0}, ValueError, "epochs must be a positive integer"),
    ({"epochs": 1.5}, ValueError, "epochs must be a positive integer"),
    ({"epochs": True}, ValueError, "epochs must be a positive integer"),
    ({"lr": -1.0}, ValueError, "lr must be a positive number"),
    ({"lr": 0}, ValueError, "lr must be a positive number"),
    ({"anchor": -0.5}, ValueError, "anchor must be in"),
    ({"anchor": float("inf")}, ValueError, "anchor must be in"),
    ({"edit_weight": float("nan")}, ValueError, "edit_weight must be in"),
    ({"batch_size": 0}, ValueError, "batch_size must be a positive integer"),
    ({"optimizer": "lbfgs"}, ValueError, "unknown optimizer 'lbfgs'"),
    ({"optimizer": 3}, TypeError, "optimizer must be a name"),
    ({"optimizer_kwargs": [1]}, TypeError, "optimizer_kwargs must be a dict"),
    ({"optimizer": print, "optimizer_kwargs": {"a": 1}}, TypeError, "functools.partial"),
    ({"scheduler": "cosine"}, TypeError, "scheduler must be a callable"),
    ({"scheduler_interval": "step"}, ValueError, "scheduler_interval must be one of"),
    ({"transform": 1}, TypeError, "transform must be a callable"),
    ({"reduction": "mean"}, ValueError, "reduction must be one of"),
    ({"edited_only": "yes"}, TypeError, "edited_only must be True or False"),
    ({"momentum": 0.5}, TypeError, r"unknown fine-tuning option\(s\) \['momentum'\]"),
])
def test_bad_values_are_refused_with_the_fix(changes, error, match):
    with pytest.raises(error, match=match):
        FinetuneConfig().replace(**changes)


def test_names_are_case_insensitive_and_normalised():
    config = FinetuneConfig(optimizer="AdamW", scheduler_interval="Batch", reduction="BATCH")
    assert (config.optimizer, config.scheduler_interval, config.reduction) == ("adamw", "batch", "batch")


def test_json_round_trip_and_strictness():
    config = FinetuneConfig.paper().replace(optimizer="adamw", optimizer_kwargs={"weight_decay": 1e-4}, epochs=2)
    text = config.to_json()
    assert json.loads(text)["config"]["optimizer_kwargs"] == {"weight_decay": 1e-4}
    assert FinetuneConfig.from_json(text) == config
    assert FinetuneConfig.from_dict({"lam": 0.2}) == FinetuneConfig(lam=0.2)
    for bad, match in [("{", "cannot read the fine-tuning config"),
                       ('{"format": "other", "config": {}}', "not a fine-tuning config"),
                       (json.dumps({"format": "plsd_widget.FinetuneConfig", "config": {"lam": 3}}), "lam must be in"),
                       (json.dumps({"format": "plsd_widget.FinetuneConfig", "config": {"nope": 1}}), "unknown"),
                       (json.dumps({"format": "plsd_widget.FinetuneConfig", "config": [1]}), "JSON object")]:
        with pytest.raises(ValueError, match=match):
            FinetuneConfig.from_json(bad)


def test_callables_do_not_travel_as_json():
    config = FinetuneConfig(transform=lambda x: x, optimizer=functools.partial(print))
    with pytest.raises(ValueError, match="optimizer, transform are callables, which cannot be written as JSON"):
        config.to_json()


def test_resolve_config():
    assert resolve_config() == FinetuneConfig()
    assert resolve_config("paper", epochs=2) == FinetuneConfig.paper().replace(epochs=2)
    assert resolve_config(FinetuneConfig(lam=0.1), lr=0.5) == FinetuneConfig(lam=0.1, lr=0.5)
    with pytest.raises(ValueError, match="unknown preset"):
        resolve_config("fast")
    with pytest.raises(TypeError, match="config must be a FinetuneConfig"):
        resolve_config({"lam": 0.1})


def test_defaults_table_lists_every_field():
    assert DEFAULTS["perplexity"] == 50.0 and DEFAULTS["random_state"] == 0 and DEFAULTS["device"] == "auto"
    assert {k.split(".", 1)[1] for k in DEFAULTS if k.startswith("finetune.")} == set(FinetuneConfig.field_names())


def test_the_readme_lists_every_default_as_config_py_has_it():
    import pathlib

    readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Defaults"):readme.index("## Layout")]
    for name, value in DEFAULTS.items():
        row = f"| `{name}` | `{value!r}` |"
        assert row in table, f"README's Defaults table lacks or misstates {row}"
    assert table.count("\n| `") == len(DEFAULTS), "README's Defaults table has a row config.DEFAULTS lacks"
