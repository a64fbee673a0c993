import threading

import numpy as np
import pytest
import torch
from torch import nn

from plsd_widget.activations import extract_activations
from plsd_widget.finetune import PLSDTrainer, embedding_scale, plsd_loss
from plsd_widget.finetune.optimizers import make_optimizer


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
    trainer = PLSDTrainer(trained_cnn, "latent", encoder, lam=0.5, lr=0.01, epochs=3, anchor=0.0, scale=scale,
                          device="cpu")  # the paper's loss: unedited points free
    result = trainer.fit(x, y, targets)
    after = _embedded(trained_cnn, encoder, x)
    before_dist = np.linalg.norm(start[edited] - targets[edited], axis=1).mean()
    after_dist = np.linalg.norm(after[edited] - targets[edited], axis=1).mean()
    assert result.epochs_completed == 3 and not result.stopped
    assert after_dist < 0.5 * before_dist
    assert [h["emb"] for h in result.history] == sorted([h["emb"] for h in result.history], reverse=True)


def _unedited_drift(state, encoder, x, y, **options):
    """Mean distance the points outside class 3 moved when class 3 alone is shifted (2 epochs)."""
    from plsd_widget.models import SmallCNN

    model = SmallCNN()
    model.load_state_dict(state)
    start = _embedded(model, encoder, x)
    targets = np.full_like(start, np.nan)
    targets[y == 3] = start[y == 3] + [2.0, -2.0]
    scale = float(np.sqrt(((start - start.mean(0)) ** 2).sum(1).mean()))
    PLSDTrainer(model, "latent", encoder, lam=0.5, epochs=2, scale=scale, device="cpu", **options).fit(
        x, y, targets, positions=start)
    return np.linalg.norm(_embedded(model, encoder, x)[y != 3] - start[y != 3], axis=1).mean()


def test_holding_unedited_points_cuts_their_drift(trained_cnn_state, encoder, data):
    x, y = data
    free = _unedited_drift(trained_cnn_state, encoder, x, y, anchor=0.0)
    assert _unedited_drift(trained_cnn_state, encoder, x, y, edited_only=False) < 0.7 * free
    assert _unedited_drift(trained_cnn_state, encoder, x, y, anchor=0.3) < 0.8 * free


def test_deterministic_on_cpu(trained_cnn_state, encoder, data):
    from plsd_widget.models import SmallCNN

    x, y = data
    targets = np.full((len(y), 2), np.nan, np.float32)
    targets[:50] = 1.0
    states = []
    for _ in range(2):
        model = SmallCNN()
        model.load_state_dict(trained_cnn_state)
        PLSDTrainer(model, "latent", encoder, epochs=1, random_state=3, device="cpu").fit(x, y, targets)
        states.append(_state(model))
    assert _same(*states)


def test_offsets_only_move_the_frame_of_the_targets(trained_cnn_state, encoder, data):
    """``E(h) + o`` pulled to ``t`` is the same run as ``E(h)`` pulled to ``t - o``."""
    from plsd_widget.models import SmallCNN

    x, y = data
    rng = np.random.default_rng(0)
    offsets = rng.normal(scale=3.0, size=(len(y), 2)).astype(np.float32)
    targets = np.full((len(y), 2), np.nan, np.float32)
    targets[y == 3] = rng.normal(size=(int((y == 3).sum()), 2))
    states = []
    for tgt, off in ((targets, offsets), (targets - offsets, None)):
        model = SmallCNN()
        model.load_state_dict(trained_cnn_state)
        # a fixed unit: scale="auto" measures the view, which the offsets spread out
        PLSDTrainer(model, "latent", encoder, epochs=1, anchor=0.0, scale=2.0, random_state=3, device="cpu").fit(
            x, y, tgt, offsets=off)
        states.append(_state(model))
    assert _same(*states)


@pytest.mark.parametrize("offsets", [np.zeros((3, 2)), np.full((512, 2), np.nan)])
def test_bad_offsets_raise_and_change_nothing(trained_cnn, encoder, data, offsets):
    x, y = data
    before = _state(trained_cnn)
    targets = np.full((len(y), 2), np.nan, np.float32)
    targets[:5] = 0.0
    with pytest.raises(ValueError, match="offsets must be finite and of the targets' shape"):
        PLSDTrainer(trained_cnn, "latent", encoder, device="cpu").fit(x, y, targets, offsets=offsets)
    assert _same(before, _state(trained_cnn))


def test_stop_mid_epoch_keeps_last_completed_epoch(trained_cnn, encoder, data):
    x, y = data
    targets = np.full((len(y), 2), np.nan, np.float32)
    targets[:64] = 0.0
    after_epoch = {}

    def callback(step, logs):
        if logs["epoch_end"]:
            after_epoch[logs["epoch"]] = _state(trained_cnn)
        return logs["epoch"] == 2 and logs["batch"] == 3

    result = PLSDTrainer(trained_cnn, "latent", encoder, epochs=3, anchor=0.0, device="cpu").fit(
        x, y, targets, callback=callback)
    assert result.stopped and result.epochs_completed == 1
    assert _same(_state(trained_cnn), after_epoch[1])


def test_stop_event_before_start_changes_nothing(trained_cnn, encoder, data):
    x, y = data
    before = _state(trained_cnn)
    stop = threading.Event()
    stop.set()
    targets = np.zeros((len(y), 2), np.float32)
    result = PLSDTrainer(trained_cnn, "latent", encoder, epochs=1, device="cpu").fit(x, y, targets, stop_event=stop)
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
        PLSDTrainer(trained_cnn, "latent", encoder, epochs=3, device="cpu").fit(x, y, targets, callback=callback)
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


# ---------------------------------------------------------------- inputs: Dataset, DataLoader, augmentation
class PairDataset(torch.utils.data.Dataset):
    """(image, label) pairs from arrays, optionally augmented in __getitem__ from torch's global generator."""

    def __init__(self, x, y, noise=0.0):
        self.x, self.y, self.noise = torch.from_numpy(x), torch.from_numpy(y), noise

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        xi = self.x[i]
        if self.noise:
            xi = xi + self.noise * torch.randn_like(xi)
        return xi, self.y[i]


def _fresh(state):
    from plsd_widget.models import SmallCNN

    model = SmallCNN()
    model.load_state_dict(state)
    return model


def _some_targets(y):
    targets = np.full((len(y), 2), np.nan, np.float32)
    targets[y == 3] = [1.0, -1.0]
    return targets


@pytest.mark.slow
def test_dataset_and_dataloader_inputs_match_array_input(trained_cnn_state, encoder, data):
    x, y = data[0][:192], data[1][:192]
    targets = _some_targets(y)
    states = []
    for source in ("array", "dataset", "loader", "workers"):
        model = _fresh(trained_cnn_state)
        trainer = PLSDTrainer(model, "latent", encoder, epochs=2, anchor=0.0, batch_size=64, random_state=5,
                              device="cpu")
        if source == "array":
            trainer.fit(x, y, targets)
        elif source == "dataset":
            trainer.fit(PairDataset(x, y), targets=targets)
        else:  # the loader's own shuffle is replaced by the trainer's, so samples keep their targets
            loader = torch.utils.data.DataLoader(PairDataset(x, y), batch_size=64, shuffle=True,
                                                 num_workers=1 if source == "workers" else 0)
            trainer.fit(loader, targets=targets)
        states.append(_state(model))
    # Same batches, same targets; batches collated from items differ from indexed ones only in float rounding
    # (~1e-7 per step, grown to ~1e-5 here), while pairing samples with the wrong targets changes the weights.
    def gap(a, b):
        return max((a[k] - b[k]).abs().max().item() for k in a)

    assert max(gap(states[0], other) for other in states[1:]) < 1e-3
    assert _same(states[1], states[2]) and _same(states[2], states[3])
    shuffled = _fresh(trained_cnn_state)
    PLSDTrainer(shuffled, "latent", encoder, epochs=2, anchor=0.0, batch_size=64, random_state=5, device="cpu").fit(
        x, y, targets[::-1].copy())
    assert gap(states[0], _state(shuffled)) > 1e-2


def test_dataloader_batch_size_and_drop_last_are_used(trained_cnn, encoder, data):
    x, y = data
    seen = []
    loader = torch.utils.data.DataLoader(PairDataset(x, y), batch_size=100, drop_last=True)
    PLSDTrainer(trained_cnn, "latent", encoder, epochs=1, batch_size=7, device="cpu").fit(
        loader, targets=_some_targets(y), callback=lambda step, logs: seen.append(logs["n_batches"]) and False)
    assert seen == [len(y) // 100] * (len(y) // 100)


@pytest.mark.slow
def test_augmentation_is_applied_and_seeded_without_touching_global_state(trained_cnn_state, encoder, data):
    x, y = data[0][:192], data[1][:192]
    targets = _some_targets(y)
    calls = []

    def jitter(xb):
        calls.append(xb.shape[0])
        return xb + 0.1 * torch.randn_like(xb)  # torch's global generator: forked and seeded per run

    models = [_fresh(trained_cnn_state) for _ in range(7)]  # built first: building draws from the global RNG

    def run(transform=None, dataset_noise=0.0, seed=0):
        model = models.pop()
        PLSDTrainer(model, "latent", encoder, epochs=1, transform=transform, random_state=seed, device="cpu").fit(
            PairDataset(x, y, noise=dataset_noise), targets=targets)
        return _state(model)

    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    plain, aug, aug_again = run(), run(jitter), run(jitter)
    assert torch.equal(torch.rand(3), expected_next)  # the caller's global generator is as it was
    assert sum(calls) == 2 * len(y)
    assert _same(aug, aug_again) and not _same(plain, aug)
    assert _same(run(dataset_noise=0.1), run(dataset_noise=0.1))
    assert not _same(run(dataset_noise=0.1, seed=0), run(dataset_noise=0.1, seed=1))


@pytest.mark.parametrize("data_arg, kwargs, error, match", [
    ("dataset", {"y": np.zeros(4)}, ValueError, "y must be None"),
    ("iterable", {}, TypeError, "map-style Dataset"),
    ("triples_ok", {}, None, None),
    ("not_pairs", {}, TypeError, r"\(input, label\) pairs"),
    ("empty", {}, ValueError, "dataset is empty"),
    ("array_no_y", {}, ValueError, "pass the labels y"),
])
def test_bad_data_sources(trained_cnn, encoder, data, data_arg, kwargs, error, match):
    x, y = data[0][:8], data[1][:8]

    class Iterable(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(zip(x, y))

    class Items(torch.utils.data.Dataset):
        def __init__(self, make, n=8):
            self.make, self.n = make, n

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return self.make(i)

    source = {"dataset": PairDataset(x, y), "iterable": Iterable(),
              "triples_ok": Items(lambda i: (torch.from_numpy(x[i]), int(y[i]), "extra")),
              "not_pairs": Items(lambda i: {"image": x[i], "label": y[i]}),
              "empty": Items(lambda i: None, n=0), "array_no_y": x}[data_arg]
    before = _state(trained_cnn)
    trainer = PLSDTrainer(trained_cnn, "latent", encoder, lam=0.0, epochs=1, device="cpu")
    if error is None:
        assert trainer.fit(source, targets=np.zeros((8, 2)), **kwargs).epochs_completed == 1
        return
    with pytest.raises(error, match=match):
        trainer.fit(source, targets=np.zeros((len(y), 2)), **kwargs)
    assert _same(before, _state(trained_cnn))


# ---------------------------------------------------------------- optimiser and schedule
def test_default_optimizer_is_sgd_nesterov(trained_cnn, encoder):
    opt = make_optimizer(PLSDTrainer(trained_cnn, "latent", encoder, lr=0.02).config, list(trained_cnn.parameters()))
    assert isinstance(opt, torch.optim.SGD)
    group = opt.param_groups[0]
    assert group["nesterov"] and group["momentum"] == 0.9 and group["lr"] == 0.02
    opt = make_optimizer(PLSDTrainer(trained_cnn, "latent", encoder, optimizer="adamw",
                                     optimizer_kwargs={"weight_decay": 0.5}).config, list(trained_cnn.parameters()))
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["weight_decay"] == 0.5


def test_optimizer_factory_and_schedules(trained_cnn_state, encoder, data):
    import functools

    x, y = data[0][:192], data[1][:192]
    targets = _some_targets(y)
    made = []

    def factory(params, lr):
        made.append(lr)
        return torch.optim.Adam(params, lr=lr)

    model = _fresh(trained_cnn_state)
    result = PLSDTrainer(model, "latent", encoder, epochs=3, lr=1e-3, optimizer=factory, device="cpu",
                         scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
                         ).fit(x, y, targets)
    assert made == [1e-3]
    assert [h["lr"] for h in result.history] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    lrs = []
    PLSDTrainer(_fresh(trained_cnn_state), "latent", encoder, epochs=1, lr=0.1, device="cpu",
                scheduler_interval="batch",
                optimizer=functools.partial(torch.optim.SGD, momentum=0.0),
                scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1 + step))
                ).fit(x, y, targets, callback=lambda step, logs: lrs.append(logs["lr"]) and False)
    assert lrs == pytest.approx([0.1 / (1 + i) for i in range(3)])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"optimizer": "rmsprop"}, ValueError, "unknown optimizer 'rmsprop'"),
    ({"optimizer": 3}, TypeError, "optimizer must be a name"),
    ({"optimizer": lambda p, lr: None, "optimizer_kwargs": {"a": 1}}, TypeError, "functools.partial"),
    ({"scheduler": "cosine"}, TypeError, "scheduler must be a callable"),
    ({"scheduler_interval": "step"}, ValueError, "scheduler_interval must be one of"),
    ({"transform": 1.0}, TypeError, "transform must be a callable"),
])
def test_bad_optimizer_settings_raise_at_construction(trained_cnn, encoder, kwargs, error, match):
    with pytest.raises(error, match=match):
        PLSDTrainer(trained_cnn, "latent", encoder, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": lambda params, lr: "sgd"}, "must return a torch.optim.Optimizer"),
    ({"optimizer_kwargs": {"betas": (0.9, 0.99)}}, "do not fit SGD"),
    ({"scheduler": lambda opt: 0.5}, "must return an LR scheduler"),
])
def test_bad_optimizer_at_fit_changes_nothing(trained_cnn, encoder, data, kwargs, match):
    x, y = data
    before = _state(trained_cnn)
    with pytest.raises(TypeError, match=match):
        PLSDTrainer(trained_cnn, "latent", encoder, device="cpu", **kwargs).fit(x, y, _some_targets(y))
    assert _same(before, _state(trained_cnn))


# ---------------------------------------------------------------- bad input and faults
@pytest.mark.parametrize("change, match", [
    (lambda t, p: t.__setitem__((0, 0), np.inf), "finite .* or NaN in both columns"),
    (lambda t, p: t.__setitem__((5, 1), np.nan), "row 5"),
    (lambda t, p: p.__setitem__((2, 0), np.nan), "positions must be finite"),
])
def test_non_finite_targets_raise_and_change_nothing(trained_cnn, encoder, data, change, match):
    x, y = data
    targets, positions = _some_targets(y), np.zeros((len(y), 2), np.float32)
    targets[5] = [1.0, 1.0]
    change(targets, positions)
    before = _state(trained_cnn)
    with pytest.raises(ValueError, match=match):
        PLSDTrainer(trained_cnn, "latent", encoder, edited_only=False, device="cpu").fit(
            x, y, targets, positions=positions)
    assert _same(before, _state(trained_cnn))


def test_targets_of_wrong_shape(trained_cnn, encoder, data):
    x, y = data
    with pytest.raises(ValueError, match=r"targets must have shape \(n_samples, 2\)"):
        PLSDTrainer(trained_cnn, "latent", encoder).fit(x, y, np.zeros((len(y), 3)))


def test_frozen_layer_with_trainable_head(trained_cnn, encoder, data):
    """Only the head trains: CE-only fine-tuning works, the embedding term cannot reach the layer."""
    x, y = data
    for name, p in trained_cnn.named_parameters():
        p.requires_grad_(name.startswith("head"))
    before = _state(trained_cnn)
    with pytest.raises(ValueError, match="layer 'latent' does not receive gradients"):
        PLSDTrainer(trained_cnn, "latent", encoder, lam=0.5, device="cpu").fit(x, y, _some_targets(y))
    assert _same(before, _state(trained_cnn))
    PLSDTrainer(trained_cnn, "latent", encoder, lam=0.0, epochs=1, device="cpu").fit(x, y, _some_targets(y))
    after = _state(trained_cnn)
    assert not torch.equal(after["head.weight"], before["head.weight"])
    assert torch.equal(after["latent.1.weight"], before["latent.1.weight"])


def test_detached_layer(trained_cnn, encoder, data):
    """A layer fed by a detached tensor (and without weights of its own) gets no gradient."""

    class Detaching(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.act = nn.Identity()

        def forward(self, x):
            h = self.act(self.inner.latent(self.inner.features(x)).detach())
            return self.inner.head(h)

    x, y = data
    model = Detaching(trained_cnn)
    with pytest.raises(ValueError, match="layer 'act' does not receive gradients"):
        PLSDTrainer(model, "act", encoder, device="cpu").fit(x, y, _some_targets(y))


def test_session_crash_mid_epoch_keeps_model_and_edits_of_last_good_epoch(session):
    """A fault in the second epoch: the model, checkpoints, history and edit log stay as after epoch 1."""
    session.shift("3", (3.0, -2.0))
    session.contract(["5", "8"], 0.5)
    edits_json, targets = session.edits.to_json(), session.targets.copy()
    n_batches = -(-len(session.y) // 64)
    calls = {"n": 0}

    def fault(module, _inputs, _output):
        if module.training:  # the trainer's working copy; evaluation runs in eval mode
            calls["n"] += 1
            if calls["n"] == n_batches + 3:
                raise RuntimeError("simulated fault in epoch 2, batch 3")

    session.model.head.register_forward_hook(fault)
    with pytest.raises(RuntimeError, match="simulated fault"):
        session.finetune(epochs=3, block=True)
    assert len(session.checkpoints) == 2 and len(session.history) == 1
    assert _same(_state(session.model), session.checkpoints[1])
    assert not _same(session.checkpoints[0], session.checkpoints[1])
    assert session.edits.to_json() == edits_json
    np.testing.assert_array_equal(session.targets, targets)
    assert "PLSD" in session.reports and not session.is_training


@pytest.mark.slow
def test_session_passes_optimizer_options_to_plsd_and_baseline(session, monkeypatch):
    import plsd_widget.session.runner as session_module

    made = []
    real = session_module.PLSDTrainer

    def spy(model, layer, encoder, config, **kwargs):
        made.append(config)
        return real(model, layer, encoder, config, **kwargs)

    monkeypatch.setattr(session_module, "PLSDTrainer", spy)
    session.shift("3", (1.0, 1.0))
    with pytest.raises(TypeError, match=r"unknown fine-tuning option\(s\) \['momentum'\]"):
        session.finetune(momentum=0.5)
    with pytest.raises(ValueError, match="unknown optimizer"):
        session.finetune(optimizer="lbfgs")
    assert len(session.checkpoints) == 1
    session.finetune(epochs=1, batch_size=128, optimizer="adam", lr=1e-3, block=True)
    session.run_baseline(block=True)
    assert [(c.optimizer, c.batch_size, c.lr, c.lam) for c in made[-2:]] == \
        [("adam", 128, 1e-3, 0.5), ("adam", 128, 1e-3, 0.0)]
    assert "baseline (CE)" in session.reports


def test_plsd_loss_anchor_term_and_sample_weight():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1])
    emb = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    tgt = torch.tensor([[0.0, 3.0], [0.0, 2.0]])
    edited, held = torch.tensor([True, False]), torch.tensor([False, True])
    _, _, em = plsd_loss(logits, labels, emb, tgt, edited, 0.5, held=held, anchor=0.25)
    assert em.item() == pytest.approx(5.0 + 0.25 * 4.0)  # the edit term plus anchor × the holding term
    per = nn.functional.cross_entropy(logits, labels, reduction="none")
    _, ce, _ = plsd_loss(logits, labels, emb, tgt, torch.tensor([True, True]), 0.5,
                         sample_weight=torch.tensor([3.0, 1.0]))
    assert ce.item() == pytest.approx(((3 * per[0] + per[1]) / 4).item())


def test_anchor_and_sample_weight_errors(trained_cnn, encoder, data):
    x, y = data
    targets = np.full((len(y), 2), np.nan, np.float32)
    targets[:5] = 0.0
    with pytest.raises(ValueError, match="anchor must be"):
        PLSDTrainer(trained_cnn, "latent", encoder, anchor=-0.5, device="cpu")
    trainer = PLSDTrainer(trained_cnn, "latent", encoder, device="cpu")
    with pytest.raises(ValueError, match="one weight per sample"):
        trainer.fit(x, y, targets, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        trainer.fit(x, y, targets, sample_weight=-np.ones(len(y)))


def test_balanced_weights_give_every_class_the_same_total():
    from plsd_widget.finetune import balanced_weights

    y = np.array([0, 0, 0, 1, 2, 2])
    w = balanced_weights(y)
    assert w.mean() == pytest.approx(1.0)
    assert [w[y == c].sum() for c in range(3)] == pytest.approx([2.0, 2.0, 2.0])


def test_edit_weight_weighs_the_edited_points_cross_entropy(trained_cnn_state, encoder, data):
    from plsd_widget.models import SmallCNN

    x, y = data
    start = _embedded(SmallCNN(), encoder, x[:1])  # shape only
    targets = np.full((len(y), start.shape[1]), np.nan, np.float32)
    targets[y == 3] = 0.0
    states = {}
    for name, kwargs, fit_kwargs in (("edit_weight", {"edit_weight": 4.0}, {}),
                                     ("sample_weight", {}, {"sample_weight": np.where(y == 3, 4.0, 1.0)}),
                                     ("plain", {}, {})):
        model = SmallCNN()
        model.load_state_dict(trained_cnn_state)
        PLSDTrainer(model, "latent", encoder, lam=0.5, epochs=1, device="cpu", **kwargs).fit(
            x, y, targets, **fit_kwargs)
        states[name] = _state(model)
    assert _same(states["edit_weight"], states["sample_weight"])
    assert not _same(states["edit_weight"], states["plain"])
    with pytest.raises(ValueError, match="edit_weight must be in"):
        PLSDTrainer(SmallCNN(), "latent", encoder, edit_weight=-1.0)


# ---------------------------------------------------------------- one config; positions; reductions
def test_the_trainer_reads_one_config_with_overrides(trained_cnn, encoder):
    from plsd_widget.config import FinetuneConfig

    assert PLSDTrainer(trained_cnn, "latent", encoder).config == FinetuneConfig.default()
    assert PLSDTrainer(trained_cnn, "latent", encoder).config.anchor == 3.0  # as Session's and replay's
    paper = PLSDTrainer(trained_cnn, "latent", encoder, "paper", epochs=2, scale=4.0)
    assert paper.config == FinetuneConfig.paper().replace(epochs=2) and paper.scale == 4.0
    config = FinetuneConfig(lam=0.2)
    assert PLSDTrainer(trained_cnn, "latent", encoder, config).config is config
    with pytest.raises(TypeError, match=r"unknown fine-tuning option\(s\) \['momentum'\]"):
        PLSDTrainer(trained_cnn, "latent", encoder, momentum=0.5)


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan")])
def test_bad_scale_raises_at_fit_and_changes_nothing(trained_cnn, encoder, data, scale):
    x, y = data
    before = _state(trained_cnn)
    with pytest.raises(ValueError, match="scale must be a positive number"):
        PLSDTrainer(trained_cnn, "latent", encoder, scale=scale, device="cpu").fit(x, y, _some_targets(y))
    assert _same(before, _state(trained_cnn))


@pytest.mark.parametrize("source", ["array", "dataset", "loader"])
@pytest.mark.parametrize("options", [{"anchor": 1.0}, {"edited_only": False}])
def test_missing_positions_are_the_current_ones(trained_cnn_state, encoder, data, source, options):
    """positions=None holds the unedited points where the model puts them now: E(C_m(x)) + offsets."""
    x, y = data[0][:192], data[1][:192]
    offsets = np.random.default_rng(0).normal(size=(len(y), 2)).astype(np.float32)
    targets = _some_targets(y)
    model = _fresh(trained_cnn_state)
    inputs = x if source == "array" else torch.utils.data.DataLoader(PairDataset(x, y), batch_size=64)
    with torch.no_grad():  # in the run's batches, as fit reads them (collated batches round differently)
        H = extract_activations(model, "latent", inputs, batch_size=64)
        positions = encoder(torch.from_numpy(H)).numpy() + offsets
    trainer = PLSDTrainer(model, "latent", encoder, epochs=1, batch_size=64, device="cpu", **options)
    loss_targets, _, _ = trainer.prepare_targets(targets, None)
    assert np.isnan(loss_targets[y != 3]).all() and np.isfinite(loss_targets[y == 3]).all()  # fit fills them
    states = []
    for given in (positions, None):
        model = _fresh(trained_cnn_state)
        data_arg = {"array": (x, y), "dataset": (PairDataset(x, y),),
                    "loader": (torch.utils.data.DataLoader(PairDataset(x, y), batch_size=64),)}[source]
        PLSDTrainer(model, "latent", encoder, epochs=1, batch_size=64, device="cpu", **options).fit(
            *data_arg, targets=targets, positions=given, offsets=offsets)
        states.append(_state(model))
    assert _same(*states)


def test_the_baseline_needs_no_positions(trained_cnn_state, encoder, data, monkeypatch):
    import plsd_widget.finetune.trainer as trainer_module

    x, y = data[0][:192], data[1][:192]
    monkeypatch.setattr(trainer_module, "extract_activations", None)  # no pass over the data
    states = []
    for options in ({"edited_only": False}, {"anchor": 3.0}, {"anchor": 0.0}):
        model = _fresh(trained_cnn_state)
        PLSDTrainer(model, "latent", encoder, lam=0.0, epochs=1, device="cpu", **options).fit(
            x, y, np.full((len(y), 2), np.nan))
        states.append(_state(model))
    assert _same(states[0], states[1]) and _same(states[1], states[2])


def test_the_two_reductions_differ_by_the_share_of_counted_points():
    gen = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(10, 3, generator=gen), torch.randint(3, (10,), generator=gen)
    embedded, targets = torch.randn(10, 2, generator=gen), torch.randn(10, 2, generator=gen)
    mask = torch.tensor([1, 1, 1, 0, 0, 0, 0, 0, 0, 0], dtype=torch.bool)
    _, ce_edited, edited = plsd_loss(logits, labels, embedded, targets, mask, 0.5, 2.0)
    _, ce_batch, batch = plsd_loss(logits, labels, embedded, targets, mask, 0.5, 2.0, reduction="batch")
    assert ce_batch.item() == ce_edited.item()
    assert batch.item() == pytest.approx(edited.item() * 3 / 10, rel=1e-6)
    # with the anchor term each term scales by its own share: 3 of 10 edited, 7 of 10 held
    _, _, first = plsd_loss(logits, labels, embedded, targets, mask, 0.5, 2.0, held=~mask, anchor=0.0)
    _, _, both = plsd_loss(logits, labels, embedded, targets, mask, 0.5, 2.0, held=~mask, anchor=2.0)
    _, _, both_batch = plsd_loss(logits, labels, embedded, targets, mask, 0.5, 2.0, held=~mask, anchor=2.0,
                                 reduction="batch")
    assert both_batch.item() == pytest.approx(first.item() * 3 / 10 + (both - first).item() * 7 / 10, rel=1e-6)
    # Eq. 3 per instance: the sum over the counted points divided by the batch size
    per_point = ((embedded - targets) / 2.0).pow(2).sum(1)
    assert batch.item() == pytest.approx(per_point[mask].sum().item() / 10, rel=1e-6)


def test_batch_reduction_trains_with_its_own_denominators(trained_cnn_state, encoder, data):
    x, y = data[0][:192], data[1][:192]
    histories = {}
    for reduction in ("edited", "batch"):
        result = PLSDTrainer(_fresh(trained_cnn_state), "latent", encoder, reduction=reduction, anchor=0.0, epochs=1,
                             batch_size=192, device="cpu").fit(x, y, _some_targets(y))
        histories[reduction] = result.history[0]
    share = (y == 3).mean()  # one batch of every point: the share of edited points is the batch's
    assert histories["batch"]["emb"] == pytest.approx(histories["edited"]["emb"] * share, rel=1e-5)
    assert histories["batch"]["ce"] == pytest.approx(histories["edited"]["ce"], rel=1e-6)


def test_the_defaults_do_not_diverge_on_t_sne_coordinates(digits, trained_cnn_state, fitted_embedding):
    """A new user's first call: targets 5 t-SNE units from one class, λ 0.5, lr 0.01, no scale given.

    In raw t-SNE units (scale=1, the paper's literal Eq. 3) the loss is infinite by the
    fourth batch; the default scale="auto" measures the embedding's own unit, as a Session does.
    """
    x, y = digits[0].images, digits[0].labels
    start = fitted_embedding.transform(extract_activations(_fresh(trained_cnn_state), "latent", x))
    targets = np.full_like(start, np.nan)
    targets[y == 3] = start[y == 3] + 5.0
    result = PLSDTrainer(_fresh(trained_cnn_state), "latent", fitted_embedding.encoder_, epochs=1, lam=0.5,
                         lr=0.01, device="cpu").fit(x, y, targets)
    assert np.isfinite(result.history[0]["loss"]) and result.history[0]["ce"] < 1.0
    with pytest.raises(FloatingPointError, match="lower the learning rate or λ"):
        PLSDTrainer(_fresh(trained_cnn_state), "latent", fitted_embedding.encoder_, epochs=1, lam=0.5, lr=0.01,
                    scale=1.0, device="cpu").fit(x, y, targets)


def test_scale_auto_is_the_sessions_embedding_scale(trained_cnn_state, encoder, data):
    x, y = data
    positions = np.random.default_rng(0).normal(scale=7.0, size=(len(y), 2)).astype(np.float32)
    targets = np.where((y == 3)[:, None], positions + 1.0, np.nan).astype(np.float32)
    states = []
    for scale in ("auto", embedding_scale(positions)):
        model = _fresh(trained_cnn_state)
        PLSDTrainer(model, "latent", encoder, epochs=1, scale=scale, device="cpu").fit(x, y, targets,
                                                                                        positions=positions)
        states.append(_state(model))
    assert _same(*states)
    with pytest.raises(ValueError, match='"auto" or a positive number'):
        PLSDTrainer(_fresh(trained_cnn_state), "latent", encoder, scale="raw").fit(x, y, targets)
    with pytest.raises(ValueError, match='scale="auto"'):
        PLSDTrainer(_fresh(trained_cnn_state), "latent", encoder, scale=0).fit(x, y, targets)


def test_equivalent_lam_makes_the_two_reductions_proportional():
    from plsd_widget.finetune.loss import equivalent_lam

    gen = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(40, 3, generator=gen), torch.randint(3, (40,), generator=gen)
    embedded, targets = torch.randn(40, 2, generator=gen), torch.randn(40, 2, generator=gen)
    mask = torch.arange(40) < 6  # share 0.15
    lam_batch = 0.1
    lam_edited = equivalent_lam(lam_batch, 0.15, to="edited")
    assert equivalent_lam(lam_edited, 0.15, to="batch") == pytest.approx(lam_batch)
    per_instance, _, _ = plsd_loss(logits, labels, embedded, targets, mask, lam_batch, reduction="batch")
    edited, ce, emb = plsd_loss(logits, labels, embedded, targets, mask, lam_edited, reduction="edited")
    assert per_instance.item() == pytest.approx(edited.item() * (1 - lam_batch) / (1 - lam_edited), rel=1e-6)
    assert ce.item() != pytest.approx(emb.item())  # the terms differ, so proportionality is not trivial
    # the figures the README quotes: the paper's 0.1 over 120 of 2,920 points, this package's 0.5
    assert equivalent_lam(0.1, 120 / 2920, to="edited") == pytest.approx(0.0045, abs=1e-4)
    assert equivalent_lam(0.5, 120 / 2920, to="batch") == pytest.approx(0.96, abs=0.005)


def test_embedding_scale_is_the_rms_radius_and_refuses_a_single_point():
    assert embedding_scale([[0.0, 0.0], [6.0, 8.0]]) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="pass a positive scale"):
        embedding_scale(np.ones((4, 2)))
