"""Looking inside a live session (``plsd_widget.session.inspection``) and the widget's panel for it.

The analysis functions themselves are tested in test_neighbours, test_diverse,
test_saliency and test_subtypes; here: that the session asks them the right question
(its current model, the split shown) and that the widget carries the answers.
"""

import numpy as np
import pytest

from plsd_widget.activations import extract_activations
from plsd_widget.widget.binary import bytes_to_array
from plsd_widget.widget.messages import handle
from plsd_widget.widget.outlines import decode_outlines
from plsd_widget.widget.thumbnails import heat_atlas


@pytest.fixture(autouse=True)
def in_tmp_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # widgets autosave in the working directory


def test_neighbours_are_exact_with_distances_and_follow_the_model(session):
    H = session.activations
    indices, distances = session.latent_neighbors(7, 5, return_distance=True)
    d = np.sqrt(((H - H[7]) ** 2).sum(axis=1))
    d[7] = np.inf
    np.testing.assert_array_equal(indices, np.argsort(d, kind="stable")[:5])
    np.testing.assert_allclose(distances, np.sort(d)[:5], rtol=1e-4, atol=1e-5)
    in_test = session.latent_neighbors(7, 8, split="test")
    assert in_test.shape == (8,) and 7 not in in_test and in_test.max() < len(session.y_test)

    before = session.latent_neighbors(7, 5)
    session.move_points([7], [[50.0, 50.0]])
    session.finetune(epochs=1)
    session.wait()
    assert session.activations is not H  # the model changed: a new index, on its new activations
    H2 = session.activations
    d2 = ((H2 - H2[7]) ** 2).sum(axis=1)
    d2[7] = np.inf
    np.testing.assert_array_equal(session.latent_neighbors(7, 5), np.argsort(d2, kind="stable")[:5])
    assert before.shape == (5,)


def test_neighbour_errors_say_what_is_allowed(session):
    with pytest.raises(ValueError, match="index must be in \\[0, "):
        session.latent_neighbors(10**6)
    with pytest.raises(ValueError, match="split must be"):
        session.latent_neighbors(0, split="validation")


def test_select_diverse_spreads_over_the_chosen_space(session):
    chosen = session.select_diverse(12)
    assert chosen.shape == (12,) and len(np.unique(chosen)) == 12
    H = session.activations
    spread = lambda idx: ((H[idx][:, None] - H[idx][None]) ** 2).sum(-1)[np.triu_indices(len(idx), 1)].min()
    random_spread = np.median([spread(np.random.default_rng(s).choice(len(H), 12, replace=False))
                               for s in range(20)])
    assert spread(chosen) > random_spread  # furthest-point sampling keeps its picks apart

    balanced = session.select_diverse(20, balanced=True)
    counts = np.bincount(session.predictions[balanced], minlength=10)
    assert counts.max() - counts.min() <= 1
    assert session.select_diverse(5, space="embedding").shape == (5,)
    assert session.select_diverse(5, space="input").shape == (5,)
    with pytest.raises(ValueError, match="space must be one of"):
        session.select_diverse(5, space="pixels")


def test_saliency_kinds_have_the_inputs_shape(session):
    x = session.x[[0, 1, 2]]
    for kind in ("gradient", "integrated"):
        maps = session.saliency([0, 1, 2], kind=kind)
        assert maps.shape == x.shape and np.isfinite(maps).all() and np.abs(maps).sum() > 0
    toward = session.saliency([0, 1, 2], kind="toward", toward=(10.0, 0.0))
    assert toward.shape == x.shape and np.abs(toward).sum() > 0
    with pytest.raises(ValueError, match="toward"):
        session.saliency([0], kind="toward")
    with pytest.raises(ValueError, match="kind must be one of"):
        session.saliency([0], kind="lime")
    with pytest.raises(ValueError, match="indices must be"):
        session.saliency([])


def test_direction_between_classes_and_selections_in_the_current_view(session):
    P, y = session.positions, session.y
    expected = P[y == 9].mean(0) - P[y == 4].mean(0)
    d = session.direction_between("4", "9")
    np.testing.assert_allclose(d, expected / np.linalg.norm(expected), rtol=1e-5)
    np.testing.assert_allclose(session.direction_between(4, 9), d)  # an index names the same class
    np.testing.assert_allclose(session.direction_between(np.flatnonzero(y == 4), y == 9), d, rtol=1e-6)
    by_prediction = P[session.predictions == 9].mean(0) - P[session.predictions == 4].mean(0)
    np.testing.assert_allclose(session.direction_between("4", "9", by="prediction"),
                               by_prediction / np.linalg.norm(by_prediction), rtol=1e-5)
    Pt = session.test_positions
    in_test = Pt[session.y_test == 9].mean(0) - Pt[session.y_test == 4].mean(0)
    np.testing.assert_allclose(session.direction_between("4", "9", split="test"),
                               in_test / np.linalg.norm(in_test), rtol=1e-5)

    with pytest.raises(ValueError, match="same class"):
        session.direction_between("4", 4)
    with pytest.raises(ValueError, match="class names"):
        session.direction_between("4", "eleven")
    with pytest.raises(ValueError, match="a is an empty selection"):
        session.direction_between([], "9")
    with pytest.raises(ValueError, match="same points"):
        session.direction_between([1, 2], [2, 1])
    with pytest.raises(ValueError, match="by must be one of"):
        session.direction_between("4", "9", by="cluster")


def test_saliency_along_a_direction_moves_the_points_toward_b(session):
    """A small step along the map of 'along direction_between(4, 9)' moves each 4 toward the 9s."""
    fours = np.flatnonzero(session.y == 4)[:6]
    d = session.direction_between("4", "9")
    maps = session.saliency(fours, kind="along", direction=d)
    assert maps.shape == session.x[fours].shape
    x = session.x[fours]
    step = 1e-3 * np.linalg.norm(x.reshape(6, -1), axis=1) / np.linalg.norm(maps.reshape(6, -1), axis=1)
    before = session.embedding.transform(session.activations[fours])
    moved = session.embedding.transform(extract_activations(session.model, session.layer,
                                                            x + step[:, None, None, None] * maps))
    assert np.all((moved - before) @ d > 0)
    with pytest.raises(ValueError, match="needs direction="):
        session.saliency(fours, kind="along")


def test_subtypes_of_a_class_come_with_outlines(session):
    found, outlines = session.subtypes("3")
    assert set(found.indices) == set(np.flatnonzero(session.y == 3))
    assert len(outlines) == found.k
    assert all(len(lines) >= 1 for lines in outlines)
    with pytest.raises(ValueError, match="class names"):
        session.subtypes("eleven")


def test_widget_neighbours_carry_distances_and_saliency(session):
    widget = session.widget()
    handle(widget, {"type": "neighbors", "index": 4}, [])
    assert widget.error == ""
    distances = bytes_to_array(widget.neighbor_distances, np.float32, "d")
    assert distances.size == 8 and np.all(np.diff(distances) >= 0) and widget.neighbor_heat == b""

    widget.saliency = "gradient"
    handle(widget, {"type": "neighbors", "index": 4}, [])
    side = widget.thumbnail_side
    heat = bytes_to_array(widget.neighbor_heat, np.uint8, "heat")
    assert heat.size == 9 * side * side and heat.max() == 255  # the point and its 8 neighbours


def test_widget_suggests_points_to_label_and_exports_them(session):
    widget = session.widget()
    widget.suggest_n = 15
    handle(widget, {"type": "suggest"}, [])
    assert widget.error == ""
    assert widget.suggested_indices.shape == (15,) and len(set(widget.suggested_indices)) == 15
    widget.suggest_n = 0
    handle(widget, {"type": "suggest"}, [])
    assert "suggest between 1 and" in widget.error


def test_widget_mean_saliency_of_a_selection_and_of_a_drag(session):
    widget = session.widget()
    picked = np.flatnonzero(session.y == 1)[:20].astype(np.uint32)
    handle(widget, {"type": "selection_saliency"}, [memoryview(picked.tobytes())])
    assert widget.error == "" and len(widget.selection_heat_captions) == 1
    session.move_points(picked[:5], np.full((5, 2), 30.0))
    handle(widget, {"type": "selection_saliency"}, [memoryview(picked.tobytes())])
    assert len(widget.selection_heat_captions) == 2 and "toward their targets" in widget.selection_heat_captions[1]
    side = widget.thumbnail_side
    assert len(widget.selection_heat) == 2 * side * side
    handle(widget, {"type": "selection_saliency"}, [memoryview(b"")])
    assert "select points" in widget.error


def test_widget_saliency_from_a_class_or_group_toward_another(session):
    widget = session.widget()
    side = widget.thumbnail_side
    buf = lambda indices: memoryview(np.asarray(indices, np.uint32).tobytes())
    fours, nines = np.flatnonzero(session.y == 4), np.flatnonzero(session.y == 9)
    handle(widget, {"type": "direction_saliency", "from": "4", "to": "9"}, [buf([]), buf([]), buf([])])
    assert widget.error == "" and len(widget.selection_heat) == side * side
    caption = widget.selection_heat_captions[0]
    assert caption.startswith(f"what moves the {fours.size} of class 4 from class 4 toward class 9")
    expected = session.saliency(fours, kind="along", direction=session.direction_between("4", "9")).mean(0)
    assert widget.selection_heat == heat_atlas(expected[None], side)

    handle(widget, {"type": "direction_saliency", "from": None, "to": None},
           [buf(fours[:3]), buf(fours[:10]), buf(nines[:10])])
    assert widget.error == ""
    assert widget.selection_heat_captions[0].startswith("what moves 3 selected from group A (10) toward group B (10)")

    refusals = [({"from": "4", "to": "4"}, [buf([])] * 3, "same class"),
                ({"from": "4", "to": "eleven"}, [buf([])] * 3, "class names"),
                ({"from": None, "to": "9"}, [buf([])] * 3, "group A is empty"),
                ({"from": None, "to": None}, [buf([]), buf([1, 2]), buf([2, 1])], "same points"),
                ({"from": 4, "to": "9"}, [buf([])] * 3, "from must be a class name"),
                ({"from": "4", "to": "9"}, [buf([])], "needs 3 buffers")]
    for fields, buffers, message in refusals:
        handle(widget, {"type": "direction_saliency", **fields}, buffers)
        assert message in widget.error, (fields, widget.error)


def test_widget_shows_and_clears_subtypes(session):
    widget = session.widget()
    handle(widget, {"type": "subtypes", "class": "3"}, [])
    assert widget.error == "" and widget.subtypes_info.startswith("class 3")
    outlines = decode_outlines(widget.subtypes)
    assert set(outlines.members) == set(np.flatnonzero(session.y == 3))
    assert len(outlines.offsets) > 1 and outlines.member_labels.size == outlines.members.size
    handle(widget, {"type": "subtypes", "class": None}, [])
    assert widget.subtypes_info == "" and widget.subtypes == b""
    handle(widget, {"type": "subtypes", "class": 3}, [])
    assert "class must be a class name" in widget.error
