"""The widget's Figure 2: the "show" choice, the baseline button, the "fixed by PLSD" gallery packet."""

import numpy as np
import pytest

from plsd_widget.fixed_by import fixed_and_broken
from plsd_widget.widget.binary import array_to_bytes, bytes_to_array
from plsd_widget.widget.gallery import decode_gallery, encode_gallery
from plsd_widget.widget.messages import handle


@pytest.fixture(autouse=True)
def in_tmp_dir(tmp_path, monkeypatch):
    """Widgets autosave edits in the working directory: keep each test's to itself."""
    monkeypatch.chdir(tmp_path)


def test_gallery_packet_layout_matches_the_view():
    # The same bytes js/gallery.test.js decodes: #5 fixed (of 3), #9 broken, 2x2 grey thumbnails.
    packet = [1, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 9, 0, 0, 0,
              0, 0, 0, 63, 0, 0, 0, 192, 0, 0, 128, 63, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 191,
              0, 0, 0, 63, 3, 0, 1, 0, 2, 0, 1, 0, 3, 0, 4, 0, 0, 64, 128, 255, 1, 2, 3, 4]
    labels = np.array([3, 3, 3, 1, 1, 3, 0, 0, 0, 1])
    baseline, plsd = labels.copy(), labels.copy()
    baseline[[5, 6, 7]] = 2  # wrong under the baseline, right under PLSD: fixed (the first one sent)
    plsd[9] = 4  # right under the baseline, wrong under PLSD: broken
    base_pos, plsd_pos = np.zeros((10, 2), np.float32), np.zeros((10, 2), np.float32)
    base_pos[5], base_pos[9], plsd_pos[5], plsd_pos[9] = (0.5, -2), (1, 0), (2, 3), (-1, 0.5)
    result = fixed_and_broken(labels, baseline, plsd, base_pos, plsd_pos)
    atlas = np.zeros((10, 4), np.uint8)
    atlas[5], atlas[9] = (0, 64, 128, 255), (1, 2, 3, 4)
    assert encode_gallery(result, atlas.tobytes(), 2, 1, limit=1) == bytes(packet)
    decoded = decode_gallery(memoryview(bytes(packet)))
    assert (decoded.n_fixed, decoded.n_broken, decoded.kinds) == (3, 1, ["fixed", "broken"])
    assert decoded.indices.tolist() == [5, 9] and decoded.plsd_positions.tolist() == [[2, 3], [-1, 0.5]]
    assert decoded.thumbnails.reshape(2, 4).tolist() == [[0, 64, 128, 255], [1, 2, 3, 4]]
    assert decode_gallery(b"") is None
    with pytest.raises(ValueError, match="needs 84 bytes, got 83"):
        decode_gallery(bytes(packet[:-1]))
    without = decode_gallery(encode_gallery(result, None, 0, 0))  # not images: no thumbnails
    assert without.thumbnails.size == 0 and without.indices.tolist() == [5, 6, 7, 9]


def test_show_before_baseline_and_current_swap_the_positions_and_the_gallery_fills(session):
    widget = session.widget()
    assert (widget.show, widget.has_baseline, widget.gallery) == ("current", False, b"")
    widget.set_state({"show": "baseline"})  # as the view writes it: refused until the baseline ran
    assert "run it first" in widget.error and widget.show == "current"
    session.shift("3", (2.0, 0.0))
    session.finetune(epochs=1, block=True)
    handle(widget, {"type": "run_baseline"}, [])  # the gallery's button
    assert session.wait(timeout=300) and session.last_error is None
    assert widget.has_baseline and widget.gallery_split == "test"
    fixed = session.fixed_by_plsd()
    gallery = decode_gallery(widget.gallery)
    assert (gallery.n_fixed, gallery.n_broken) == (len(fixed.fixed), len(fixed.broken))
    assert gallery.indices.tolist() == [*fixed.fixed.indices, *fixed.broken.indices][:len(gallery.indices)]

    def shown():
        return bytes_to_array(widget.positions, np.float32, "positions").reshape(-1, 2)

    current, contours = shown(), widget.contours
    widget.set_state({"show": "baseline"})
    assert widget.error == "" and widget.show == "baseline"
    np.testing.assert_array_equal(shown(), session.baseline_snapshot.positions)
    assert widget.contours != contours  # the contours follow the positions shown
    assert widget.predictions == array_to_bytes(session.baseline_snapshot.predictions, widget.label_dtype)
    with pytest.raises(ValueError, match="switch show back to 'PLSD \\(current\\)'"):
        widget.check_editing()  # read-only: the edits belong to the current positions
    widget.split = "test"
    np.testing.assert_array_equal(shown(), session.baseline_snapshot.test_positions)
    widget.set_state({"show": "before"})
    np.testing.assert_array_equal(shown(), session.start_snapshot.test_positions)
    widget.split, widget.show = "train", "current"
    np.testing.assert_array_equal(shown(), current)
    widget.check_editing()

    widget.show = "baseline"
    session.rollback(0)  # the baseline no longer has as many epochs as PLSD: back to the current positions
    assert (widget.has_baseline, widget.gallery, widget.show) == (False, b"", "current")
    handle(widget, {"type": "run_baseline"}, [])
    assert "run finetune() first" in widget.error
