import numpy as np
import pytest

from plsd_widget.metrics import ClassReport, MetricsTable, class_report


def test_class_report_values():
    rep = class_report([0, 0, 1, 1, 2], [0, 1, 1, 1, 1], 3)
    np.testing.assert_allclose(rep.precision, [1.0, 0.5, 0.0])
    np.testing.assert_allclose(rep.recall, [0.5, 1.0, 0.0])
    np.testing.assert_allclose(rep.f1, [2 / 3, 2 / 3, 0.0])
    np.testing.assert_array_equal(rep.support, [2, 2, 1])
    assert rep.accuracy == pytest.approx(0.6)


def test_table_text_and_html_show_deltas():
    before = class_report([0, 0, 1, 1], [0, 1, 1, 1], 2)
    after = class_report([0, 0, 1, 1], [0, 0, 1, 1], 2)
    table = MetricsTable({"before": before, "PLSD": after}, ["cat", "dog"])
    text = str(table)
    assert "ΔF1 PLSD" in text and "+0.333" in text and "cat" in text
    html = table._repr_html_()
    assert html.startswith("<table") and "#1a7f37" in html  # improvement shown in green


def test_mismatched_lengths():
    with pytest.raises(ValueError, match="differ in shape"):
        class_report([0, 1], [0], 2)


def test_change_that_rounds_to_zero_is_not_negative():
    before = ClassReport(np.array([1.0]), np.array([0.978]), np.array([0.9887640449438202]), np.array([45]), 0.99)
    after = ClassReport(np.array([0.978]), np.array([1.0]), np.array([0.9887640449438201]), np.array([45]), 0.9899999)
    table = MetricsTable({"before": before, "PLSD": after}, ["0"])
    text, html = str(table), table.to_html()
    assert "-0.000" not in text and text.count("+0.000") == 2
    assert "-0.000" not in html and "#cf222e" not in html  # no red for a change that is not there
    worse = ClassReport(np.array([1.0]), np.array([0.9]), np.array([0.9887640449438202 - 0.002]), np.array([45]), 0.9)
    assert "-0.002" in str(MetricsTable({"before": before, "PLSD": worse}, ["0"]))


# ---------------------------------------------------------------- confusion, groups, seed table
from plsd_widget.metrics import ConfusionTable, SeedTable, confusion_matrix, group_average, resolve_groups  # noqa: E402


def test_confusion_matrix_counts_and_checks():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert class_report([0, 0, 1], [0, 1, 1], 2).confusion.tolist() == [[1, 1], [0, 1]]
    with pytest.raises(ValueError, match=r"class indices in \[0, 1\].*pass the right n_classes"):
        confusion_matrix([0, 2], [0, 1], 2)
    text = str(ConfusionTable(cm, ["a", "b", "c"], title="PLSD"))
    assert "true \\ predicted (PLSD)" in text and text.splitlines()[3].split() == ["c", "1", "0", "2"]


def test_group_average_is_support_weighted():
    rep = class_report([0] * 8 + [1] * 2 + [2] * 5, [0] * 8 + [0, 1] + [2] * 5, 3)
    avg = group_average(rep, [0, 1])
    assert avg["support"] == 10
    assert avg["f1"] == pytest.approx((8 * rep.f1[0] + 2 * rep.f1[1]) / 10)
    assert avg["recall"] == pytest.approx(0.9)  # weighted recall of a group = its accuracy
    assert np.isnan(group_average(class_report([0, 0], [0, 0], 3), [1, 2])["f1"])


def test_resolve_groups_by_name_index_and_rest():
    groups = resolve_groups({"Cardiac": ["LVOT", 2], "Other": None}, ["LVOT", "RVOT", "3VV", "Abdomen"])
    assert {k: v.tolist() for k, v in groups.items()} == {"Cardiac": [0, 2], "Other": [1, 3]}
    assert resolve_groups(None, ["a"]) == {}


@pytest.mark.parametrize("groups, error, match", [
    ({"g": ["cat"]}, ValueError, r"group 'g': unknown class 'cat'; known classes: \['a', 'b'\]"),
    ({"g": [5]}, ValueError, r"class index 5 is out of range \[0, 1\]"),
    ({"g": []}, ValueError, "has no classes"),
    ({"g": ["a", "b"], "rest": None}, ValueError, "every other class"),
    (["a"], TypeError, "groups must be a dict"),
])
def test_bad_groups(groups, error, match):
    with pytest.raises(error, match=match):
        resolve_groups(groups, ["a", "b"])


def test_table_with_groups_text_and_html():
    y = np.array([0] * 10 + [1] * 10 + [2] * 20)
    before = class_report(y, np.where(np.arange(40) % 5 == 0, (y + 1) % 3, y), 3)
    after = class_report(y, y, 3)
    table = MetricsTable({"before": before, "PLSD": after}, ["a", "b", "c"], groups={"ab": ["a", "b"], "other": None})
    rows = table.rows()
    ab = next(r for r in rows if r[0] == "ab (weighted)")
    expected = group_average(before, [0, 1])["f1"]
    assert ab[1] == "20" and ab[4] == f"{expected:.3f}" and ab[-1] == f"{1 - expected:+.3f}"
    assert [r[0] for r in rows[-3:]] == ["ab (weighted)", "other (weighted)", "accuracy"]
    assert "ab (weighted)" in str(table)
    html = table.to_html()
    assert "ab (weighted)" in html and "border-top" in html and "font-weight:600" in html
    assert str(table.confusion("before")) != str(table.confusion())
    with pytest.raises(ValueError, match="unknown run"):
        table.confusion("nope")


def test_seed_table_mean_sd_and_paired_contrast():
    y = np.repeat(np.arange(3), 10)
    runs = []
    for wrong in ([5, 2], [3, 0], [4, 1]):  # per seed: errors made by "baseline" and by "PLSD" in class 0
        runs.append({name: class_report(y, np.where(np.arange(30) < n, 1, y), 3)
                     for name, n in zip(("baseline (CE)", "PLSD"), wrong)})
    table = SeedTable(runs, ["a", "b", "c"], {"targeted": ["a"], "other": None}, contrast=("PLSD", "baseline (CE)"))
    vals = table.values()
    assert vals["targeted"]["PLSD"].shape == (3,)
    diff = vals["targeted"]["PLSD"] - vals["targeted"]["baseline (CE)"]
    row = table.rows()[1]
    assert row[0] == "targeted" and row[-1] == "3/3"
    assert row[-2] == f"{diff.mean():+.3f} ± {diff.std(ddof=1):.3f}"
    assert row[2] == f"{vals['targeted']['baseline (CE)'].mean():.3f} ± {vals['targeted']['baseline (CE)'].std(ddof=1):.3f}"
    assert "mean ± sd over 3 seed(s)" in str(table) and table.to_markdown().count("\n") == 3
    with pytest.raises(ValueError, match="same runs"):
        SeedTable(runs + [{"PLSD": runs[0]["PLSD"]}], ["a", "b", "c"], {"t": ["a"]})
    with pytest.raises(ValueError, match="contrast must name two runs"):
        SeedTable(runs, ["a", "b", "c"], {"t": ["a"]}, contrast=("PLSD", "before"))


def test_session_groups(session):
    events = []
    session.on("metrics", lambda: events.append(session.metrics.to_html()))
    assert session.groups is None and "(weighted)" not in str(session.metrics)
    session.groups = {"confused": ["3", "5", "8"], "other": None}
    assert events and "confused (weighted)" in events[-1]
    text = str(session.metrics)
    assert "confused (weighted)" in text and "other (weighted)" in text
    only = session.metrics_table(groups={"odd": [1, 3, 5, 7, 9]})
    assert "odd (weighted)" in str(only) and "confused" not in str(only)
    with pytest.raises(ValueError, match="unknown class 'x'"):
        session.groups = {"bad": ["x"]}
    assert session.groups == {"confused": ["3", "5", "8"], "other": None}
    session.groups = None
    assert "(weighted)" not in str(session.metrics)
