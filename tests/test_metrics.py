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
