"""The demo: CLI argument checks, the confused pair it edits, and the headless demo (the README's main job).

The tutorials are executed once, by the documentation build (``tests/test_docs.py``), which
checks what each shows.
"""

import re

import pytest


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
