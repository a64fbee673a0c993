"""The widget's recipe selector and contour level: traits on a real widget over a small real session,
and the same through the comm as a view sends them (``test_hostile_widget.FrontEnd``).

The controls themselves are tested in ``js/finetune.test.js``, ``js/controls.test.js`` and in a
real browser in ``tests/browser/test_widget_controls_e2e.py``.
"""

import logging

import comm
import numpy as np
import pytest
import traitlets

from plsd_widget.config import PRESETS, FinetuneConfig
from plsd_widget.contours import unpack_contours
from plsd_widget.widget.geometry import class_contours
from plsd_widget.widget.messages import handle
from plsd_widget.widget.outlines import decode_outlines
from tests.test_hostile_widget import FrontEnd, RecordingComm
from tests.test_widget import in_tmp_dir, widget  # noqa: F401 (fixtures: autosave in tmp; a session's widget)


@pytest.fixture
def view(session, monkeypatch, caplog):
    caplog.set_level(logging.WARNING)
    monkeypatch.setattr(comm, "create_comm", RecordingComm)
    return FrontEnd(session.widget(), caplog)


# ---- recipe ---------------------------------------------------------------------------------------
def test_a_recipe_writes_every_field_of_its_preset(widget):
    assert widget.recipe == "default" and widget.finetune_config == FinetuneConfig.default().to_dict()
    assert widget.finetune_presets == {name: FinetuneConfig.preset(name).to_dict() for name in PRESETS}
    widget.finetune_config = {**widget.finetune_config, "optimizer": "adam", "edit_weight": 5.0, "amp": False}
    widget.recipe = "paper"
    assert widget.finetune_config == FinetuneConfig.paper().to_dict()  # all fields, not only the inputs shown
    widget.recipe = "default"
    assert widget.finetune_config == FinetuneConfig.default().to_dict()


def test_a_changed_field_makes_the_recipe_custom_until_it_equals_a_preset_again(widget):
    widget.recipe = "paper"
    widget.finetune_config = {**widget.finetune_config, "lam": 0.2}
    assert widget.recipe == "custom"
    widget.finetune_config = {**widget.finetune_config, "lam": 0.1}
    assert widget.recipe == "paper"
    widget.finetune_config = FinetuneConfig.default().replace(anchor=0.0).to_dict()
    assert widget.recipe == "custom"
    widget.finetune_config = {**widget.finetune_config, "anchor": 3}  # an int, as JSON from the view brings it
    assert widget.recipe == "default"


def test_custom_is_refused_while_the_config_equals_a_preset(widget):
    with pytest.raises(traitlets.TraitError, match="holds the 'default' preset's values; change one of them"):
        widget.recipe = "custom"
    with pytest.raises(traitlets.TraitError, match="expected any of"):
        widget.recipe = "fast"
    assert widget.recipe == "default" and widget.finetune_config == FinetuneConfig.default().to_dict()


def test_the_view_picks_a_recipe_and_gets_its_values_and_custom_back(view):
    view.set(recipe="paper")
    assert view.state["finetune_config"] == FinetuneConfig.paper().to_dict() and view.widget.recipe == "paper"
    view.set(finetune_config={**view.state["finetune_config"], "lam": 0.25})  # the λ input
    assert view.state["recipe"] == "custom" and view.widget.recipe == "custom"
    view.set(finetune_config={**view.state["finetune_config"], "lam": 0.1})
    assert view.state["recipe"] == "paper"
    view.assert_in_sync()


@pytest.mark.parametrize("state, message", [
    ({"recipe": "fast"}, "The 'recipe' trait of a PLSDWidget instance expected any of ['default', 'paper', 'custom']"),
    ({"recipe": "custom"}, "holds the 'default' preset's values"),
    ({"finetune_config": {**FinetuneConfig.default().to_dict(), "anchor": -1}}, "anchor must be in [0.0, inf], got -1"),
    ({"finetune_config": {**FinetuneConfig.default().to_dict(), "reduction": "sum"}},
     "reduction must be one of ['edited', 'batch'], got 'sum'"),
    ({"finetune_presets": {}}, "the view may not set finetune_presets; the kernel keeps them"),
    ({"contour_level": "2/N"}, "level must be a mass fraction in (0, 1) such as 0.9, or '1/N'"),
    ({"contour_level": "1"}, "mass must be strictly between 0 and 1, got 1.0"),
])
def test_a_refused_choice_is_shown_and_sent_back(view, state, message):
    before = {name: getattr(view.widget, name) for name in ("recipe", "finetune_config", "contour_level", "contours")}
    view.set(**state)
    assert message in view.widget.error
    assert {name: getattr(view.widget, name) for name in before} == before
    view.assert_in_sync()


def test_the_finetune_button_runs_exactly_the_recipe_shown(widget, session, monkeypatch):
    runs = []
    monkeypatch.setattr(session, "finetune", lambda config=None, **overrides: runs.append((config, overrides)))
    widget.set_state({"recipe": "paper"})  # as the view writes it
    handle(widget, {"type": "finetune"}, [])
    widget.set_state({"finetune_config": {**widget.finetune_config, "anchor": 1.5, "reduction": "edited"}})
    handle(widget, {"type": "finetune"}, [])
    assert widget.error == ""
    assert runs == [(FinetuneConfig.paper(), {}), (FinetuneConfig.paper().replace(anchor=1.5, reduction="edited"), {})]


# ---- contour level --------------------------------------------------------------------------------
def drawn(widget, n_classes):
    vertices, offsets, classes, _, _ = decode_outlines(widget.contours)
    return unpack_contours(vertices, offsets, classes, n_classes)


def expected(positions, labels, level, n_classes):
    return unpack_contours(*class_contours(positions, labels, level), n_classes)


def spans(per_class):
    """Each class's contour extent: the width of the box around all its lines."""
    return np.array([np.ptp(np.concatenate(lines), axis=0).max() if lines else 0.0 for lines in per_class])


def assert_same_contours(got, want):
    assert [len(lines) for lines in got] == [len(lines) for lines in want]
    for got_lines, want_lines in zip(got, want):
        for a, b in zip(got_lines, want_lines):
            np.testing.assert_array_equal(a, b)


def test_the_contour_level_redraws_the_contours_of_the_split_shown(widget, session):
    n = len(session.class_names)
    assert widget.contour_level == "0.9"
    at_90 = drawn(widget, n)
    assert_same_contours(at_90, expected(session.positions, session.labels, 0.9, n))
    widget.contour_level = "0.5"
    at_50 = drawn(widget, n)
    assert_same_contours(at_50, expected(session.positions, session.labels, 0.5, n))
    assert (spans(at_50) < spans(at_90)).all(), "half of each class's mass lies inside its 90 % contour"
    widget.contour_level = "1/N"
    assert_same_contours(drawn(widget, n), expected(session.positions, session.labels, "1/N", n))
    widget.split = "test"  # the held-out split's contours at the same level, N its own points
    assert_same_contours(drawn(widget, n), expected(session.test_positions, session.y_test, "1/N", n))
    widget.contour_level = 0.5  # Python may pass a number; the trait holds it as the view's text
    assert widget.contour_level == "0.5"
    assert_same_contours(drawn(widget, n), expected(session.test_positions, session.y_test, 0.5, n))
    widget.split = "train"
    assert_same_contours(drawn(widget, n), at_50)


def test_contour_levels_are_normalised_or_refused_with_the_fix(widget):
    for given, held in [("1/n", "1/N"), (" 0.75 ", "0.75"), (0.25, "0.25")]:
        widget.contour_level = given
        assert widget.contour_level == held
    for bad, message in [("mass", "or '1/N' (the paper's density threshold), got 'mass'"),
                         (1.5, "got 1.5; or pass level='1/N'"), (None, "expected a unicode string or a float")]:
        with pytest.raises(traitlets.TraitError, match=message.replace("(", r"\(").replace(")", r"\)")):
            widget.contour_level = bad
    assert widget.contour_level == "0.25"


def test_a_contour_level_given_when_the_widget_is_made(session):
    from plsd_widget.widget import PLSDWidget

    widget = PLSDWidget(session, contour_level="1/N", recipe="paper")
    assert widget.contour_level == "1/N" and widget.finetune_config == FinetuneConfig.paper().to_dict()
    n = len(session.class_names)
    assert_same_contours(drawn(widget, n), expected(session.positions, session.labels, "1/N", n))
