"""Headless replay (issue 14): a saved session's edits fine-tuned again, outputs written whole or not at all.

Small on purpose (300 digits, a 20-epoch embedding, one fine-tuning epoch): the file runs
in well under a minute on two CPU cores. Every subprocess has a timeout and is killed
with its children (torchrun's workers too), so a hang fails the test instead of CI.
"""

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent
DATA = "tests.replay_data:tiny_digits"
MODEL = "plsd_widget.models:SmallCNN"


def run(args, timeout=120):
    """``python -m plsd_widget.cli ARGS`` from the repository root; its whole process group killed on timeout."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PLSD_WARM_UP": "0",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.Popen([sys.executable, "-m", "plsd_widget.cli", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"plsd-widget {' '.join(map(str, args))} did not finish in {timeout} s:\n{err[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def weights(path):
    return load_file(str(path))


def max_difference(a, b):
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A session on 300 digits with an edit of classes 3 and 8, saved once with its model and data named."""
    from plsd_widget.activations import extract_activations
    from plsd_widget.embedding import ParametricTSNE
    from plsd_widget.models import seeded_model, train_classifier
    from plsd_widget.session import Session
    from tests.replay_data import tiny_digits

    x, y, x_test, y_test = tiny_digits()
    model = train_classifier(seeded_model(), x, y, epochs=3, lr=3e-3).eval()
    tsne = ParametricTSNE(perplexity=10, n_epochs=20, random_state=0, device="cpu").fit(
        extract_activations(model, "latent", x))
    session = Session(model, "latent", x, y, x_test=x_test, y_test=y_test, embedding=tsne, device="cpu")
    session.contract(["3", "8"], 0.5)
    session.shift("8", (5.0, -3.0))
    folder = session.save(tmp_path_factory.mktemp("saved") / "session", model=MODEL, data=DATA)
    session.finetune(epochs=1, block=True)  # what the session itself makes of its edits, for comparison
    session.finetuned = {k: v.clone() for k, v in session.model.state_dict().items()}
    session.rollback(0)
    return folder, session


@pytest.fixture(scope="module")
def replayed(saved, tmp_path_factory):
    """The Python API's replay of the saved session: one epoch, with the baseline, on one process."""
    import plsd_widget

    folder, _ = saved
    return plsd_widget.replay(folder, epochs=1, out=tmp_path_factory.mktemp("api") / "out", device="cpu",
                              progress=False)


def test_replay_is_a_lazy_function_of_a_light_package():
    code = ("import sys, plsd_widget; assert 'torch' not in sys.modules; "
            "import plsd_widget.replaying as m; assert plsd_widget.replay is m.replay and callable(plsd_widget.replay)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


def test_replay_api_writes_weights_that_moved_the_edited_points(saved, replayed):
    from plsd_widget.activations import extract_activations
    from plsd_widget.config import FinetuneConfig
    from plsd_widget.models import SmallCNN
    from plsd_widget.replaying import OUTPUT_FILES

    folder, session = saved
    assert sorted(p.name for p in replayed.out.iterdir()) == sorted(OUTPUT_FILES) == sorted(replayed.files)
    state = weights(replayed.files["model.safetensors"])
    assert max_difference(state, weights(folder / "model.safetensors")) > 1e-4
    assert max_difference(state, session.finetuned) == 0  # the replay is the session's own fine-tuning
    model = SmallCNN()
    model.load_state_dict(state)
    metrics = json.loads(replayed.files["metrics.json"].read_text())
    assert metrics == replayed.metrics and metrics["fingerprint"] == session.fingerprint
    assert set(metrics["runs"]) == {"before", "PLSD", "baseline (CE)"} and len(metrics["runs"]["PLSD"]["f1"]) == 10
    assert metrics["config"]["epochs"] == 1 and metrics["nproc"] == 1
    assert FinetuneConfig.from_json(replayed.files["config.json"].read_text()) == replayed.config \
        == FinetuneConfig.default().replace(epochs=1)
    history = json.loads(replayed.files["history.json"].read_text())
    assert len(history) == 1 and {"loss", "ce", "emb"} <= history[0].keys()
    assert json.loads(replayed.files["edits.json"].read_text()) == json.loads((folder / "edits.json").read_text())
    assert "<html" in replayed.files["report.html"].read_text().lower()
    targets = session.targets
    edited = np.isfinite(targets).all(axis=1)
    after = session.embedding.encode(extract_activations(model.eval(), "latent", session.x)) + session.offsets
    before_d = np.linalg.norm(session.edits.positions[edited] - targets[edited], axis=1).mean()
    after_d = np.linalg.norm(after[edited] - targets[edited], axis=1).mean()
    assert after_d < 0.9 * before_d, (before_d, after_d)


def test_cli_in_process_refuses_existing_out_and_bad_inputs(saved, tmp_path, capsys, monkeypatch):
    from plsd_widget.cli import main

    def no_umask(_mask):
        raise AssertionError("os.umask changes the permissions of every file the process makes meanwhile")

    folder, _ = saved
    out = tmp_path / "out"
    common = ["--epochs", "1", "--no-baseline", "--device", "cpu", "--quiet"]
    monkeypatch.setattr(os, "umask", no_umask)
    assert main(["replay", str(folder), *common, "--out", str(out)]) == 0
    (tmp_path / "plain").mkdir()  # what any new folder of this process gets
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    (tmp_path / "plain").rmdir()
    written = weights(out / "model.safetensors")
    assert main(["replay", str(folder), *common, "--out", str(out)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert max_difference(weights(out / "model.safetensors"), written) == 0
    assert main(["replay", str(folder), *common, "--out", str(out), "--force"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left beside it
    assert main(["replay", str(folder), *common, "--out", str(tmp_path / "o1"), "--nproc", "2",
                 "--device", "meta"]) == 2
    assert "runs on 'cpu' (gloo) or 'cuda' (NCCL), not 'meta'" in capsys.readouterr().err

    bad = tmp_path / "bad"
    bad.mkdir()
    for text, message in (('{"fingerprint": "x", "edits": [', "cannot replay"),
                          ('{"fingerprint": "x"}', "not an edit log"),
                          ('{"fingerprint": "x", "edits": []}', "holds no edit")):
        (bad / "edits.json").write_text(text)
        assert main(["replay", str(bad / "edits.json"), "--embedding", str(folder / "embedding"),
                     *common, "--out", str(tmp_path / "o2")]) == 2
        assert message in capsys.readouterr().err and not (tmp_path / "o2").exists()

    wrong = json.loads((folder / "edits.json").read_text()) | {"fingerprint": "0123456789abcdef"}
    (bad / "edits.json").write_text(json.dumps(wrong))
    assert main(["replay", str(bad / "edits.json"), "--embedding", str(folder / "embedding"), "--weights",
                 str(folder / "model.safetensors"), "--data", DATA, *common, "--out", str(tmp_path / "o3")]) == 2
    assert "fingerprint mismatch" in capsys.readouterr().err and not (tmp_path / "o3").exists()


def test_cli_reads_a_config_file_and_overrides_its_fields(saved, tmp_path):
    from plsd_widget.cli import main
    from plsd_widget.config import FinetuneConfig

    folder, _ = saved
    path = tmp_path / "paper.json"
    path.write_text(FinetuneConfig.paper().replace(epochs=1).to_json())
    assert main(["replay", str(folder), "--config", str(path), "--batch-size", "150", "--no-baseline",
                 "--device", "cpu", "--quiet", "--out", str(tmp_path / "out")]) == 0
    expected = FinetuneConfig.paper().replace(epochs=1, batch_size=150)
    assert FinetuneConfig.from_json((tmp_path / "out" / "config.json").read_text()) == expected
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["config"] == expected.to_dict() and list(metrics["runs"]) == ["before", "PLSD"]


def test_a_config_that_json_cannot_hold_is_refused_before_any_work(saved, tmp_path):
    import plsd_widget
    from plsd_widget.replaying import ReplayError

    folder, _ = saved
    with pytest.raises(ReplayError, match="records its fine-tuning config as JSON: transform is a callable"):
        plsd_widget.replay(folder, transform=lambda x: x, out=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_fingerprint_mismatch_exits_2_in_a_subprocess_and_writes_nothing(saved, tmp_path):
    """Other start weights (the untrained CNN) do not give the positions the edits were made on."""
    from safetensors.torch import save_file

    from plsd_widget.models import seeded_model

    folder, _ = saved
    other = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in seeded_model(random_state=1).state_dict().items()}, str(other))
    result = run(["replay", folder, "--weights", other, "--epochs", "1", "--device", "cpu",
                  "--out", tmp_path / "out"])
    assert result.returncode == 2, result.stderr[-2000:]
    assert "fingerprint mismatch" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_console_subprocess_replays_the_folder_like_the_api(saved, replayed, tmp_path):
    folder, _ = saved
    result = run(["replay", folder, "--epochs", "1", "--no-baseline", "--device", "cpu", "--out", tmp_path / "out"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fingerprint" in result.stderr and (tmp_path / "out" / "report.html").is_file()
    # the same seeds, data and settings: the API run's weights, up to float summation order
    # (the subprocess runs one thread, this process as many as torch likes: 1e-7 apart)
    assert max_difference(weights(tmp_path / "out" / "model.safetensors"),
                          weights(replayed.files["model.safetensors"])) < 1e-6


def test_two_gloo_processes_match_one_process(saved, replayed, tmp_path):
    from plsd_widget.replaying import DDP_TOLERANCE

    folder, _ = saved
    result = run(["replay", folder, "--epochs", "1", "--no-baseline", "--device", "cpu", "--nproc", "2",
                  "--quiet", "--out", tmp_path / "out"], timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["nproc"] == 2 and metrics["config"] == replayed.metrics["config"]  # the workers read it
    difference = max_difference(weights(tmp_path / "out" / "model.safetensors"),
                                weights(replayed.files["model.safetensors"]))
    assert difference <= DDP_TOLERANCE, difference
    history = json.loads((tmp_path / "out" / "history.json").read_text())
    np.testing.assert_allclose([h["loss"] for h in history], [h["loss"] for h in replayed.history], rtol=1e-5)


def test_demo_saves_a_session_only_headless(tmp_path, capsys):
    from plsd_widget.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["demo", "--save-session", str(tmp_path / "s")])
    assert exc.value.code == 2 and "--save-session needs --headless" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_cli_refuses_an_unreadable_config_file_with_exit_2_and_writes_nothing(saved, tmp_path, capsys):
    from plsd_widget.cli import main

    folder, _ = saved
    for text, message in (("{", "cannot read the fine-tuning config"), ('{"format": "x"}', "not a fine-tuning config")):
        path = tmp_path / "bad.json"
        path.write_text(text)
        with pytest.raises(SystemExit) as exit_info:
            main(["replay", str(folder), "--config", str(path), "--out", str(tmp_path / "out")])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["replay", str(folder), "--config", str(tmp_path / "missing.json"), "--out", str(tmp_path / "out")])
    assert "missing.json" in capsys.readouterr().err and not (tmp_path / "out").exists()
