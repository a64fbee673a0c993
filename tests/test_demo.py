"""The demo: CLI argument checks, the confused pair it edits, and the headless demo (the README's main job)
and the quick-start notebook, executed for real."""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args, message", [(["--epochs", "0"], "--epochs: must be a positive integer"),
                                           (["--lam", "1.5"], "--lam: must be in [0.0, 1.0], got 1.5")])
def test_demo_rejects_bad_arguments_before_any_work(capsys, args, message):
    from plsd_widget.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["demo", "--headless", *args])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_demo_fine_tunes_with_its_own_recipe_unless_told(monkeypatch):
    import plsd_widget.cli as cli
    from plsd_widget.config import FinetuneConfig
    from plsd_widget.demo import DEMO_FINETUNE

    used = []
    monkeypatch.setattr(cli, "run_headless", lambda out, config, save_session: used.append(config) or 0)
    for args in ([], ["--epochs", "2"], ["--preset", "default"]):
        assert cli.main(["demo", "--headless", *args]) == 0
    assert used == [DEMO_FINETUNE, DEMO_FINETUNE.replace(epochs=2), FinetuneConfig.default()]
    assert DEMO_FINETUNE.epochs == 10 and DEMO_FINETUNE.replace(epochs=3) == FinetuneConfig.default()


def test_most_confused_pair_needs_a_confusion(session):
    import torch

    from plsd_widget.demo import most_confused_pair

    a, b = most_confused_pair(session)
    assert 0 <= a < b < len(session.class_names)
    with torch.no_grad():
        session.y = session.model(torch.from_numpy(session.x)).argmax(1).numpy()  # a classifier that is always right
    with pytest.raises(ValueError, match="confuses no two classes"):
        most_confused_pair(session)


@pytest.mark.slow
def test_headless_demo_prints_table_and_writes_report(tmp_path, capsys):
    from plsd_widget.cli import main

    out = tmp_path / "report.html"
    assert main(["demo", "--headless", "--out", str(out), "--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "F1 before" in printed and "F1 PLSD" in printed and "F1 baseline (CE)" in printed
    assert "kNN purity (k=10)" in printed and re.search(r"baseline \(CE\) +test +\d\.\d{3}", printed)
    assert re.search(r"Fixed by PLSD on the test split: \d+ image\(s\)", printed)
    html = out.read_text()
    # Figure 2: before / baseline (CE) / PLSD, train and test, with contours; the gallery
    assert html.count('<figure class="panel"') == 6 and html.count('class="contour"') >= 6
    assert "<h2>Fixed by PLSD</h2>" in html and "plsd-metrics" in html and "plsd-declutter" in html
    closed = re.search(r"the edited training points closed (\d+)% of their distance to the targets "
                       r"\((\d\.\d\d) → (\d\.\d\d) of the embedding's scale\)", html)
    assert closed and float(closed.group(3)) < float(closed.group(2))  # under the panels: how far the edit went
    assert "<script" not in html and re.findall(r'(?:src|href)="(?!data:)', html) == []


def _run_notebook(name, folder):
    """Execute ``notebooks/<name>`` in ``folder``; return it and its code cells' outputs, none an error."""
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    return nb, outputs


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path):
    nb, outputs = _run_notebook("01_quickstart.ipynb", tmp_path)
    widget_views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widget_views) == 1
    edited = next(c for c in nb.cells if "scripted_edit(session)" in c.source)
    printed = "".join(o.get("text", "") for o in edited.outputs)
    assert "into empty space" in printed  # the planner's edit, not one class dropped onto another
    assert "crowding warning: none, every target lies in empty space" in printed
    compared = next(c for c in nb.cells if "session.run_baseline(block=True)" in c.source)
    last = compared.outputs[-1]["data"]["text/html"]
    assert "F1 baseline (CE)" in last and "F1 PLSD" in last


@pytest.mark.slow
def test_parametric_tsne_notebook_runs(tmp_path):
    _, outputs = _run_notebook("03_parametric_tsne.ipynb", tmp_path)
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "TSNEEncoder" in printed and "LocalExpertsEncoder with 8 regions" in printed
    assert "gradient w.r.t. the input: (4, 64)" in printed
    assert sum(o.get("data", {}).get("text/html", "").count("<svg") for o in outputs) == 2


@pytest.mark.slow
def test_shortcut_notebook_runs_small(tmp_path, monkeypatch):
    monkeypatch.setenv("PLSD_SHORTCUT_PER_CLASS", "60")
    nb, outputs = _run_notebook("04_fix_a_shortcut.ipynb", tmp_path)
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "digit 4: " in printed and "strays moved" in printed and "oracle: unshifted" in printed
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "F1 baseline (CE)" in html and "F1 PLSD" in html and "kNN purity (k=10)" in html
    assert html.count("<svg") >= 2 + 6 + 1  # two embeddings, six marked 4s and at least one unmarked


@pytest.mark.slow
def test_look_inside_notebook_runs_small(tmp_path, monkeypatch):
    monkeypatch.setenv("PLSD_LOOK_PER_CLASS", "60")
    _, outputs = _run_notebook("05_look_inside.ipynb", tmp_path)
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert len(re.findall(r"precision@10 = [01]\.\d{3}", printed)) == 6
    fps, randomly = (float(v) for v in re.findall(r"closest pair (\d+\.\d+)", printed)[::2])
    assert fps > randomly  # furthest-point picks stay further apart than random ones
    assert len(re.findall(r"mean Spearman -?[01]\.\d{3}", printed)) == 2
    steps = re.search(r"each 4's move along 4s -> 9s, a small step along its map: \[([^\]]*)\]", printed)
    assert steps and all(float(v) > 0 for v in steps.group(1).split())  # the map's sign: toward the 9s
    assert re.search(r"digit 7: k = \d", printed) and "ARI against the mirrored half" in printed
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert html.count("<polyline") >= 1 and html.count("<figure") >= 9 + 20 + 16
    assert sum("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs) == 1
