"""Tests of plsd_widget.analysis.saliency on the digits with a small trained CNN."""

import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from plsd_widget import NotFittedError
from plsd_widget.activations import capture, extract_activations
from plsd_widget.analysis.saliency import (
    direction_between,
    direction_between_selections,
    direction_towards,
    directional_saliency,
    gradient_saliency,
    integrated_gradients,
    mean_map,
    rank_correlation,
)
from plsd_widget.embedding import ParametricTSNE
from plsd_widget.models import seeded_model

#: Adebayo et al.'s model-randomisation check: mean Spearman correlation between the
#: maps of the trained CNN and of a re-initialised one, 100 test digits. Measured
#: (seed-1 re-initialisation, 200 digits): |grad| 0.14, signed grad 0.04, IG 0.07,
#: directional -0.07. The levels leave margin over those.
RANDOMISATION_LEVELS = {"abs_grad": 0.4, "grad": 0.25, "ig": 0.3, "directional": 0.25}


@pytest.fixture(scope="module")
def model(trained_cnn_state):
    from plsd_widget.models import SmallCNN

    m = SmallCNN()
    m.load_state_dict(trained_cnn_state)
    return m.eval()


@pytest.fixture(scope="module")
def embedding(digits, model):
    """A fast MLP ParametricTSNE of the latent layer (600 training digits)."""
    H = extract_activations(model, "latent", digits[0].images[:600])
    return ParametricTSNE(perplexity=10, hidden=(32, 16), n_epochs=30, pretrain_epochs=5, random_state=0,
                          device="cpu").fit(H)


@pytest.fixture(scope="module")
def experts_embedding(digits, model):
    """Scheme "distil" (LocalExpertsEncoder), its layout cut short by the callback to stay fast."""
    H = extract_activations(model, "latent", digits[0].images[:600])
    return ParametricTSNE(perplexity=10, hidden=(32, 16), n_epochs=2, batch_size=128, scheme="distil",
                          random_state=0, device="cpu",
                          callback=lambda step, logs: logs["stage"] == "layout").fit(H)


@pytest.fixture(scope="module")
def x(digits):
    return digits[1].images[:100]


def _double(model):
    return copy.deepcopy(model).double()


def _fd_grad(f, x, eps):
    """Central finite differences of the scalar-per-sample ``f`` at every input feature of ``x`` (float64)."""
    n, shape = x.shape[0], x.shape[1:]
    d = int(np.prod(shape))
    E = torch.eye(d, dtype=torch.float64).view(d, *shape) * eps
    out = torch.empty(n, d, dtype=torch.float64)
    for i in range(n):
        plus, minus = f(x[i] + E), f(x[i] - E)
        out[i] = (plus - minus) / (2 * eps)
    return out.view(x.shape).numpy()


# ------------------------------------------------------------ finite differences
def test_gradient_matches_finite_differences(model, x):
    m64 = _double(model)
    xs = torch.from_numpy(x[:4]).double()
    target = m64(xs).argmax(1)
    g = gradient_saliency(m64, xs, absolute=False)
    assert g.dtype == np.float64 and g.shape == xs.shape
    for i in range(4):
        fd = _fd_grad(lambda z, i=i: m64(z)[:, target[i]].detach(), xs[i:i + 1], 1e-6)
        np.testing.assert_allclose(g[i:i + 1], fd, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(gradient_saliency(m64, xs), np.abs(g))
    # a fixed target differs from the predicted one and is honoured
    other = (target + 1) % 10
    g2 = gradient_saliency(m64, xs, target=other.numpy(), absolute=False)
    fd = _fd_grad(lambda z: m64(z)[:, int(other[0])].detach(), xs[:1], 1e-6)
    np.testing.assert_allclose(g2[:1], fd, rtol=1e-5, atol=1e-6)


def test_gradient_of_linear_model_on_flat_input():
    lin = nn.Linear(5, 3).double()
    X = np.random.default_rng(0).normal(size=(7, 5))
    g = gradient_saliency(lin, X, target=2, absolute=False, batch_size=3)
    np.testing.assert_allclose(g, np.broadcast_to(lin.weight[2].detach().numpy(), (7, 5)))


def test_integrated_gradients_matches_finite_differences(model, x):
    """The midpoint sum of finite-difference gradients along the path equals IG."""
    m64 = _double(model)
    xs = torch.from_numpy(x[:2]).double()
    base = torch.full(xs.shape[1:], 0.1, dtype=torch.float64)
    target = m64(xs).argmax(1)
    steps = 6
    ig = integrated_gradients(m64, xs, baseline=base, steps=steps, method="midpoint", batch_size=5)
    for i in range(2):
        avg = 0
        for k in range(steps):
            point = base + (k + 0.5) / steps * (xs[i] - base)
            avg = avg + _fd_grad(lambda z, i=i: m64(z)[:, target[i]].detach(), point[None], 1e-6)[0] / steps
        np.testing.assert_allclose(ig[i], (xs[i] - base).numpy() * avg, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", ["midpoint", "trapezoid"])
def test_integrated_gradients_completeness(model, x, method):
    """sum(IG) = F(x) - F(baseline): measured median relative error 0.35% (midpoint) and
    0.65% (trapezoid) at 32 steps; the assertion allows 2% median, 10% for 95% of samples,
    and asks the error to shrink with more steps."""
    with torch.no_grad():
        logits = model(torch.from_numpy(x))
        target = logits.argmax(1)
        gap = (logits.gather(1, target[:, None])[:, 0] - model(torch.zeros(1, 1, 8, 8))[0, target]).numpy()
    errors = {}
    for steps in (4, 32):
        ig, delta = integrated_gradients(model, x, steps=steps, method=method, return_delta=True)
        err = ig.reshape(len(x), -1).sum(1) - gap
        np.testing.assert_allclose(delta, err, atol=1e-3)
        errors[steps] = np.abs(err) / np.abs(gap)
    assert np.median(errors[32]) < 0.02 and np.quantile(errors[32], 0.95) < 0.10
    assert np.median(errors[32]) < np.median(errors[4]) / 3


def test_directional_matches_finite_differences_through_encode(model, embedding, experts_embedding, x):
    """Against the public pipeline extract_activations + encode (float32): directional derivatives.

    The digits hold many equal pixels, so max pooling has ties where the map is not
    differentiable; a little noise on the images breaks them."""
    rng = np.random.default_rng(0)
    x = (x[:5] + 0.01 * rng.normal(size=x[:5].shape)).astype(np.float32)
    for emb in (embedding, experts_embedding):
        direction = np.array([0.6, -0.8])
        g = directional_saliency(model, "latent", emb, x[:5], direction)
        assert g.shape == x[:5].shape and g.dtype == np.float32
        eps = 2e-3
        for _ in range(3):
            v = rng.normal(size=x[:5].shape).astype(np.float32)
            v /= np.linalg.norm(v.reshape(5, -1), axis=1)[:, None, None, None]

            def f(z, emb=emb):
                return emb.encode(extract_activations(model, "latent", z)).astype(np.float64) @ direction

            fd = (f(x[:5] + eps * v) - f(x[:5] - eps * v)) / (2 * eps)
            analytic = (g * v).reshape(5, -1).sum(1)
            np.testing.assert_allclose(analytic, fd, rtol=0.05, atol=0.02 * np.abs(fd).max())


def test_directional_matches_finite_differences_float64(model, experts_embedding, x):
    """Every pixel, in float64 (model and encoder copies in double precision)."""
    m64 = _double(model)
    emb = copy.deepcopy(experts_embedding)
    emb.encoder_.double()
    xs = torch.from_numpy(x[:3]).double()
    direction = np.array([1.0, 2.0])
    g = directional_saliency(m64, "latent", emb, xs, direction)

    def f(z):
        with capture(m64, "latent") as captured, torch.no_grad():
            m64(z)
            return emb.encoder_(captured[-1]) @ torch.from_numpy(direction)

    np.testing.assert_allclose(g, _fd_grad(f, xs, 1e-6), rtol=1e-5, atol=1e-6)


def test_directional_per_sample_directions_and_linearity(model, embedding, x):
    D = np.random.default_rng(1).normal(size=(len(x[:6]), 2))
    g = directional_saliency(model, "latent", embedding, x[:6], D, batch_size=4)
    gx = directional_saliency(model, "latent", embedding, x[:6], [1.0, 0.0])
    gy = directional_saliency(model, "latent", embedding, x[:6], [0.0, 1.0])
    np.testing.assert_allclose(g, D[:, 0, None, None, None] * gx + D[:, 1, None, None, None] * gy,
                               rtol=1e-4, atol=1e-5)


def test_directional_forward_stops_at_layer(model, embedding, x):
    calls = {"head": 0, "features": 0}
    handles = [model.head.register_forward_hook(lambda *a: calls.__setitem__("head", calls["head"] + 1)),
               model.features.register_forward_hook(lambda *a: calls.__setitem__("features",
                                                                                 calls["features"] + 1))]
    try:
        directional_saliency(model, "latent", embedding, x[:10], [1.0, 0.0], batch_size=4)
    finally:
        for h in handles:
            h.remove()
    assert calls == {"head": 0, "features": 3}
    assert not model.latent._forward_hooks  # our hook is gone


# ----------------------------------------------------------- side effects
@pytest.mark.parametrize("which", ["grad", "ig", "directional"])
def test_model_inputs_and_params_untouched(model, embedding, x, which):
    m = copy.deepcopy(model).train()
    m.latent.eval()  # mixed modes must come back as they were
    modes = {name: mod.training for name, mod in m.named_modules()}
    state = {k: v.clone() for k, v in m.state_dict().items()}
    xt = torch.from_numpy(x[:8].copy())
    x_np, x_before = x[:8].copy(), x[:8].copy()
    for inp in (x_np, xt):
        if which == "grad":
            gradient_saliency(m, inp)
        elif which == "ig":
            integrated_gradients(m, inp, steps=4)
        else:
            directional_saliency(m, "latent", embedding, inp, [1.0, 1.0])
    assert {name: mod.training for name, mod in m.named_modules()} == modes
    assert all(p.grad is None and p.requires_grad for p in m.parameters())
    assert all(torch.equal(v, state[k]) for k, v in m.state_dict().items())
    np.testing.assert_array_equal(x_np, x_before)
    np.testing.assert_array_equal(xt.numpy(), x_before)
    assert not xt.requires_grad
    assert all(p.grad is None for p in embedding.encoder_.parameters())


def test_eval_mode_is_used_for_the_maps(x):
    """Dropout in train mode would make the maps random; in eval mode they repeat."""
    m = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Dropout(0.5), nn.ReLU(), nn.Linear(32, 10)).train()
    np.testing.assert_array_equal(gradient_saliency(m, x[:5]), gradient_saliency(m, x[:5]))
    assert m.training


# ---------------------------------------------------- Adebayo et al.'s sanity check
def test_randomised_model_gives_different_maps(model, embedding, x):
    rand = seeded_model(random_state=1)
    maps = {
        "abs_grad": lambda m: gradient_saliency(m, x),
        "grad": lambda m: gradient_saliency(m, x, absolute=False),
        "ig": lambda m: integrated_gradients(m, x, steps=16),
        "directional": lambda m: directional_saliency(m, "latent", embedding, x, [1.0, 0.0]),
    }
    for name, f in maps.items():
        trained = f(model)
        r = np.nanmean(rank_correlation(trained, f(rand)))
        assert r < RANDOMISATION_LEVELS[name], (name, r)
        # the check can fail: a slightly perturbed trained model keeps its maps
        near = copy.deepcopy(model)
        with torch.no_grad():
            for p in near.parameters():
                p.mul_(1 + 1e-3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
        assert np.nanmean(rank_correlation(trained, f(near))) > 0.9, name


# ------------------------------------------------------------------ helpers
def test_rank_correlation_matches_scipy_and_mean_map():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 1, 4, 4))
    B = A + rng.normal(size=A.shape)
    B[2] = np.round(B[2])  # ties
    expected = [spearmanr(a.ravel(), b.ravel())[0] for a, b in zip(A, B)]
    np.testing.assert_allclose(rank_correlation(A, B), expected)
    np.testing.assert_allclose(rank_correlation(A, A), 1.0)
    np.testing.assert_allclose(rank_correlation(A, -A), -1.0)
    C = B.copy()
    C[1] = 0
    assert np.isnan(rank_correlation(A, C)[1]) and np.isfinite(np.delete(rank_correlation(A, C), 1)).all()
    with pytest.raises(ValueError, match="same shape"):
        rank_correlation(A, B[:5])
    np.testing.assert_allclose(mean_map(A), A.mean(0))
    norm = mean_map(np.stack([np.ones((2, 2)), 10 * np.ones((2, 2))]), normalize=True)
    np.testing.assert_allclose(norm, np.ones((2, 2)))


def test_directions():
    P = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [10.0, 12.0], [100.0, 100.0]])
    labels = np.array(["a", "a", "b", "b", "c"])
    d = direction_between(P, labels, "a", "b")
    np.testing.assert_allclose(d, np.array([9.0, 11.0]) / np.hypot(9, 11))
    np.testing.assert_allclose(direction_between(P, labels, "b", "a"), -d)
    np.testing.assert_allclose(direction_between(P, labels, "a", "b", center="median"), d)
    np.testing.assert_allclose(direction_towards(P[:2], [1.0, 5.0]), [0.0, 1.0])
    per = direction_towards(P[:2], [1.0, 5.0], per_point=True)
    np.testing.assert_allclose(np.linalg.norm(per, axis=1), 1.0)
    np.testing.assert_allclose(per[0], np.array([1.0, 5.0]) / np.hypot(1, 5))
    with pytest.raises(ValueError, match="'z' has no points"):
        direction_between(P, labels, "a", "z")
    with pytest.raises(ValueError, match="coincide"):
        direction_between(np.array([[0.0, 0.0], [2.0, 2.0], [1.0, 1.0]]), ["a", "a", "b"], "a", "b")
    with pytest.raises(ValueError, match="lie on the target"):
        direction_towards(P[:2], [0.0, 0.0], per_point=True)
    with pytest.raises(ValueError, match="shape \\(2,\\)"):
        direction_towards(P, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="labels must have shape"):
        direction_between(P, labels[:3], "a", "b")
    with pytest.raises(ValueError, match="same class \\('a'\\); pass two different"):
        direction_between(P, labels, "a", "a")


def test_direction_between_selections():
    P = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [10.0, 12.0], [100.0, 100.0]])
    d = direction_between_selections(P, [0, 1], [2, 3])
    np.testing.assert_allclose(d, np.array([9.0, 11.0]) / np.hypot(9, 11))
    mask = np.array([False, False, True, True, False])
    np.testing.assert_allclose(direction_between_selections(P, np.array([0, 1]), mask), d)
    np.testing.assert_allclose(direction_between_selections(P, [2, 3], [0, 1]), -d)
    # an outlier in a: the median (2, 0) ignores it, the mean does not
    np.testing.assert_allclose(direction_between_selections(P, [0, 1, 4], [2, 3], center="median"),
                               np.array([8.0, 11.0]) / np.hypot(8, 11))
    with pytest.raises(ValueError, match="a is an empty selection"):
        direction_between_selections(P, [], [2, 3])
    with pytest.raises(ValueError, match="b is an empty selection"):
        direction_between_selections(P, [0], np.zeros(5, bool))
    with pytest.raises(ValueError, match="select the same points"):
        direction_between_selections(P, [0, 1], [1, 0])
    with pytest.raises(ValueError, match="outside \\[0, 4\\]"):
        direction_between_selections(P, [0, 5], [2])
    with pytest.raises(ValueError, match="boolean mask must have shape \\(5,\\)"):
        direction_between_selections(P, [True, False], [2])
    with pytest.raises(ValueError, match="coincide"):
        direction_between_selections(np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]]), [0, 1], [2])


def _linear_model_and_encoder():
    """A linear classifier (its layer ``latent`` = W1 x + c1) and a fitted-looking linear encoder (W2 h + c2)."""
    torch.manual_seed(0)  # test-only weights
    model = nn.Sequential(OrderedDict(latent=nn.Linear(3, 4), head=nn.Linear(4, 2))).double().eval()
    embedding = ParametricTSNE()
    embedding.encoder_ = nn.Linear(4, 2).double().eval()
    embedding.n_features_in_ = 4
    return model, embedding


def test_directional_sign_from_a_toward_b_on_a_linear_model():
    """Positive saliency moves a point from a toward b: the map is d<Y, c_b - c_a>/dX / |c_b - c_a|,
    W1^T W2^T u with u the unit vector from a's centre to b's; seed 002's formula dY/dX . (a - b) is its negative."""
    model, embedding = _linear_model_and_encoder()
    W1, W2 = model.latent.weight.detach().numpy(), embedding.encoder_.weight.detach().numpy()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    labels = np.repeat(["a", "b"], 20)
    X[labels == "b"] += 3 * rng.normal(size=3)  # b's inputs elsewhere, so the centres differ
    encode = lambda inputs: embedding.encoder_(model.latent(torch.from_numpy(inputs))).detach().numpy()
    Y = encode(X)
    c_a, c_b = Y[labels == "a"].mean(0), Y[labels == "b"].mean(0)
    u = direction_between(Y, labels, "a", "b")
    np.testing.assert_allclose(u, (c_b - c_a) / np.linalg.norm(c_b - c_a))

    saliency = directional_saliency(model, "latent", embedding, X[labels == "a"], u)
    by_hand = W1.T @ W2.T @ u
    np.testing.assert_allclose(saliency, np.broadcast_to(by_hand, saliency.shape), rtol=1e-10)
    seed_002 = W1.T @ W2.T @ (c_a - c_b)  # dY/dX . (a - b), with the classes' centres for a and b
    assert np.all(np.sign(saliency[0]) == -np.sign(seed_002))

    # a step along the map moves every point of a, and a's centre, toward b's centre
    moved = encode(X[labels == "a"] + 0.1 * saliency)
    assert np.all((moved - Y[labels == "a"]) @ u > 0)
    assert np.linalg.norm(moved.mean(0) - c_b) < np.linalg.norm(c_a - c_b)


# ------------------------------------------------------------------- errors
def test_errors(model, embedding, x):
    with pytest.raises(ValueError, match="no layer named 'nope'.*latent"):
        directional_saliency(model, "nope", embedding, x[:2], [1.0, 0.0])
    with pytest.raises(ValueError, match="'features' has 128 features, but the embedding was fitted on 32"):
        directional_saliency(model, "features", embedding, x[:2], [1.0, 0.0])
    with pytest.raises(NotFittedError, match="fit"):
        directional_saliency(model, "latent", ParametricTSNE(), x[:2], [1.0, 0.0])
    with pytest.raises(TypeError, match="ParametricTSNE"):
        directional_saliency(model, "latent", np.eye(2), x[:2], [1.0, 0.0])
    for bad, msg in (([0.0, 0.0], "non-zero"), ([np.nan, 1.0], "finite"), ([1.0, 2.0, 3.0], "shape"),
                     (np.ones((3, 2)), "shape"), ("up", "numeric")):
        with pytest.raises((ValueError, TypeError), match=msg):
            directional_saliency(model, "latent", embedding, x[:2], bad)
    with pytest.raises(ValueError, match="model has 10 classes"):
        gradient_saliency(model, x[:2], target=10)
    with pytest.raises(ValueError, match="shape \\(2,\\)"):
        gradient_saliency(model, x[:2], target=[1, 2, 3])
    with pytest.raises(ValueError, match="leading sample axis"):
        gradient_saliency(model, x[0, 0, 0])
    with pytest.raises(ValueError, match="NaN or inf"):
        gradient_saliency(model, np.full((1, 1, 8, 8), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="could not run on inputs of shape \\(1, 12, 12\\)"):
        gradient_saliency(model, np.zeros((2, 1, 12, 12), dtype=np.float32))
    with pytest.raises(ValueError, match="baseline must have shape"):
        integrated_gradients(model, x[:2], baseline=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="method"):
        integrated_gradients(model, x[:2], method="simpson")
    with pytest.raises(ValueError, match="batch_size"):
        gradient_saliency(model, x[:2], batch_size=0)
    with pytest.raises(TypeError, match="nn.Module"):
        gradient_saliency(lambda z: z, x[:2])
