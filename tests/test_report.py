"""The self-contained HTML report: inline SVG and CSS, no scripts, no network."""

import numpy as np

from plsd_widget.metrics import MetricsTable, class_report
from plsd_widget.report import scatter_svg, write_report


def test_scatter_svg_draws_every_point_and_arrows_for_edits():
    pos = np.array([[0, 0], [1, 1], [2, 0]], dtype=np.float32)
    targets = np.full_like(pos, np.nan)
    targets[1] = (3, 3)
    svg = scatter_svg(pos, np.array([0, 1, 0]), ["#111111", "#222222"], targets=targets)
    assert svg.count("<circle") == 3 and svg.count("<line") == 1
    assert svg.count('fill="#111111"') == 2


def test_scatter_svg_draws_outlines_in_data_coordinates():
    pos = np.array([[0, 0], [10, 10]], dtype=np.float32)
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 0]], dtype=np.float32)
    svg = scatter_svg(pos, np.array([0, 0]), ["#111111"], outlines=[([square], "#ff0000")], size=100)
    assert svg.count("<polyline") == 1 and 'stroke="#ff0000"' in svg
    assert 'points="12.0,88.0 88.0,88.0 88.0,12.0 12.0,88.0"' in svg  # the points' corners, y up


def _edited_points(n):
    """``n`` random points in two classes of ``n // 2``, the first five edited (targets moved by (1, 1))."""
    before = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)
    targets = np.full_like(before, np.nan)
    targets[:5] = before[:5] + 1
    return before, np.repeat([0, 1], n // 2), targets


def test_write_report_is_self_contained(tmp_path):
    before, labels, targets = _edited_points(20)
    y_pred = labels.copy()
    y_pred[0] = 1
    metrics = MetricsTable({"before": class_report(labels, y_pred, 2), "PLSD": class_report(labels, labels, 2)},
                           ["a<b", "c"])
    path = write_report(tmp_path / "r.html", before=before, after=before + 0.1, labels=labels,
                        class_names=["a<b", "c"], targets=targets, metrics=metrics, summary="edit & check")
    text = path.read_text()
    assert text.count("<svg") == 2 and text.count("<line") == 5
    assert "a&lt;b" in text and "edit &amp; check" in text and "F1 PLSD" in text
    assert "<script" not in text and "src=" not in text and "<link" not in text


def test_write_report_shows_the_declutter_table_with_its_legend(tmp_path):
    from plsd_widget.declutter import DeclutterTable

    before, labels, targets = _edited_points(40)
    metrics = MetricsTable({"before": class_report(labels, labels, 2)}, ["a", "b"])
    declutter = DeclutterTable({("before", "train"): (before, labels, targets),
                                ("before", "test"): (before, labels, None)}, ["a", "b"])
    kwargs = dict(before=before, after=before, labels=labels, class_names=["a", "b"], targets=targets, metrics=metrics)
    text = write_report(tmp_path / "r.html", declutter=declutter, **kwargs).read_text()
    assert text.index("plsd-metrics") < text.index("<h2>Decluttering</h2>") < text.index('<table class="plsd-declutter">')
    assert text.count("<li>") == 4 and "kNN purity (k=10): share" in text
    assert "<h2>Decluttering" not in write_report(tmp_path / "plain.html", **kwargs).read_text()


def test_write_report_says_how_far_the_edited_points_went(tmp_path):
    from plsd_widget.declutter import DeclutterTable
    from plsd_widget.report import distance_closed

    before, labels, targets = _edited_points(40)
    after = before.copy()
    after[:5] = before[:5] + 0.75  # a quarter of the way left to go
    runs = {("before", "train"): (before, labels, targets), ("PLSD", "train"): (after, labels, targets)}
    line = distance_closed(DeclutterTable(runs, ["a", "b"]))
    assert line.startswith("After PLSD fine-tuning the edited training points closed 75% of their distance")
    assert "baseline" not in line
    runs[("baseline (CE)", "train")] = (before, labels, targets)
    assert "the baseline (CE), which does not see the edit, ends at" in distance_closed(DeclutterTable(runs, ["a", "b"]))
    metrics = MetricsTable({"before": class_report(labels, labels, 2)}, ["a", "b"])
    text = write_report(tmp_path / "r.html", before=before, after=after, labels=labels, class_names=["a", "b"],
                        targets=targets, metrics=metrics, declutter=DeclutterTable(runs, ["a", "b"])).read_text()
    assert text.index("</svg>") < text.index('<p class="moved">After PLSD') < text.index("<h2>Per-class")
    assert "of the embedding's scale); the baseline (CE)" in text  # readable, not escaped
    del runs[("PLSD", "train")]
    assert distance_closed(DeclutterTable(runs, ["a", "b"])) == ""  # nothing fine-tuned: nothing to say
