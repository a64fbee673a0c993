"""Decluttering measures: kNN purity, contour overlap, distance to target, and their table."""

import numpy as np
import pytest

from plsd_widget.declutter import (DeclutterTable, contour_overlap, declutter_scores, knn_purity, seeds_markdown,
                                   target_distance)


@pytest.fixture
def blobs(rng):
    """Three tight, far-apart blobs of 100 points each and their labels."""
    centres = np.array([[0.0, 0.0], [30.0, 0.0], [0.0, 30.0]])
    Y = np.concatenate([rng.normal(size=(100, 2)) + c for c in centres])
    return Y, np.repeat([0, 1, 2], 100)


def test_purity_is_one_for_separated_blobs_and_chance_for_mixed_labels(blobs, rng):
    Y, labels = blobs
    assert knn_purity(Y, labels) == 1.0
    mixed = np.tile([0, 1, 2], 100)  # labels unrelated to position
    assert knn_purity(rng.normal(size=(300, 2)), mixed) == pytest.approx(1 / 3, abs=0.05)


def test_purity_per_class_and_neighbours_exclude_the_point_itself():
    Y = np.array([[0, 0], [0, 1], [0, 2], [10, 0], [10, 1]], dtype=float)
    labels = np.array([0, 0, 1, 1, 1])
    # k=1: 0 -> 1 (same), 1 -> 0 or 2 at equal distance, 2 -> 1 (other), 3 -> 4, 4 -> 3.
    per_class = knn_purity(Y, labels, k=1, per_class=True, n_classes=3)
    assert per_class[0] in (0.5, 1.0) and per_class[1] == pytest.approx(2 / 3) and np.isnan(per_class[2])
    # Duplicates: each point's neighbour is its twin, never itself.
    assert knn_purity(np.repeat(Y, 2, axis=0), np.repeat(labels, 2), k=1) == 1.0


def test_overlap_is_zero_apart_high_coincident_and_nan_for_an_absent_class(blobs, rng):
    Y, labels = blobs
    overlap, area = contour_overlap(Y, labels, n_classes=4, return_area=True)
    np.testing.assert_array_equal(overlap[:3], 0.0)
    np.testing.assert_array_equal(area[:3], 0.0)
    assert np.isnan(overlap[3]) and np.isnan(area[3])
    same = rng.normal(size=(300, 2))
    overlap, area = contour_overlap(same, labels, return_area=True)
    assert (overlap > 0.8).all() and (overlap <= 1).all()
    # A unit Gaussian's 0.9-contour encloses about π·2·ln(10)·(1 + h²) ≈ 15 squared units.
    assert ((area > 8) & (area < 25)).all()


def test_overlap_of_a_class_inside_a_wide_one_is_one(rng):
    Y = np.concatenate([rng.normal(scale=10, size=(400, 2)), rng.normal(scale=0.5, size=(100, 2))])
    overlap = contour_overlap(Y, np.repeat([0, 1], [400, 100]))
    assert overlap[1] == 1.0 and overlap[0] < 0.05


def test_target_distance_on_a_hand_example():
    Y = np.array([[0, 0], [1, 1], [5, 5]], dtype=np.float32)
    targets = np.array([[3, 4], [np.nan, np.nan], [5, 6]])
    assert target_distance(Y, targets) == pytest.approx(3.0)  # (5 + 1) / 2
    assert target_distance(Y, targets, scale=2.0) == pytest.approx(1.5)
    assert np.isnan(target_distance(Y, np.full((3, 2), np.nan)))


def test_scores_weight_the_mean_overlap_by_class_size(rng):
    Y = np.concatenate([rng.normal(size=(200, 2)), rng.normal(size=(100, 2)), rng.normal(size=(50, 2)) + 40])
    labels = np.repeat([0, 1, 2], [200, 100, 50])
    s = declutter_scores(Y, labels)
    assert set(s) == {"purity", "class_overlap", "overlap"}
    assert s["class_overlap"][2] == 0.0
    assert s["overlap"] == pytest.approx((200 * s["class_overlap"][0] + 100 * s["class_overlap"][1]) / 350)
    assert np.isnan(declutter_scores(Y, labels, np.full((350, 2), np.nan))["distance"])


@pytest.mark.parametrize("call, message", [
    (lambda Y, lab: knn_purity(Y[:5], lab[:5]), r"k=10 needs at least 11 samples, got 5; lower k"),
    (lambda Y, lab: knn_purity(Y, lab[:-1]), "has 299 labels but the data has 300 samples"),
    (lambda Y, lab: knn_purity(Y[:, 0], lab), r"must be 2-D of shape \(n_samples, n_features\)"),
    (lambda Y, lab: knn_purity(np.where(np.arange(300)[:, None] == 7, np.nan, Y), lab), "NaN or inf in 1 row"),
    (lambda Y, lab: contour_overlap(np.c_[Y, Y], lab), r"Y must have shape \(n_samples, 2\)"),
    (lambda Y, lab: contour_overlap(Y, lab, n_classes=2), "labels go up to 2 but n_classes=2; raise n_classes"),
    (lambda Y, lab: contour_overlap(Y, lab, mass=1.0), "strictly between 0 and 1"),
    (lambda Y, lab: target_distance(Y, Y[:10]), r"targets must have the shape of Y \(300, 2\)"),
    (lambda Y, lab: target_distance(Y, Y, scale=0), "scale must be a positive number"),
    (lambda Y, lab: DeclutterTable({("PLSD", "train"): (Y, lab[:9], None)}, ["a", "b", "c"]),
     "PLSD / train: labels has 9 labels"),
    (lambda Y, lab: DeclutterTable({}, ["a"]), "at least one"),
])
def test_bad_inputs_say_how_to_fix_them(blobs, call, message):
    with pytest.raises(ValueError, match=message):
        call(*blobs)


def test_table_rows_sections_and_renderings(blobs, rng):
    Y, labels = blobs
    targets = np.full_like(Y, np.nan)
    targets[:10] = Y[:10] + [3.0, 4.0]
    runs = {("before", "train"): (Y, labels, targets),
            ("PLSD", "train"): (rng.normal(size=(300, 2)), labels, targets),
            ("before", "test"): (Y, labels, None)}
    table = DeclutterTable(runs, ["a", "b", "c<"], scale=5.0)
    rows = table.rows()
    assert rows[0] == ["run", "split", "kNN purity (k=10)", "mean contour overlap", "worst class overlap",
                       "distance to target"]
    assert rows[1] == ["before", "train", "1.000", "0.000", "0.000 (a)", "1.000"]
    assert rows[2][:2] == ["PLSD", "train"] and float(rows[2][3]) > 0.8
    assert rows[3][-1] == "—"
    text = str(table).splitlines()
    assert text[3].startswith("---") and len(text) == 5  # a rule between train and test
    html = table.to_html()
    assert html.startswith('<table class="plsd-declutter">') and "c&lt;" in html and "border-top" in html
    assert table.to_markdown().splitlines()[1] == "|---|---|---|---|---|---|"
    assert len(table.legend()) == 4 and "0.9-mass" in table.legend()[1]


def test_a_split_smaller_than_k_is_scored_on_all_its_other_points():
    Y = np.array([[0, 0], [0, 1], [0, 2], [10, 0], [10, 1], [10, 2]], dtype=np.float32)
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert declutter_scores(Y, labels)["purity"] == pytest.approx(knn_purity(Y, labels, k=5))
    assert np.isnan(declutter_scores(Y[:1], labels[:1])["purity"])


def test_seeds_markdown_averages_each_run_and_split_over_seeds():
    seeds = [{("PLSD", "train"): {"purity": p, "overlap": 0.1, "distance": 0.2},
              ("PLSD", "test"): {"purity": p - 0.1, "overlap": 0.3}} for p in (0.8, 0.9)]
    lines = seeds_markdown(seeds).splitlines()
    assert lines[2] == "| PLSD | train | 0.850 ± 0.071 | 0.100 ± 0.000 | 0.200 ± 0.000 |"
    assert lines[3] == "| PLSD | test | 0.750 ± 0.071 | 0.300 ± 0.000 | — |"
    with pytest.raises(ValueError, match="same .run, split. keys"):
        seeds_markdown([seeds[0], {("CE", "train"): seeds[0][("PLSD", "train")]}])
