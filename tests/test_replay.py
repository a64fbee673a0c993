"""Headless replay (issue 14): a saved session's edits fine-tuned again, outputs written whole or not at all."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def saved(tmp_path_factory, digits, trained_cnn_state):
    """A session on the digits with a small embedding and an edit of classes 3 and 8, saved once."""
    from plsd_widget.activations import extract_activations
    from plsd_widget.embedding import ParametricTSNE
    from plsd_widget.models import SmallCNN
    from plsd_widget.session import Session

    train, test = digits
    model = SmallCNN()
    model.load_state_dict(trained_cnn_state)
    H = extract_activations(model.eval(), "latent", train.images)
    tsne = ParametricTSNE(perplexity=30, n_epochs=60, random_state=0).fit(H)
    session = Session(model, "latent", train.images, train.labels, x_test=test.images, y_test=test.labels,
                      class_names=train.class_names, embedding=tsne)
    session.contract(["3", "8"], 0.5)
    session.shift("8", (5.0, -3.0))
    folder = session.save(tmp_path_factory.mktemp("saved") / "session", model="plsd_widget.models:SmallCNN",
                          data="plsd_widget.datasets:load_digits_split")
    return folder, session


def test_replay_api_writes_weights_that_moved_the_edited_points(saved, tmp_path, trained_cnn_state):
    from plsd_widget.activations import extract_activations
    from plsd_widget.models import SmallCNN
    import plsd_widget

    folder, session = saved
    result = plsd_widget.replay(folder, epochs=2, out=tmp_path / "out", progress=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(result.files)
    model = SmallCNN()
    model.load_state_dict(load_file(result.files["model.safetensors"]))
    assert any(not torch.equal(v, trained_cnn_state[k]) for k, v in model.state_dict().items())
    metrics = json.loads(result.files["metrics.json"].read_text())
    assert set(metrics["runs"]) == {"before", "PLSD", "baseline (CE)"} and len(metrics["runs"]["PLSD"]["f1"]) == 10
    assert len(json.loads(result.files["history.json"].read_text())) == 2
    targets = session.targets
    edited = np.isfinite(targets).all(axis=1)
    after = session.embedding.encode(extract_activations(model.eval(), "latent", session.x)) + session.offsets
    before_d = np.linalg.norm(session.edits.positions[edited] - targets[edited], axis=1).mean()
    after_d = np.linalg.norm(after[edited] - targets[edited], axis=1).mean()
    assert after_d < 0.8 * before_d


def test_cli_in_process_refuses_existing_out_and_bad_inputs(saved, tmp_path, capsys):
    from plsd_widget.cli import main

    folder, _ = saved
    out = tmp_path / "out"
    assert main(["replay", str(folder), "--epochs", "1", "--no-baseline", "--out", str(out), "--quiet"]) == 0
    assert main(["replay", str(folder), "--epochs", "1", "--out", str(out), "--quiet"]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "edits.json").write_text('{"fingerprint": "x", "edits": [')
    assert main(["replay", str(bad / "edits.json"), "--embedding", str(folder / "embedding"),
                 "--out", str(tmp_path / "o2"), "--quiet"]) == 2
    assert "cannot replay" in capsys.readouterr().err and not (tmp_path / "o2").exists()
    wrong = json.loads((folder / "edits.json").read_text()) | {"fingerprint": "0123456789abcdef"}
    (bad / "edits.json").write_text(json.dumps(wrong))
    assert main(["replay", str(bad / "edits.json"), "--embedding", str(folder / "embedding"),
                 "--weights", str(folder / "model.safetensors"), "--out", str(tmp_path / "o3"), "--quiet"]) == 2
    assert "fingerprint mismatch" in capsys.readouterr().err and not (tmp_path / "o3").exists()


def test_console_subprocess_replays_the_folder(saved, tmp_path):
    folder, _ = saved
    run = subprocess.run([sys.executable, "-m", "plsd_widget.cli", "replay", str(folder), "--epochs", "1",
                          "--no-baseline", "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "fingerprint" in run.stderr and (tmp_path / "out" / "report.html").is_file()
