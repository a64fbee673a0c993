"""Hostile files: edit logs, autosaves and saved embeddings that are cut short, tampered
with or from elsewhere. Each is refused with an error naming the file and the problem,
and nothing (edits, targets, the file itself) changes.
"""

import ast
import json
import pathlib
import time

import numpy as np
import pytest
import torch

PACKAGE_ROOT = pathlib.Path(__file__).resolve().parent.parent
N_TRAIN = 1347  # points in the digits' training split (the session fixture)


def _session(digits, model, embedding, n=None, **kwargs):
    from plsd_widget.session import Session

    train, _ = digits
    return Session(model, "latent", train.images[:n], train.labels[:n], embedding=embedding, **kwargs)


@pytest.fixture
def saved_log(session, tmp_path):
    """A session's three edits, as ``save_edits`` writes them; the session then keeps only the first."""
    session.shift("1", (1.0, 1.0))
    session.contract("3", 0.5)
    session.move_points(np.array([5, 6]), np.array([[0.0, 0.0], [1.0, 1.0]]))
    log = json.loads(session.save_edits(tmp_path / "saved.json").read_text())
    session.undo()
    session.undo()
    return log


def _edit(log, which, /, **changes):
    """``log`` with its edit of kind ``which`` changed (a key set to None is dropped)."""
    log = json.loads(json.dumps(log))
    item = next(e for e in log["edits"] if e["kind"] == which)
    item.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del item[key]
    return log


def _load_refused(session, path, message):
    """``load_edits(path)`` raises ``message`` and leaves the session's edits and the file as they were."""
    log_length, targets, content = len(session.edits.edits), session.targets.copy(), path.read_bytes()
    with pytest.raises(ValueError, match=rf"cannot restore the edits in .*{path.name}: .*{message}"):
        session.load_edits(path)
    assert len(session.edits.edits) == log_length
    np.testing.assert_array_equal(session.targets, targets)
    assert path.read_bytes() == content


@pytest.mark.parametrize("tamper, message", [
    (lambda log: [log], "it is not an edit log: expected a JSON object"),
    (lambda log: {"edits": log["edits"]}, "it is not an edit log"),
    (lambda log: {**log, "edits": "shift 3"}, "'edits' must be a list of edits, got str"),
    (lambda log: {**log, "edits": {"0": log["edits"][0]}}, "'edits' must be a list of edits, got dict"),
    (lambda log: {**log, "edits": [["shift", [1, 2]]]}, "edit 1 of 1: an edit must be a JSON object"),
    (lambda log: _edit(log, "shift", kind="rotate"), r"edit 1 of 3: unknown edit kind 'rotate'"),
    (lambda log: _edit(log, "shift", kind=None), "edit 1 of 3: unknown edit kind None"),
    (lambda log: _edit(log, "shift", indices="0,1,2"), "edit 1 of 3: indices must be a list of point indices"),
    (lambda log: _edit(log, "shift", indices={"from": 0}), "indices must be a list of point indices, got dict"),
    (lambda log: _edit(log, "shift", indices=None), "indices must be a list of point indices, got NoneType"),
    (lambda log: _edit(log, "shift", indices=[0, "1"]), "indices must be integers"),
    (lambda log: _edit(log, "shift", indices=[0, 1.5]), "indices must be integers"),
    (lambda log: _edit(log, "shift", indices=[[0, 1]]), "indices must be 1-D"),
    (lambda log: _edit(log, "shift", indices=[]), "the edit selects no points"),
    (lambda log: _edit(log, "contract", indices=[0, N_TRAIN]),
     rf"edit 2 of 3: indices must be in \[0, {N_TRAIN - 1}\]"),
    (lambda log: _edit(log, "contract", indices=[-5, 2]), r"indices must be in \[0, "),
    (lambda log: _edit(log, "contract", indices=[2**70]), "indices must be integers, got dtype object"),
    (lambda log: _edit(log, "contract", indices=[0] * (N_TRAIN + 1)),
     f"it lists {N_TRAIN + 1} indices, more than the embedding's {N_TRAIN} points"),
    (lambda log: _edit(log, "shift", delta={"x": 1, "y": 2}), "edit 1 of 3: delta must be numeric"),
    (lambda log: _edit(log, "shift", delta="1,2"), "delta must be numeric"),
    (lambda log: _edit(log, "shift", delta=[1.0]), r"delta must have shape \(2,\)"),
    (lambda log: _edit(log, "shift", delta=None), "a shift edit needs 'delta'"),
    (lambda log: _edit(log, "contract", kappa={"value": 0.5}), "edit 2 of 3: kappa must be numeric"),
    (lambda log: _edit(log, "contract", kappa=None), "a contract edit needs 'kappa'"),
    (lambda log: _edit(log, "contract", kappa=float("nan")), "kappa must be finite"),
    (lambda log: _edit(log, "move", targets=[[0.0, 0.0]]), r"edit 3 of 3: targets must have shape \(2, 2\)"),
    (lambda log: _edit(log, "move", targets=[[0, 0], [1e400, 1]]), "targets must be finite"),
    (lambda log: _edit(log, "move", indices=[5, 5]), "indices of a move must not repeat"),
    (lambda log: _edit(log, "move", label=7), "edit 3 of 3: label must be a string, got int"),
])
def test_a_tampered_edit_log_is_refused_and_changes_nothing(session, saved_log, tmp_path, tamper, message):
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(tamper(saved_log)))
    _load_refused(session, path, message)


def test_a_truncated_or_binary_edit_log_is_refused(session, saved_log, tmp_path):
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(saved_log)[:200])
    _load_refused(session, path, r"it is not valid JSON \(.*\); was the file cut short\?")
    path.write_bytes(b"\xff\xfe\x00garbage")
    _load_refused(session, path, "'utf-8' codec can't decode")
    path.write_text("")
    _load_refused(session, path, "it is not valid JSON")


def test_an_edit_log_file_too_big_to_be_one_is_refused_unread(session, tmp_path):
    from plsd_widget.edit_files import MAX_EDIT_FILE_BYTES

    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.truncate(MAX_EDIT_FILE_BYTES + 1)  # sparse: no disk used; reading it would take a GiB
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"huge\.json: it is 1\.0 GiB, more than an edit log can be \(1 GiB\)"):
        session.load_edits(path)
    assert time.perf_counter() - started < 1.0 and not session.edits.edits


def test_edits_of_another_embedding_name_both_fingerprints(digits, trained_cnn, fitted_embedding, session,
                                                            saved_log, tmp_path):
    other = _session(digits, trained_cnn, fitted_embedding, n=600)  # other data: another embedding
    other.shift("4", (0.5, 0.5))
    targets = other.targets.copy()
    assert other.fingerprint != session.fingerprint
    with pytest.raises(ValueError, match=rf"saved\.json: these edits were made on a different embedding "
                                         rf"\(fingerprint '{session.fingerprint}'; this one's is "
                                         rf"'{other.fingerprint}'\); load the embedding they were made with"):
        other.load_edits(tmp_path / "saved.json")
    assert len(other.edits.edits) == 1
    np.testing.assert_array_equal(other.targets, targets)


def test_a_corrupt_autosave_stops_the_session_and_is_kept(digits, trained_cnn, fitted_embedding, saved_log,
                                                          tmp_path):
    path = tmp_path / "autosave.json"
    path.write_text(json.dumps(saved_log)[:-40])  # the kernel died mid-write of a non-atomic copy
    content = path.read_bytes()
    with pytest.raises(ValueError, match=r"cannot restore the edits in .*autosave\.json: it is not valid JSON"
                                         r".*left as it is; move the file away to start afresh"):
        _session(digits, trained_cnn, fitted_embedding, autosave=path)
    assert path.read_bytes() == content

    path.write_text(json.dumps(saved_log))  # intact, but of another embedding
    with pytest.raises(ValueError, match="autosave.json: these edits were made on a different embedding"):
        _session(digits, trained_cnn, fitted_embedding, n=600, autosave=path)
    restored = _session(digits, trained_cnn, fitted_embedding, autosave=path)  # the one it belongs to
    assert len(restored.edits.edits) == 3


@pytest.mark.parametrize("notebook", ["../../escaped.ipynb", "..", "..\\..\\escaped.ipynb", "a/../../../b.ipynb",
                                      "/etc/cron.d/job.ipynb", "C:\\Users\\x\\..\\..\\y.ipynb", "é" * 300 + ".ipynb"])
def test_autosave_names_from_hostile_notebook_names_stay_in_the_folder(notebook, tmp_path, monkeypatch):
    from plsd_widget.edit_files import AUTOSAVE_DIR, autosave_path, notebook_name

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JPY_SESSION_NAME", notebook)
    path = autosave_path("0123456789abcdef", notebook_name())
    previous = path.with_name(path.stem + ".previous.json")
    assert path.parent == tmp_path / AUTOSAVE_DIR and path.resolve().parent == path.parent
    assert len(previous.name.encode()) <= 255 and path.name.endswith("-0123456789abcdef.json")
    path.parent.mkdir()
    path.write_text("{}")  # a legal file name on this system
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted([AUTOSAVE_DIR, path.name])


@pytest.mark.parametrize("corrupt", ['{"fingerprint": "abc", "edits": [{"kind": "shi', '["not", "a", "log"]'])
def test_a_corrupt_widget_autosave_is_moved_aside_and_never_overwritten(digits, trained_cnn, fitted_embedding,
                                                                         tmp_path, monkeypatch, corrupt):
    from plsd_widget.edit_files import autosave_path

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JPY_SESSION_NAME", "study.ipynb")
    session = _session(digits, trained_cnn, fitted_embedding)
    path = autosave_path(session.fingerprint, "study.ipynb")
    path.parent.mkdir()
    path.write_text(corrupt)
    view = session.widget()
    kept = path.with_name(path.stem + ".previous.json")
    assert view.error.startswith("could not read the earlier autosave") and str(kept) in view.error
    assert view.recoverable == "" and kept.read_text() == corrupt and not path.exists()
    session.shift("2", (1.0, 0.0))  # autosaves to a fresh file, not over the kept one
    assert kept.read_text() == corrupt
    assert len(json.loads(path.read_text())["edits"]) == 1


# ---- saved embeddings -------------------------------------------------------------
@pytest.fixture
def saved_embedding(fitted_embedding, tmp_path):
    """The shared embedding saved to ``tmp_path``: (weights path, config path, config)."""
    weights, config = fitted_embedding.save(tmp_path)
    return weights, config, json.loads(config.read_text())


def _load_refused_model(directory, files, message):
    from plsd_widget.embedding import ParametricTSNE

    contents = [f.read_bytes() for f in files]
    with pytest.raises(ValueError, match=message):
        ParametricTSNE.load(directory)
    assert [f.read_bytes() for f in files] == contents


def _config(config, **changes):
    """``config`` with entries (``"params.hidden"``: one level down) changed; None drops one."""
    config = json.loads(json.dumps(config))
    for key, value in changes.items():
        *parents, name = key.split(".")
        target = config
        for parent in parents:
            target = target[parent]
        if value is None:
            del target[name]
        else:
            target[name] = value
    return config


HUGE = 10**12


@pytest.mark.parametrize("tamper, message", [
    (lambda c: _config(c, **{"encoder.kind": "TransformerEncoder"}), "unknown encoder kind 'TransformerEncoder'"),
    (lambda c: _config(c, **{"encoder.kind": None}), "unknown encoder kind None"),
    (lambda c: _config(c, **{"encoder.hidden": "256,128"}), "hidden must be a list of positive layer widths"),
    (lambda c: _config(c, **{"encoder.hidden": [256.0, 128]}), "hidden must be a list of positive layer widths"),
    (lambda c: _config(c, **{"encoder.hidden": [256, -1]}), "hidden must be a list of positive layer widths"),
    (lambda c: _config(c, encoder={"kind": "LocalExpertsEncoder", "hidden": [300, 100], "n_experts": "12"}),
     "n_experts must be a positive integer, got '12'"),
    (lambda c: _config(c, encoder={"kind": "LocalExpertsEncoder", "hidden": [300, 100]}),
     "n_experts must be a positive integer, got None"),
    (lambda c: _config(c, encoder=[1, 2]), "the encoder's config must be a JSON object, got list"),
    (lambda c: [c], "expected a JSON object, got list"),
    (lambda c: _config(c, format="evil"), r"not a plsd_widget\.ParametricTSNE file of version <= 4"),
    (lambda c: _config(c, format_version="4"), "found 'plsd_widget.ParametricTSNE', version '4'"),
    (lambda c: _config(c, params=None), r"it lacks \['params'\]"),
    (lambda c: _config(c, n_features_in_=None, n_iter_=None), r"it lacks \['n_features_in_', 'n_iter_'\]"),
    (lambda c: _config(c, params="perplexity=30"), "params must be a JSON object, got str"),
    (lambda c: _config(c, **{"params.__class__": "os.system"}), r"unknown params \['__class__'\]"),
    (lambda c: _config(c, **{"params.perplexity": "thirty"}), "perplexity must be a number >= 1, got 'thirty'"),
    (lambda c: _config(c, **{"params.n_components": 0}), "n_components must be a positive integer, got 0"),
    (lambda c: _config(c, **{"params.batch_size": [4096]}), "batch_size must be a positive integer"),
    (lambda c: _config(c, **{"params.hidden": {"a": 1}}), "hidden must be None or a tuple of positive"),
    (lambda c: _config(c, **{"params.device": ["cpu"]}), r"unknown device \['cpu'\]"),
    (lambda c: _config(c, n_features_in_="64"), "n_features_in_ must be a positive integer, got '64'"),
    (lambda c: _config(c, n_iter_=-1), "n_iter_ must be an integer >= 0, got -1"),
    (lambda c: _config(c, kl_divergence_={"value": 1}), "kl_divergence_ must be a number or null"),
])
def test_a_tampered_embedding_config_is_refused(saved_embedding, tmp_path, tamper, message):
    weights, config, saved = saved_embedding
    config.write_text(json.dumps(tamper(saved)))
    _load_refused_model(tmp_path, (weights, config),
                        rf"parametric_tsne\.json is not a config written by ParametricTSNE\.save: .*{message}")


@pytest.mark.parametrize("tamper", [
    lambda c: _config(c, **{"encoder.hidden": [HUGE, 128]}),
    lambda c: _config(c, **{"encoder.hidden": [300, HUGE]}),
    lambda c: _config(c, n_features_in_=HUGE),
    lambda c: _config(c, **{"params.n_components": HUGE}),
])
def test_absurd_sizes_in_a_config_fail_fast_without_allocating(saved_embedding, tmp_path, tamper):
    weights, config, saved = saved_embedding
    config.write_text(json.dumps(tamper(saved)))
    started = time.perf_counter()
    _load_refused_model(tmp_path, (weights, config), rf"parametric_tsne\.safetensors does not fit .*parametric_tsne"
                                                     rf"\.json: \S+ has shape \([\d, ]*\), the config asks for "
                                                     rf"\([\d, ]*{HUGE}")
    assert time.perf_counter() - started < 10.0  # meta shapes only: a 10**12-wide layer is never allocated


def test_a_truncated_config_or_weights_file_is_refused(saved_embedding, tmp_path):
    weights, config, _ = saved_embedding
    text = config.read_text()
    config.write_text(text[: len(text) // 2])
    _load_refused_model(tmp_path, (weights, config), r"parametric_tsne\.json is not a config written by "
                                                     r"ParametricTSNE\.save: (Unterminated|Expecting)")
    config.write_text(text)
    data = weights.read_bytes()
    for cut in (len(data) - 100, 100, 3, 0):
        weights.write_bytes(data[:cut])
        _load_refused_model(tmp_path, (weights, config), r"parametric_tsne\.safetensors is not a readable "
                                                         r"safetensors file \(.*\); was it cut short\?")


@pytest.mark.parametrize("tamper, message", [
    (lambda t: {**t, "encoder.net.4.weight": t["encoder.net.4.weight"][:-1]},
     r"encoder\.net\.4\.weight has shape \(1, 100\), the config asks for \(2, 100\)"),
    (lambda t: {k: v for k, v in t.items() if k != "encoder.net.4.bias"},
     r"missing tensors \['encoder\.net\.4\.bias'\], unexpected tensors \[\]"),
    (lambda t: {**t, "encoder.extra": torch.zeros(3)},
     r"missing tensors \[\], unexpected tensors \['encoder\.extra'\]"),
    (lambda t: {k: v for k, v in t.items() if k != "embedding_"}, "it has no embedding_"),
    (lambda t: {**t, "embedding_": torch.zeros(len(t["embedding_"]), 3)},
     r"embedding_ has shape \(\d+, 3\), the config asks for \(\d+, 2\)"),
    (lambda t: {**t, "offsets_": t["offsets_"][:10]}, r"offsets_ has shape \(10, 2\)"),
    (lambda t: {**t, "X_fit_": torch.zeros(len(t["embedding_"]), 5)}, r"X_fit_ has shape \(\d+, 5\)"),
    (lambda t: {**t, "encoder.mean": t["encoder.mean"].long()}, r"encoder\.mean holds torch\.int64, not floating"),
    (lambda t: {**t, "encoder.scale": torch.tensor([float("nan")])}, r"encoder\.scale holds NaN or inf"),
])
def test_weights_that_disagree_with_the_config_are_refused(saved_embedding, tmp_path, tamper, message):
    from safetensors.torch import load_file, save_file

    weights, config, _ = saved_embedding
    save_file({k: v.contiguous() for k, v in tamper(load_file(str(weights))).items()}, str(weights))
    _load_refused_model(tmp_path, (weights, config), rf"parametric_tsne\.safetensors does not fit .*"
                                                     rf"parametric_tsne\.json: {message}")


def test_weights_of_another_encoder_kind_are_refused(saved_embedding, tmp_path):
    weights, config, saved = saved_embedding
    assert saved["encoder"] == {"kind": "TSNEEncoder", "hidden": [300, 100]}
    config.write_text(json.dumps(_config(saved, encoder={"kind": "LocalExpertsEncoder", "hidden": [300, 100],
                                                         "n_experts": 12})))
    _load_refused_model(tmp_path, (weights, config), r"missing tensors \['encoder\.centers', 'encoder\.gate\.bias', "
                                                     r".*unexpected tensors \['encoder\.net\.0\.bias', ")


# ---- no pickle anywhere ------------------------------------------------------------
def _unsafe_loads(source: str) -> list[str]:
    """Pickle imports, ``torch.load`` without ``weights_only=True`` and ``np.load`` without ``allow_pickle=False``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"line {node.lineno}: import {m}" for m in modules
                      if m.split(".")[0] in ("pickle", "cPickle", "dill", "joblib", "cloudpickle")]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load" \
                and isinstance(node.func.value, ast.Name):
            safe = {"torch": ("weights_only", True), "np": ("allow_pickle", False),
                    "numpy": ("allow_pickle", False)}.get(node.func.value.id)
            if safe and not any(k.arg == safe[0] and isinstance(k.value, ast.Constant) and k.value.value is safe[1]
                                for k in node.keywords):
                found.append(f"line {node.lineno}: {node.func.value.id}.load without {safe[0]}={safe[1]}")
    return found


def test_the_audit_finds_what_it_looks_for():
    bad = ("import pickle\nfrom joblib import load\nimport torch, numpy as np\ntorch.load('m.pt')\n"
           "torch.load('m.pt', weights_only=False)\nnp.load('a.npy')\ntorch.load('m.pt', weights_only=True)\n"
           "np.load('a.npy', allow_pickle=False)\n")
    assert _unsafe_loads(bad) == ["line 1: import pickle", "line 2: import joblib", "line 4: torch.load without "
                                  "weights_only=True", "line 5: torch.load without weights_only=True",
                                  "line 6: np.load without allow_pickle=False"]


def test_no_source_file_unpickles():
    files = [p for folder in ("plsd_widget", "benchmarks", "scripts", "tests")
             for p in sorted((PACKAGE_ROOT / folder).rglob("*.py"))]
    assert len(files) > 30
    found = {str(p.relative_to(PACKAGE_ROOT)): hits for p in files if (hits := _unsafe_loads(p.read_text()))}
    assert found == {}
