"""The one progress-bar maker, and the epoch bar that follows a session's runs."""

import io

from plsd_widget.progress import epoch_progress, progress_bar
from plsd_widget.session.events import Events


class _Session:
    """What epoch_progress reads of a session: its history and its events."""

    def __init__(self):
        self.history = [{"epoch": 1, "loss": 9.0, "ce": 9.0, "emb": 0.0}]  # an earlier run's epoch
        self.events = Events()
        self.on, self.off = self.events.on, self.events.off


def test_a_bar_draws_to_its_file_and_a_disabled_one_draws_nothing():
    shown, hidden = io.StringIO(), io.StringIO()
    with progress_bar(3, desc="shown", file=shown) as bar, progress_bar(3, enabled=False, file=hidden) as off:
        bar.update(2)
        off.update(2)
    assert "shown" in shown.getvalue() and "2/3" in shown.getvalue() and hidden.getvalue() == ""


def test_the_epoch_bar_counts_the_epochs_completed_in_its_block_and_then_stops_listening():
    session = _Session()
    with epoch_progress(session, 2, desc="test", file=io.StringIO()) as bar:
        session.events.emit("status", message="training: 0/2 epochs", training=True)  # no epoch yet
        assert bar.n == 0
        for epoch in (2, 3):
            session.history.append({"epoch": epoch, "loss": 0.5, "ce": 0.25, "emb": 0.25})
            session.events.emit("status", message=f"training: {epoch - 1}/2 epochs", training=True)
        assert bar.n == 2 and bar.postfix == "loss=0.5000, ce=0.2500, emb=0.2500"
    assert session.events._listeners["status"] == []
