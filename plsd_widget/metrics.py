"""Per-class classification metrics, group averages, confusion matrices, comparison tables.

The tables compare runs ("before", "baseline (CE)", "PLSD") per class and per
user-defined *group* of classes (like the paper's "Cardiac" / "Other"), with deltas
against the first run; :class:`SeedTable` summarises repeated runs as mean ± sd (the
paper's Table 1). All render as text (``str``) and as HTML in notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from plsd_widget.tables import html_table, markdown_table, mean_sd, number, signed, text_table

METRICS = ("precision", "recall", "f1")


@dataclass(frozen=True)
class ClassReport:
    """Per-class precision, recall, F1 and support, each an array of shape (n_classes,).

    ``confusion`` is the confusion matrix of shape (n_classes, n_classes), rows the true
    class and columns the predicted one (None for a report built by hand).
    """

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    accuracy: float
    confusion: np.ndarray | None = None


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts of shape (n_classes, n_classes): ``[i, j]`` samples of class ``i`` predicted as ``j``."""
    y_true = np.asarray(y_true).astype(np.int64, copy=False)
    y_pred = np.asarray(y_pred).astype(np.int64, copy=False)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {y_true.shape} vs {y_pred.shape}")
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise ValueError(f"{name} must hold class indices in [0, {n_classes - 1}], "
                             f"found {arr.min()}..{arr.max()}; pass the right n_classes")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def class_report(y_true, y_pred, n_classes: int) -> ClassReport:
    """Per-class precision/recall/F1 (0 where a class is never predicted), accuracy and confusion."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {y_true.shape} vs {y_pred.shape}")
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(n_classes), zero_division=0
    )
    return ClassReport(p, r, f, s, float((y_true == y_pred).mean()) if y_true.size else float("nan"),
                       confusion_matrix(y_true, y_pred, n_classes))


# ------------------------------------------------------------------------ groups
def resolve_groups(groups, class_names) -> dict[str, np.ndarray]:
    """Class indices of each group, checked.

    Parameters
    ----------
    groups : dict of str to list, or None
        Group name to its classes, given by name (``"LVOT"``) or index. ``None`` as a
        group's value means every class not named in another group (e.g.
        ``{"Cardiac": ["LVOT", "RVOT"], "Other": None}``).
    class_names : list of str

    Returns
    -------
    dict of str to ndarray of int
        In the order given; empty when ``groups`` is None.
    """
    if groups is None:
        return {}
    if not isinstance(groups, dict):
        raise TypeError(f"groups must be a dict of group name to class names, e.g. "
                        f"{{'targeted': ['3', '5'], 'other': None}}, got {type(groups).__name__}")
    names = [str(c) for c in class_names]
    out: dict[str, np.ndarray | None] = {}
    for group, members in groups.items():
        if members is None:
            out[str(group)] = None
            continue
        if isinstance(members, (str, int, np.integer)):
            members = [members]
        codes = []
        for m in members:
            if isinstance(m, (int, np.integer)) and not isinstance(m, bool):
                if not 0 <= m < len(names):
                    raise ValueError(f"group {group!r}: class index {m} is out of range [0, {len(names) - 1}]")
                codes.append(int(m))
            elif str(m) in names:
                codes.append(names.index(str(m)))
            else:
                raise ValueError(f"group {group!r}: unknown class {m!r}; known classes: {names}")
        if not codes:
            raise ValueError(f"group {group!r} has no classes; name at least one")
        out[str(group)] = np.unique(codes)
    named = np.unique(np.concatenate([c for c in out.values() if c is not None] or [np.zeros(0, int)]))
    rest = np.setdiff1d(np.arange(len(names)), named)
    for group, codes in out.items():
        if codes is None:
            if rest.size == 0:
                raise ValueError(f"group {group!r} (None: every other class) is empty: the other groups "
                                 "name every class")
            out[group] = rest
    return out


def group_average(report: ClassReport, classes) -> dict[str, float]:
    """Support-weighted mean precision, recall and F1 over ``classes`` (sklearn's "weighted").

    Returns a dict with ``precision``, ``recall``, ``f1`` (NaN when the classes have no
    support) and ``support`` (their total).
    """
    classes = np.asarray(classes, dtype=np.int64)
    w = np.asarray(report.support, dtype=np.float64)[classes]
    total = w.sum()
    out = {m: float(np.dot(w, getattr(report, m)[classes]) / total) if total > 0 else float("nan")
           for m in METRICS}
    out["support"] = int(total)
    return out


class MetricsTable:
    """Per-class (and per-group) precision/recall/F1 of several runs, with F1 deltas against the first.

    Renders as text (``str``) and as HTML in notebooks.

    Parameters
    ----------
    reports : dict of str to ClassReport
        Runs in display order, e.g. ``{"before": ..., "baseline (CE)": ..., "PLSD": ...}``.
    class_names : list of str
    groups : dict of str to list, optional
        Groups of classes (see :func:`resolve_groups`) shown as extra rows with
        support-weighted averages, like the paper's "Cardiac" / "Other".
    """

    def __init__(self, reports: dict[str, ClassReport], class_names: list[str], groups=None):
        if not reports:
            raise ValueError("MetricsTable needs at least one report")
        self.reports = dict(reports)
        self.class_names = list(class_names)
        self.groups = resolve_groups(groups, self.class_names)

    def group_scores(self) -> dict[str, dict[str, dict[str, float]]]:
        """``{run: {group: {"precision", "recall", "f1", "support"}}}`` of the support-weighted averages."""
        return {run: {g: group_average(rep, codes) for g, codes in self.groups.items()}
                for run, rep in self.reports.items()}

    def rows(self) -> list[list[str]]:
        """Header plus one row per class, one per group and an accuracy row, as strings."""
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
                row += [number(rep.precision[c]), number(rep.recall[c]), number(rep.f1[c])]
                if i:
                    row.append(signed(rep.f1[c] - first.f1[c]))
            out.append(row)
        scores = self.group_scores()
        for g in self.groups:
            row = [f"{g} (weighted)", str(scores[names[0]][g]["support"])]
            for i, name in enumerate(names):
                s = scores[name][g]
                row += [number(s["precision"]), number(s["recall"]), number(s["f1"])]
                if i:
                    row.append(signed(s["f1"] - scores[names[0]][g]["f1"]))
            out.append(row)
        acc = ["accuracy", str(int(first.support.sum()))]
        for i, name in enumerate(names):
            rep = self.reports[name]
            acc += ["", "", number(rep.accuracy)] + ([signed(rep.accuracy - first.accuracy)] if i else [])
        out.append(acc)
        return out

    def _sections(self) -> set[int]:
        return {1 + len(self.class_names)} if self.groups else set()

    def __str__(self) -> str:
        return text_table(self.rows(), self._sections())

    __repr__ = __str__  # a console shows the table, a notebook its HTML

    def to_html(self) -> str:
        first_group = 1 + len(self.class_names)
        return html_table(self.rows(), "plsd-metrics", self._sections(),
                     set(range(first_group, first_group + len(self.groups))))

    def _repr_html_(self) -> str:
        return self.to_html()

    def confusion(self, run: str | None = None) -> "ConfusionTable":
        """The confusion matrix of ``run`` (default: the last one) as a renderable table."""
        run = list(self.reports)[-1] if run is None else run
        if run not in self.reports:
            raise ValueError(f"unknown run {run!r}; runs: {list(self.reports)}")
        if self.reports[run].confusion is None:
            raise ValueError(f"report {run!r} has no confusion matrix; build it with class_report")
        return ConfusionTable(self.reports[run].confusion, self.class_names, title=run)


class ConfusionTable:
    """A confusion matrix (rows: true class, columns: predicted) that renders as text and HTML."""

    def __init__(self, matrix, class_names, title: str = ""):
        self.matrix = np.asarray(matrix)
        self.class_names = [str(c) for c in class_names]
        if self.matrix.shape != (len(self.class_names),) * 2:
            raise ValueError(f"matrix must have shape ({len(self.class_names)}, {len(self.class_names)}), "
                             f"got {self.matrix.shape}")
        self.title = title

    def rows(self) -> list[list[str]]:
        head = [f"true \\ predicted{f' ({self.title})' if self.title else ''}"] + self.class_names
        return [head] + [[name] + [str(int(v)) for v in row] for name, row in zip(self.class_names, self.matrix)]

    def __str__(self) -> str:
        return text_table(self.rows())

    __repr__ = __str__

    def to_html(self) -> str:
        return html_table(self.rows(), "plsd-confusion")

    def _repr_html_(self) -> str:
        return self.to_html()


class SeedTable:
    """Group F1 over repeated runs (seeds) as mean ± sd, with deltas: the paper's Table 1.

    Parameters
    ----------
    runs : list of dict of str to ClassReport
        One dict per seed, each with the same run names in display order, e.g.
        ``[{"before": ..., "baseline (CE)": ..., "PLSD": ...}, ...]``.
    class_names : list of str
    groups : dict of str to list
        Groups of classes (see :func:`resolve_groups`).
    metric : {"f1", "precision", "recall"}, default="f1"
        Support-weighted group average shown.
    contrast : tuple of (str, str), optional
        Two run names ``(a, b)``: adds a column with ``a − b`` per seed (mean ± sd) and how
        many seeds had ``a > b``; e.g. ``("PLSD", "baseline (CE)")``.

    Notes
    -----
    The standard deviation is the sample one (``ddof=1``) over seeds; deltas are computed
    per seed, then summarised, so they are paired comparisons.
    """

    def __init__(self, runs, class_names, groups, *, metric="f1", contrast=None):
        runs = list(runs)
        if not runs:
            raise ValueError("SeedTable needs at least one seed's reports")
        names = list(runs[0])
        if any(list(r) != names for r in runs):
            raise ValueError(f"every seed must have the same runs in the same order, e.g. {names}")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if contrast is not None and (len(contrast) != 2 or any(c not in names for c in contrast)):
            raise ValueError(f"contrast must name two runs out of {names}, got {contrast!r}")
        self.class_names = list(class_names)
        self.groups = resolve_groups(groups, self.class_names)
        if not self.groups:
            raise ValueError("SeedTable needs groups, e.g. {'targeted': ['4', '9'], 'other': None}")
        self.runs, self.names, self.metric, self.contrast = runs, names, metric, contrast

    def values(self) -> dict[str, dict[str, np.ndarray]]:
        """``{group: {run: array of shape (n_seeds,)}}`` of the group averages."""
        return {g: {name: np.array([group_average(seed[name], codes)[self.metric] for seed in self.runs])
                    for name in self.names}
                for g, codes in self.groups.items()}

    def rows(self) -> list[list[str]]:
        m = {"f1": "F1", "precision": "P", "recall": "R"}[self.metric]
        first = self.names[0]
        header = ["group", "classes"]
        for i, name in enumerate(self.names):
            header += [f"{m} {name}"] + ([f"Δ{m} {name}"] if i else [])
        if self.contrast:
            header += [f"Δ{m} {self.contrast[0]} − {self.contrast[1]}", "seeds better"]
        out = [header]
        vals = self.values()
        for g, codes in self.groups.items():
            row = [g, ", ".join(self.class_names[c] for c in codes)]
            for i, name in enumerate(self.names):
                row.append(mean_sd(vals[g][name]))
                if i:
                    row.append(mean_sd(vals[g][name] - vals[g][first], with_sign=True))
            if self.contrast:
                diff = vals[g][self.contrast[0]] - vals[g][self.contrast[1]]
                row += [mean_sd(diff, with_sign=True), f"{int((diff > 0).sum())}/{diff.size}"]
            out.append(row)
        return out

    def __str__(self) -> str:
        return f"mean ± sd over {len(self.runs)} seed(s)\n" + text_table(self.rows())

    __repr__ = __str__

    def to_html(self) -> str:
        return (f"<p>mean ± sd over {len(self.runs)} seed(s)</p>" + html_table(self.rows(), "plsd-metrics"))

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown table (for RESULTS.md)."""
        return markdown_table(self.rows())
