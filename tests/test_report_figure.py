"""The report's Figure 2: panels of every run in one frame with contours, edit arrows inside it, the gallery."""

import base64
import re
import zlib

import numpy as np
import pytest

from plsd_widget.fixed_by import fixed_and_broken
from plsd_widget.metrics import MetricsTable, class_report
from plsd_widget.report import scatter_svg, write_report
from plsd_widget.report_figure import SplitRuns, figure_html
from plsd_widget.report_gallery import gallery_html, png_data_uri

NUMBER = r"(-?\d+(?:\.\d+)?)"


def _blobs(n=60, seed=0):
    """Two Gaussian classes of ``n // 2`` points, 8 apart."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n // 2)
    return (rng.normal(size=(n, 2)) + 8 * labels[:, None]).astype(np.float32), labels


def _coordinates(svg):
    """Every x / y the SVG draws: lines' ends, circles' centres, polylines' vertices."""
    xs = [float(v) for v in re.findall(rf'(?:x1|x2|cx)="{NUMBER}"', svg)]
    ys = [float(v) for v in re.findall(rf'(?:y1|y2|cy)="{NUMBER}"', svg)]
    for points in re.findall(r'points="([^"]*)"', svg):
        for pair in points.split():
            x, y = pair.split(",")
            xs.append(float(x))
            ys.append(float(y))
    return np.array(xs), np.array(ys)


def test_scatter_svg_keeps_edit_arrows_inside_the_plot():
    pos = np.array([[0, 0], [1, 1], [2, 0]], dtype=np.float32)
    targets = np.full_like(pos, np.nan)
    targets[1] = (30, -20)  # far outside the points: the frame must grow to hold it
    svg = scatter_svg(pos, np.array([0, 1, 0]), ["#111111", "#222222"], targets=targets, size=100)
    xs, ys = _coordinates(svg)
    assert xs.min() >= 0 and xs.max() <= 100 and ys.min() >= 0 and ys.max() <= 100


def _splits():
    train, labels = _blobs()
    test, test_labels = _blobs(40, seed=1)
    targets = np.full_like(train, np.nan)
    targets[:5] = train[:5] + (25, 25)  # arrows far beyond every point
    runs = {"before": train, "baseline (CE)": train + 0.5, "PLSD": train - 0.5}
    test_runs = {"before": test, "baseline (CE)": test + 0.5, "PLSD": test - 0.5}
    return [SplitRuns("train", labels, runs, targets), SplitRuns("test", test_labels, test_runs)]


@pytest.mark.parametrize("level", ["1/N", 0.9])
def test_panels_share_one_frame_that_holds_points_arrows_and_contours(level):
    text, bounds = figure_html(_splits(), ["#111111", "#222222"], level=level, size=200)
    panels = re.findall(r'<figure class="panel" data-split="(\w+)" data-run="([^"]+)".*?</figure>', text, re.S)
    assert panels == [(s, r) for s in ("train", "test") for r in ("before", "baseline (CE)", "PLSD")]
    svgs = re.findall(r"<svg.*?</svg>", text, re.S)
    assert len(svgs) == 6 and all(svg.count('class="contour"') >= 2 for svg in svgs)  # both classes outlined
    assert svgs[0].count("<line") == 5 and sum(svg.count("<line") for svg in svgs) == 5  # arrows: train before only
    for svg in svgs:
        xs, ys = _coordinates(svg)
        assert xs.min() >= 0 and xs.max() <= 200 and ys.min() >= 0 and ys.max() <= 200, "drawn off the frame"
    assert bounds[1] - bounds[0] == pytest.approx(bounds[3] - bounds[2])  # square: no panel distorted
    assert ("density of 1/N" if level == "1/N" else "90% of each class") in text


def _fixed():
    labels = np.array([0, 1, 0, 1, 0])
    baseline, plsd = np.array([1, 1, 1, 0, 0]), np.array([0, 1, 0, 1, 1])
    positions = np.arange(10, dtype=np.float32).reshape(5, 2)
    return fixed_and_broken(labels, baseline, plsd, positions, positions + 1)


def test_png_data_uri_is_a_png_of_the_pixels():
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    raw = base64.b64decode(png_data_uri(pixels).removeprefix("data:image/png;base64,"))
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    idat = raw.index(b"IDAT")
    length = int.from_bytes(raw[idat - 4:idat], "big")
    rows = zlib.decompress(raw[idat + 4:idat + 4 + length])
    assert rows == b"".join(b"\x00" + row.tobytes() for row in pixels)
    with pytest.raises(ValueError, match="grey or"):
        png_data_uri(np.zeros((2, 2, 2)))


def test_gallery_counts_cards_and_thumbnails():
    images = np.random.default_rng(0).random((5, 8, 8)).astype(np.float32)
    text = gallery_html(_fixed(), images, ["a", "b"], ["#111111", "#222222"], (0, 12, 0, 12))
    assert 'data-fixed="3" data-broken="1"' in text and "(net +2)" in text
    assert re.findall(r'class="card" data-index="(\d+)"', text) == ["0", "2", "3", "4"]  # fixed 0, 2, 3; broken 4
    assert text.count('src="data:image/png;base64,') == 4
    assert "F1</b> #0 · label a<br>CE b · PLSD a" in text and "B1</b> #4 · label a<br>CE a · PLSD b" in text
    limited = gallery_html(_fixed(), None, ["a", "b"], ["#1", "#2"], (0, 12, 0, 12), limit=1)
    assert "Fixed by PLSD: 3 (showing 1 of 3)" in limited and "<img" not in limited


def test_write_report_with_figure_two_and_gallery_is_one_self_contained_file(tmp_path):
    splits = _splits()
    labels = splits[0].labels
    metrics = MetricsTable({"before": class_report(labels, labels, 2)}, ["a", "b"])
    fixed_one = fixed_and_broken(np.array([0]), np.array([1]), np.array([0]), np.zeros((1, 2)), np.ones((1, 2)))
    text = write_report(tmp_path / "r.html", before=splits[0].runs["before"], after=splits[0].runs["PLSD"],
                        labels=labels, class_names=["a", "b"], targets=splits[0].targets, metrics=metrics,
                        splits=splits, fixed=fixed_one, fixed_images=np.ones((1, 8, 8))).read_text()
    assert text.count('<figure class="panel"') == 6 and "<h2>Fixed by PLSD</h2>" in text
    assert re.findall(r'(?:src|href)="(?!data:)', text) == [] and "<script" not in text and "<link" not in text
    # the gallery's images are ringed and numbered on the test split's baseline and PLSD panels
    assert text.count(">F1</text>") == 2
