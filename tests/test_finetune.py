import threading

import numpy as np
import pytest
import torch
from torch import nn

from plsd_widget.activations import extract_activations
from plsd_widget.finetune import PLSDTrainer, plsd_loss


@pytest.fixture
def encoder():
    """A fixed random linear map 32 -> 2 as the frozen lens E (any frozen module works)."""
    gen = torch.Generator().manual_seed(1)
    enc = nn.Linear(32, 2)
    with torch.no_grad():
        enc.weight.copy_(torch.randn(2, 32, generator=gen) * 0.3)
        enc.bias.zero_()
    return enc.requires_grad_(False)


@pytest.fixture
def data(digits):
    train, _ = digits
    return train.images[:512], train.labels[:512]


def _embedded(model, encoder, x):
    with torch.no_grad():
        return encoder(torch.from_numpy(extract_activations(model, "latent", x))).numpy()


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_plsd_loss_terms():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1])
    emb = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    tgt = torch.tensor([[0.0, 3.0], [float("nan"), float("nan")]])
    mask = torch.tensor([True, False])
    total, ce, em = plsd_loss(logits, labels, emb, tgt, mask, 0.25)
    assert em.item() == pytest.approx(5.0)  # 1^2 + 2^2, NaN row ignored
    assert ce.item() == pytest.approx(nn.functional.cross_entropy(logits, labels).item())
    assert total.item() == pytest.approx(0.75 * ce.item() + 0.25 * 5.0)
    _, _, scaled = plsd_loss(logits, labels, emb, tgt, mask, 0.25, scale=2.0)
    assert scaled.item() == pytest.approx(5.0 / 4)
    _, _, none = plsd_loss(logits, labels, emb, tgt, torch.tensor([False, False]), 0.5)
    assert none.item() == 0.0


def test_edited_points_move_toward_targets(trained_cnn, encoder, data):
    x, y = data
    start = _embedded(trained_cnn, encoder, x)
    targets = np.full_like(start, np.nan)
    edited = np.flatnonzero(y == 3)
    targets[edited] = start[edited] + [2.0, -2.0]
    scale = float(np.sqrt(((start - start.mean(0)) ** 2).sum(1).mean()))
    trainer = PLSDTrainer(trained_cnn, "latent", encoder, lam=0.5, lr=0.01, scale=scale, device="cpu")
    result = trainer.fit(x, y, targets, epochs=3)
    after = _embedded(trained_cnn, encoder, x)
    before_dist = np.linalg.norm(start[edited] - targets[edited], axis=1).mean()
    after_dist = np.linalg.norm(after[edited] - targets[edited], axis=1).mean()
    assert result.epochs_completed == 3 and not result.stopped
    assert after_dist < 0.5 * before_dist
    assert [h["emb"] for h in result.history] == sorted([h["emb"] for h in result.history], reverse=True)


def test_all_points_mode_holds_unedited_points(trained_cnn_state, encoder, data):
    from plsd_widget.models import SmallCNN

    x, y = data
    drift = {}
    for edited_only in (True, False):
        model = SmallCNN()
        model.load_state_dict(trained_cnn_state)
        start = _embedded(model, encoder, x)
        targets = np.full_like(start, np.nan)
        targets[y == 3] = start[y == 3] + [2.0, -2.0]
        scale = float(np.sqrt(((start - start.mean(0)) ** 2).sum(1).mean()))
        PLSDTrainer(model, "latent", encoder, lam=0.5, edited_only=edited_only, scale=scale, device="cpu").fit(
            x, y, targets, epochs=2, positions=start
        )
        drift[edited_only] = np.linalg.norm(_embedded(model, encoder, x)[y != 3] - start[y != 3], axis=1).mean()
    assert drift[False] < 0.7 * drift[True]


def test_deterministic_on_cpu(trained_cnn_state, encoder, data):
    from plsd_widget.models import SmallCNN

    x, y = data
    targets = np.full((len(y), 2), np.nan, np.float32)
    targets[:50] = 1.0
    states = []
    for _ in range(2):
        model = SmallCNN()
        model.load_state_dict(trained_cnn_state)
        PLSDTrainer(model, "latent", encoder, random_state=3, device="cpu").fit(x, y, targets, epochs=1)
        states.append(_state(model))
    assert _same(*states)


def test_stop_mid_epoch_keeps_last_completed_epoch(trained_cnn, encoder, data):
    x, y = data
    targets = np.full((len(y), 2), np.nan, np.float32)
    targets[:64] = 0.0
    after_epoch = {}

    def callback(step, logs):
        if logs["epoch_end"]:
            after_epoch[logs["epoch"]] = _state(trained_cnn)
        return logs["epoch"] == 2 and logs["batch"] == 3

    result = PLSDTrainer(trained_cnn, "latent", encoder, device="cpu").fit(x, y, targets, epochs=3, callback=callback)
    assert result.stopped and result.epochs_completed == 1
    assert _same(_state(trained_cnn), after_epoch[1])


def test_stop_event_before_start_changes_nothing(trained_cnn, encoder, data):
    x, y = data
    before = _state(trained_cnn)
    stop = threading.Event()
    stop.set()
    targets = np.zeros((len(y), 2), np.float32)
    result = PLSDTrainer(trained_cnn, "latent", encoder, device="cpu").fit(x, y, targets, stop_event=stop)
    assert result.stopped and result.epochs_completed == 0 and _same(before, _state(trained_cnn))


def test_crash_inside_epoch_leaves_last_good_epoch(trained_cnn, encoder, data):
    x, y = data
    targets = np.zeros((len(y), 2), np.float32)
    after_epoch = {}

    def callback(step, logs):
        if logs["epoch_end"]:
            after_epoch[logs["epoch"]] = _state(trained_cnn)
        if logs["epoch"] == 2 and logs["batch"] == 2:
            raise RuntimeError("disk full")
        return False

    with pytest.raises(RuntimeError, match="disk full"):
        PLSDTrainer(trained_cnn, "latent", encoder, device="cpu").fit(x, y, targets, epochs=3, callback=callback)
    assert _same(_state(trained_cnn), after_epoch[1])


@pytest.mark.parametrize("lam", [-0.1, 1.5, float("nan")])
def test_lambda_out_of_range(trained_cnn, encoder, lam):
    with pytest.raises(ValueError, match=r"lam must be in \[0.0, 1.0\]"):
        PLSDTrainer(trained_cnn, "latent", encoder, lam=lam)


def test_no_targets_in_edited_only_mode(trained_cnn, encoder, data):
    x, y = data
    with pytest.raises(ValueError, match="no point has an edit target"):
        PLSDTrainer(trained_cnn, "latent", encoder).fit(x, y, np.full((len(y), 2), np.nan))


def test_layer_without_gradients(trained_cnn, encoder, data):
    x, y = data
    for p in trained_cnn.parameters():
        p.requires_grad_(False)
    before = _state(trained_cnn)
    with pytest.raises(ValueError, match="does not receive gradients"):
        PLSDTrainer(trained_cnn, "latent", encoder, device="cpu").fit(x, y, np.zeros((len(y), 2)))
    assert _same(before, _state(trained_cnn))


def test_length_mismatch(trained_cnn, encoder, data):
    x, y = data
    with pytest.raises(ValueError, match="same length"):
        PLSDTrainer(trained_cnn, "latent", encoder).fit(x, y[:-1], np.zeros((len(y), 2)))
