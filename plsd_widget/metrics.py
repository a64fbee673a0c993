"""Per-class classification metrics and a before / baseline / PLSD comparison table."""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import precision_recall_fscore_support


@dataclass(frozen=True)
class ClassReport:
    """Per-class precision, recall, F1 and support, each an array of shape (n_classes,)."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    accuracy: float


def class_report(y_true, y_pred, n_classes: int) -> ClassReport:
    """Per-class precision/recall/F1 (0 where a class is never predicted) and accuracy."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {y_true.shape} vs {y_pred.shape}")
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(n_classes), zero_division=0
    )
    return ClassReport(p, r, f, s, float((y_true == y_pred).mean()) if y_true.size else float("nan"))


def _signed(value: float) -> str:
    """``value`` with an explicit sign and 3 decimals; a change that rounds to 0 reads "+0.000"."""
    return f"{round(value, 3) + 0.0:+.3f}"  # + 0.0 turns -0.0 into 0.0


class MetricsTable:
    """Per-class F1 (and precision/recall) of several runs, with deltas against the first.

    Renders as text (``str``) and as HTML in notebooks.

    Parameters
    ----------
    reports : dict of str to ClassReport
        Runs in display order, e.g. ``{"before": ..., "baseline (CE)": ..., "PLSD": ...}``.
    class_names : list of str
    """

    def __init__(self, reports: dict[str, ClassReport], class_names: list[str]):
        if not reports:
            raise ValueError("MetricsTable needs at least one report")
        self.reports = dict(reports)
        self.class_names = list(class_names)

    def rows(self) -> list[list[str]]:
        """Header plus one row per class and an accuracy row, as strings."""
        names = list(self.reports)
        first = self.reports[names[0]]
        header = ["class", "support"]
        for i, name in enumerate(names):
            header += [f"P {name}", f"R {name}", f"F1 {name}"] + ([f"ΔF1 {name}"] if i else [])
        out = [header]
        for c, cname in enumerate(self.class_names):
            row = [cname, str(int(first.support[c]))]
            for i, name in enumerate(names):
                rep = self.reports[name]
                row += [f"{rep.precision[c]:.3f}", f"{rep.recall[c]:.3f}", f"{rep.f1[c]:.3f}"]
                if i:
                    row.append(_signed(rep.f1[c] - first.f1[c]))
            out.append(row)
        acc = ["accuracy", str(int(first.support.sum()))]
        for i, name in enumerate(names):
            rep = self.reports[name]
            acc += ["", "", f"{rep.accuracy:.3f}"] + ([_signed(rep.accuracy - first.accuracy)] if i else [])
        out.append(acc)
        return out

    def __str__(self) -> str:
        rows = self.rows()
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in rows)

    def to_html(self) -> str:
        rows = self.rows()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
        body = []
        for r in rows[1:]:
            cells = []
            for h, c in zip(rows[0], r):
                style = ""
                if h.startswith("Δ") and c:
                    value = float(c)
                    style = ' style="color:#1a7f37"' if value > 0 else (' style="color:#cf222e"' if value < 0 else "")
                cells.append(f"<td{style}>{html.escape(c)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return (
            '<table class="plsd-metrics"><thead><tr>' + head + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()
