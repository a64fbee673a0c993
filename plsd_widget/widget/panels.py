"""bqplot panels beside the scatter: the two loss terms while training, and per-class F1.

The paper's advice is to watch both terms of Eq. 3: the cross-entropy should not climb
while the embedding term falls.
"""

from __future__ import annotations

import threading
import time

import bqplot as bq
import ipywidgets as ipw
import numpy as np

REFRESH_S = 0.5  # redraw the loss curves at most this often; every epoch end is drawn
SERIES_COLORS = {"before": "#bab0ac", "baseline (CE)": "#4e79a7", "PLSD": "#e15759"}


def _figure(marks, x_scale, y_scale, title, x_label, y_label, **kwargs) -> bq.Figure:
    axes = [bq.Axis(scale=x_scale, label=x_label), bq.Axis(scale=y_scale, side="left", label=y_label)]
    return bq.Figure(marks=marks, axes=axes, title=title, legend_location="top-right",
                     fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 10},
                     layout=ipw.Layout(width="420px", height="260px"), **kwargs)


class LossPanel:
    """Per-batch cross-entropy and embedding term of every fine-tuning run, on one step axis.

    Parameters
    ----------
    session : Session
    """

    def __init__(self, session):
        x = bq.LinearScale()
        y = bq.LinearScale(min=0.0)
        self.lines = bq.Lines(x=[], y=[[], []], scales={"x": x, "y": y}, colors=["#4e79a7", "#f28e2b"],
                              labels=["cross-entropy", "embedding term"], display_legend=True)
        self.figure = _figure([self.lines], x, y, "Loss terms", "batch", "loss")
        self._steps, self._ce, self._emb = [], [], []
        self._lock = threading.Lock()
        self._drawn = 0.0
        session.on("progress", self._on_progress)

    def _on_progress(self, **logs) -> None:
        with self._lock:
            self._steps.append(len(self._steps) + 1)
            self._ce.append(float(logs["ce"]))
            self._emb.append(float(logs["emb"]))
            now = time.monotonic()
            if logs["batch"] == logs["n_batches"] or now - self._drawn >= REFRESH_S:
                self._drawn = now
                with self.lines.hold_sync():
                    self.lines.x = np.asarray(self._steps)
                    self.lines.y = np.asarray([self._ce, self._emb])


class F1Panel:
    """Per-class F1 on the held-out split: before, the CE baseline (if run) and now.

    Parameters
    ----------
    session : Session
    """

    def __init__(self, session):
        self.session = session
        x = bq.OrdinalScale()
        y = bq.LinearScale(min=0.0, max=1.0)
        self.bars = bq.Bars(x=list(session.class_names), y=[[0.0] * len(session.class_names)],
                            scales={"x": x, "y": y}, type="grouped", display_legend=True)
        self.figure = _figure([self.bars], x, y, "F1 per class", "class", "F1")
        self.update()
        session.on("metrics", lambda **_: self.update())

    def update(self) -> None:
        """Redraw from the session's reports."""
        reports = dict(self.session.reports)
        names = [k for k in ("before", "baseline (CE)", "PLSD") if k in reports]
        with self.bars.hold_sync():
            self.bars.y = np.asarray([reports[k].f1 for k in names])
            self.bars.labels = names
            self.bars.colors = [SERIES_COLORS[k] for k in names]


def dashboard(session) -> ipw.VBox:
    """The scatter widget above the loss and F1 panels, all live."""
    return ipw.VBox([session.widget(), ipw.HBox([LossPanel(session).figure, F1Panel(session).figure])])
