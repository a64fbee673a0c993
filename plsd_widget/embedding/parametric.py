"""Parametric t-SNE: a network ``E`` trained so that ``E(X)`` is a t-SNE embedding of ``X``."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin

from plsd_widget._validation import NotFittedError, as_float_array, check_positive_int
from plsd_widget.devices import resolve_device
from plsd_widget.embedding import distil
from plsd_widget.embedding.affinity import check_perplexity, joint_probabilities
from plsd_widget.embedding.encoders import LocalExpertsEncoder, TSNEEncoder, encoder_from_config
from plsd_widget.embedding.edges import edges_from_csr
from plsd_widget.embedding.fft_gradient import tsne_gradient_fft
from plsd_widget.embedding.layout import EARLY_ITER, LATE_ITER, tsne_layout
from plsd_widget.embedding.locality import in_original_order, permuted_csr, z_order
from plsd_widget.embedding.losses import tsne_kl_loss
from plsd_widget.embedding.neighbour_offsets import OffsetLookup
from plsd_widget.progress import progress_bar

logger = logging.getLogger(__name__)

_FORMAT = "plsd_widget.ParametricTSNE"
#: Version 2 added the encoder's ``out_scale`` buffer (1 in version-1 files); version 3
#: the encoder's kind (``LocalExpertsEncoder`` for scheme "distil") and ``offsets_``;
#: version 4 ``X_fit_`` (scheme "distil").
_FORMAT_VERSION = 4
_DEFAULT_FILE_STEM = "parametric_tsne"
_TRANSFORM_BATCH = 8192
_SCHEMES = ("auto", "distil", "batch", "full")
#: ``n_epochs=None`` means this many KL epochs, or this many regression epochs for "distil".
_DEFAULT_EPOCHS = {"batch": 300, "full": 300, "distil": 30}
#: ``hidden=None`` means these layer widths: the MLP trained on the KL divergence, or the
#: trunk of the local-experts encoder of scheme "distil". For "distil" on MNIST (with the
#: neighbour offsets of ``transform``), (256, 128) placed test points as well as (512, 256)
#: at 20k and 0.1 points worse at 60k, at half the network's fit time.
_DEFAULT_HIDDEN = {"kl": (300, 100), "distil": (256, 128)}
#: openTSNE scales its PCA initialisation to this standard deviation.
_LAYOUT_INIT_STD = 1e-4
#: Standard deviation of the first coordinate of the PCA target used for pretraining.
#: openTSNE scales its PCA initialisation to 1e-4, which suits free coordinates. For
#: the network, with the default schedule on the digits data, a target std of 1
#: ended at KL 0.85 against 0.98 for 1e-4 or 1e-2 and 1.09 for 3.
PCA_INIT_STD = 1.0


def _pca_target(X: np.ndarray, n_components: int) -> np.ndarray:
    """Leading principal components of ``X``, signs fixed, first column with std ``PCA_INIT_STD``."""
    Xc = X.astype(np.float64) - X.mean(axis=0)
    _, eigvec = np.linalg.eigh(Xc.T @ Xc)
    components = eigvec[:, ::-1][:, :n_components]
    if components.shape[1] < n_components:  # fewer features than components
        components = np.pad(components, ((0, 0), (0, n_components - components.shape[1])))
    signs = np.sign(components[np.abs(components).argmax(axis=0), range(n_components)])
    target = Xc @ (components * np.where(signs == 0, 1.0, signs))
    std0 = target[:, 0].std()
    return (target * (PCA_INIT_STD / std0 if std0 > 0 else 1.0)).astype(np.float32)


def _sample_neighbors(P, cum: np.ndarray, anchors: np.ndarray, per_anchor: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Draw ``per_anchor`` neighbours of each anchor from its row of CSR ``P`` (with replacement).

    ``cum`` is ``[0, cumsum(P.data)]``, so row ``i`` covers ``cum[indptr[i]:indptr[i + 1] + 1]``.
    """
    start = P.indptr[anchors].repeat(per_anchor)
    stop = P.indptr[anchors + 1].repeat(per_anchor)
    u = rng.random(start.size)
    targets = cum[start] + u * (cum[stop] - cum[start])
    pos = np.clip(np.searchsorted(cum, targets, side="left") - 1, start, stop - 1)
    return P.indices[pos]


def _edges(P_sub, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    coo = P_sub.tocoo()
    return (torch.as_tensor(coo.row, dtype=torch.int64, device=device),
            torch.as_tensor(coo.col, dtype=torch.int64, device=device),
            torch.as_tensor(coo.data, dtype=torch.float32, device=device))


def _embed(encoder: torch.nn.Module, X_t: torch.Tensor) -> np.ndarray:
    """Run ``encoder`` on ``X_t`` in batches without gradients; float32 numpy out."""
    with torch.no_grad():
        parts = [encoder(X_t[i:i + _TRANSFORM_BATCH]) for i in range(0, X_t.shape[0], _TRANSFORM_BATCH)]
    return torch.cat(parts).float().cpu().numpy()


class ParametricTSNE(TransformerMixin, BaseEstimator):
    """Parametric t-SNE: a network ``E`` trained so that ``E(X)`` is a t-SNE embedding of ``X``.

    Training starts from the sparse symmetric t-SNE matrix ``P`` over all training
    points (kNN with ``k = 3 * perplexity``, per-point perplexity calibration; see
    :func:`~plsd_widget.embedding.joint_probabilities`). What follows depends on
    the size of the data and on ``scheme``:

    * ``n_samples <= batch_size`` (any scheme): an MLP (:class:`~plsd_widget.embedding.encoders.TSNEEncoder`)
      gets **PCA pretraining** (the paper's step 4: for ``pretrain_epochs`` epochs
      the network is regressed onto the first ``n_components`` principal components
      of ``X``, scaled so the first has standard deviation ``PCA_INIT_STD = 1``), then
      **exact full-batch t-SNE**: Adam on the KL divergence between ``P`` and the
      Student-t ``Q`` over all pairs, O(n^2) per step, the attractive term
      multiplied by ``early_exaggeration`` during the first
      ``early_exaggeration_fraction`` of the ``n_epochs`` epochs. ``embedding_`` is
      ``E(X)``.
    * ``scheme="distil"`` (larger data, 2-D; what ``"auto"`` picks in 2-D): first a **non-parametric
      t-SNE layout** of ``P``: free coordinates from the PCA (scaled to standard
      deviation 1e-4), optimised with openTSNE's schedule (250 iterations with
      exaggeration 12, then 500 without; momentum and gains; see
      :func:`~plsd_widget.embedding.layout.tsne_layout`) and the grid gradient of
      :func:`~plsd_widget.embedding.fft_gradient.tsne_gradient_fft`. Its quality
      matches openTSNE's, and it is ``embedding_``. Then a **local-experts network**
      (:class:`~plsd_widget.embedding.encoders.LocalExpertsEncoder`: an MLP trunk of
      widths ``hidden``, a softmax gate over k-means regions of the layout, one linear
      head per region) learns to map every point to its layout position: mean
      squared error plus the gate's cross-entropy, Gaussian input noise, Adam with a
      one-cycle schedule, ``n_epochs`` epochs in mini-batches of 256 to 2048 points
      that grow with the data (the peak learning rate ``learning_rate`` times
      ``sqrt(batch / 256)``; see :func:`~plsd_widget.embedding.distil.batch_for`). As with
      openTSNE, the training points' own positions (the layout) and the network's
      positions for them differ a little; that difference is ``offsets_``
      (``embedding_ = E(X) + offsets_``). :meth:`transform` places a new point ``x``
      at ``E(x)`` plus the offset of its nearest training point among the 16 that
      the network puts nearest to it (see
      :mod:`~plsd_widget.embedding.neighbour_offsets`; it keeps ``X_fit_`` for
      that); :meth:`encode` gives the network alone. A
      :class:`~plsd_widget.session.Session` shows ``embedding_`` and carries the
      offsets along while fine-tuning moves ``E(C_m(x))``. No PCA pretraining;
      ``early_exaggeration`` and ``early_exaggeration_fraction`` are not used.
    * ``scheme="batch"`` (larger data; what ``"auto"`` picks in other dimensions): an MLP with PCA pretraining, then KL epochs
      of neighbourhood mini-batches: each batch is ``batch_size // 4`` random
      *anchor* points plus 3 neighbours per anchor drawn from the anchor's row of
      ``P``; ``P`` is restricted to the batch and renormalised, and the exact KL
      of that sub-problem is minimised. Unlike random batches (the original
      recipe, in which a batch holds almost none of a point's neighbours once
      ``n`` is large, so the attraction vanishes and the map collapses), every
      batch contains neighbourhoods. One epoch makes every point an anchor once;
      cost O(batch_size^2) per step. Fast, and any ``n_components``.
      ``embedding_`` is ``E(X)``.
    * ``scheme="full"`` (larger data, 2-D): an MLP with PCA pretraining, then one
      full-batch step per epoch with t-SNE's true gradient: all points go through the
      encoder, ``dC/dY`` is computed by
      :func:`~plsd_widget.embedding.fft_gradient.tsne_gradient_fft` (attraction
      exactly from the sparse ``P``, repulsion and the normaliser by FFT
      convolution on a grid, as in FIt-SNE; O(n + nnz(P) + G^2 log G), about 1-4%
      gradient error) and back-propagated into the weights with
      ``Y.backward(dC/dY)``. ``embedding_`` is ``E(X)``.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the embedding.
    perplexity : float, default=50.0
        t-SNE perplexity; needs ``n_samples >= 3 * perplexity + 1`` (151 for the
        default; pass a smaller one for less data).
    hidden : tuple of int or None, default=None
        Hidden layer widths of the MLP, or of the trunk of the local-experts
        network. ``None`` means ``(300, 100)`` for training on the KL divergence and
        ``(256, 128)`` for scheme "distil".
    n_epochs : int or None, default=None
        KL-training epochs (one step per epoch for data up to ``batch_size`` and
        for ``scheme="full"``), or regression epochs for ``scheme="distil"``.
        ``None`` means 300 KL epochs, or 30 regression epochs.
    batch_size : int, default=4096
        Data up to this size is trained full-batch on the exact KL divergence;
        larger data as ``scheme`` says. For ``scheme="batch"``, batches of about
        this many points; cost per step is O(batch_size^2).
    learning_rate : float, default=5e-3
        Adam learning rate (also used for pretraining; the peak of the one-cycle
        schedule for ``scheme="distil"``).
    pretrain_epochs : int, default=20
        PCA regression epochs before KL training; 0 skips pretraining.
    early_exaggeration : float, default=4.0
        Factor on the attractive forces early in KL training of the network.
        openTSNE and scikit-learn use 12 for free coordinates (as the layout of
        scheme "distil" does); for the network, 4 reached a lower final KL
        divergence and better neighbourhoods within the same number of epochs on
        the digits data.
    early_exaggeration_fraction : float, default=0.25
        Fraction of ``n_epochs`` run with exaggeration.
    scheme : {"auto", "distil", "batch", "full"}, default="auto"
        How data larger than ``batch_size`` is trained (see above); ``"auto"`` is
        ``"distil"`` for ``n_components=2`` and ``"batch"`` otherwise.
    device : {"auto", "cpu", "cuda", "mps"} or torch.device, default="auto"
        Where to train; ``"auto"`` picks CUDA, then MPS, then CPU.
    random_state : int, numpy.random.Generator or None, default=None
        Seed for weights, batches, noise, regions and the kNN search. Fits with the
        same seed on CPU give identical results. Global random state is never touched.
    verbose : bool, default=False
        Show a tqdm progress bar and log timings at INFO level.
    callback : callable, optional
        ``callback(step, logs) -> bool``; returning ``True`` stops training
        (openTSNE's contract). ``logs["embedding"]`` is always the current
        float32 embedding of the training data, of shape (n_samples,
        n_components), and ``logs["stage"]`` says what is being trained:

        * ``"kl"``: after every KL epoch (``step`` is the epoch), with
          ``"epoch"``, ``"n_steps"``, ``"loss"`` (mean loss of the epoch) and
          ``"exaggeration"``;
        * ``"layout"`` (scheme "distil"): every 50 layout iterations (``step`` is
          the iteration), with ``"iteration"``, ``"loss"`` (KL divergence
          estimate) and ``"exaggeration"``; the embedding is the layout. ``True``
          here ends the layout early, and the network is still fitted to it;
        * ``"encoder"`` (scheme "distil"): after every regression epoch, with
          ``"epoch"``, ``"n_steps"`` and ``"loss"`` (mean squared error in units
          of the layout's standard deviation); the embedding is the network's.

    Attributes
    ----------
    encoder_ : TSNEEncoder or LocalExpertsEncoder
        The trained network, frozen (eval mode, ``requires_grad=False``), on
        ``device_``. A plain ``nn.Module`` mapping float tensors of shape
        (batch, n_features) to (batch, n_components), differentiable with respect
        to its input.
    embedding_ : ndarray of shape (n_samples, n_components), float32
        Embedding of the training data: the layout for scheme "distil", else ``E(X)``.
    offsets_ : ndarray of shape (n_samples, n_components), float32
        ``embedding_ - E(X)``: how far each training point's position is from where
        the network puts it (zeros unless scheme "distil" ran).
    X_fit_ : ndarray of shape (n_samples, n_features), float32, or None
        The training data, kept (scheme "distil" only) so that :meth:`transform` can
        find new points' nearest training points; None otherwise.
    n_features_in_ : int
        Number of features seen during fit.
    kl_divergence_ : float
        KL divergence of ``embedding_`` at the end of training: exact for data up
        to ``batch_size``, the grid estimate for the schemes "full" and "distil",
        the mean batch KL of the last epoch for ``scheme="batch"``.
    n_iter_ : int
        Training epochs run (KL epochs, or regression epochs for "distil"; fewer
        than ``n_epochs`` if a callback stopped).
    device_ : torch.device
        Device the encoder lives on.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X = load_digits().data / 16.0
    >>> tsne = ParametricTSNE(random_state=0).fit(X)  # doctest: +SKIP
    >>> tsne.transform(X[:5]).shape  # doctest: +SKIP
    (5, 2)
    """

    def __init__(self, n_components=2, perplexity=50.0, hidden=None, n_epochs=None,
                 batch_size=4096, learning_rate=5e-3, pretrain_epochs=20, early_exaggeration=4.0,
                 early_exaggeration_fraction=0.25, scheme="auto", device="auto", random_state=None,
                 verbose=False, callback=None):
        self.n_components = n_components
        self.perplexity = perplexity
        self.hidden = hidden
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.pretrain_epochs = pretrain_epochs
        self.early_exaggeration = early_exaggeration
        self.early_exaggeration_fraction = early_exaggeration_fraction
        self.scheme = scheme
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callback = callback

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        check_positive_int(self.n_components, "n_components")
        if self.n_epochs is not None:
            check_positive_int(self.n_epochs, "n_epochs")
        check_positive_int(self.batch_size, "batch_size")
        if self.batch_size < 8:
            raise ValueError(f"batch_size must be at least 8, got {self.batch_size}")
        if isinstance(self.pretrain_epochs, bool) or not isinstance(self.pretrain_epochs, (int, np.integer)) \
                or self.pretrain_epochs < 0:
            raise ValueError(f"pretrain_epochs must be an integer >= 0, got {self.pretrain_epochs!r}")
        if self.hidden is not None:
            hidden = tuple(self.hidden) if isinstance(self.hidden, (tuple, list)) else None
            if hidden is None or any(isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1
                                     for h in hidden):
                raise ValueError(f"hidden must be None or a tuple of positive layer widths, e.g. (300, 100), "
                                 f"got {self.hidden!r}")
        for name in ("learning_rate", "early_exaggeration"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        fraction = self.early_exaggeration_fraction
        if not isinstance(fraction, (int, float, np.floating)) or not 0 <= fraction <= 1:
            raise ValueError(f"early_exaggeration_fraction must be in [0, 1], got {fraction!r}")
        if self.scheme not in _SCHEMES:
            raise ValueError(f"scheme must be one of {_SCHEMES}, got {self.scheme!r}")
        if self.callback is not None and not callable(self.callback):
            raise TypeError(f"callback must be callable as callback(epoch, logs) -> bool, got {self.callback!r}")
        if not (self.random_state is None or isinstance(self.random_state, (int, np.integer, np.random.Generator))) \
                or isinstance(self.random_state, bool):
            raise TypeError(f"random_state must be None, an int or a numpy.random.Generator, got {self.random_state!r}")

    def fit(self, X, y=None):
        """Fit the encoder to ``X``.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for scikit-learn API consistency.

        Returns
        -------
        self : ParametricTSNE
        """
        self._check_params()
        X = as_float_array(X)
        n, n_features = X.shape
        check_perplexity(self.perplexity, n)
        small = n <= self.batch_size  # exact full-batch KL training whatever the scheme
        scheme = self._scheme()
        if scheme in ("full", "distil") and not small and self.n_components != 2:
            raise ValueError(
                f"scheme={scheme!r} on more than batch_size={self.batch_size} points needs "
                f"n_components=2 (its grid gradient is 2-D), got n_components={self.n_components}; use "
                f"scheme='batch' or raise batch_size to {n} for exact full-batch training"
            )
        use_layout = scheme == "distil" and not small
        n_epochs = self.n_epochs if self.n_epochs is not None else _DEFAULT_EPOCHS[scheme if not small else "batch"]
        hidden = tuple(self.hidden) if self.hidden is not None else _DEFAULT_HIDDEN["distil" if use_layout else "kl"]
        if use_layout and not hidden:
            raise ValueError("scheme='distil' needs at least one hidden layer (its trunk), got hidden=(); "
                             "pass e.g. hidden=(256, 128), or scheme='batch' for a linear map")
        log = logger.info if self.verbose else logger.debug
        device = resolve_device(self.device)
        rng = np.random.default_rng(self.random_state)
        generator = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))

        start = time.perf_counter()
        P = joint_probabilities(X, self.perplexity, random_state=rng, verbose=self.verbose, device=device)
        log("affinities of %d points in %.2f s", n, time.perf_counter() - start)
        X_t = torch.from_numpy(X).to(device)

        start = time.perf_counter()
        total = EARLY_ITER + LATE_ITER + n_epochs if use_layout else self.pretrain_epochs + n_epochs
        with progress_bar(total, enabled=self.verbose, desc="ParametricTSNE", unit="step") as bar:
            if use_layout:
                init = _pca_target(X, 2) * (_LAYOUT_INIT_STD / PCA_INIT_STD)
                order = z_order(init) if device.type == "cpu" else None  # see _fit_layout
                if order is not None:
                    P, init = permuted_csr(P, order), init[order]
                edges = edges_from_csr(P, device)
                del P  # the layout needs only its edges (at 1M points P's values alone are ~2 GB)
                layout, kl_divergence = self._fit_layout(edges, torch.from_numpy(init).to(device), order, bar)
                log("layout in %.2f s", time.perf_counter() - start)
                regions = distil.layout_regions(layout.cpu().numpy(), distil.n_experts_for(n),
                                                seed=int(rng.integers(2**31 - 1)))
                encoder = self._new_encoder(LocalExpertsEncoder(n_features, len(regions.centers), hidden), X,
                                            generator, device)
                network_start = time.perf_counter()
                n_iter = self._fit_to_layout(encoder, X_t, layout, regions, n_epochs, rng, bar)
                log("network (%d epochs) in %.2f s", n_iter, time.perf_counter() - network_start)
                embedding = layout.float().cpu().numpy()
            else:
                encoder = self._new_encoder(TSNEEncoder(n_features, self.n_components, hidden), X, generator, device)
                optimizer = torch.optim.Adam(encoder.parameters(), lr=self.learning_rate)
                if self.pretrain_epochs:
                    target = torch.from_numpy(_pca_target(X, self.n_components)).to(device)
                    self._pretrain(encoder, optimizer, X_t, target, rng, bar)
                n_iter, kl_divergence = self._train_kl(encoder, optimizer, X_t, P, n_epochs, rng, bar)
                optimizer.zero_grad(set_to_none=True)
                embedding = None
        log("training (%d epochs) in %.2f s", n_iter, time.perf_counter() - start)

        encoder.eval().requires_grad_(False)
        self.encoder_ = encoder
        self.n_iter_ = n_iter
        self.kl_divergence_ = kl_divergence
        self.device_ = device
        self.n_features_in_ = n_features
        network = _embed(encoder, X_t)
        self.embedding_ = network if embedding is None else embedding
        self.offsets_ = self.embedding_ - network
        self.X_fit_ = X.copy() if use_layout else None
        self._offset_lookup = None
        return self

    def _scheme(self) -> str:
        """The scheme that ``scheme="auto"`` stands for: "distil" in 2-D, else "batch"."""
        if self.scheme == "auto":
            return "distil" if self.n_components == 2 else "batch"
        return self.scheme

    @staticmethod
    def _new_encoder(encoder, X: np.ndarray, generator: torch.Generator, device):
        """Initialise ``encoder``'s weights from ``generator`` and its input scaling from ``X``."""
        encoder.reset_parameters(generator)
        encoder.mean.copy_(torch.from_numpy(X.mean(axis=0)))
        scale = float(np.sqrt(X.var(axis=0).mean()))
        encoder.scale.fill_(scale if scale > 0 else 1.0)
        return encoder.to(device).train()

    def _batches(self, n: int, rng: np.random.Generator):
        """Index batches of one pretraining epoch: a shuffled partition of range(n)."""
        if n <= self.batch_size:
            return [slice(None)]
        order = rng.permutation(n)
        return [order[i:i + self.batch_size] for i in range(0, n, self.batch_size)]

    @staticmethod
    def _regress(encoder, optimizer, X_t, target, batches) -> float:
        """One epoch of mean-squared-error regression of ``encoder(X_t)`` onto ``target``.

        ``target`` is in units of ``encoder.out_scale``; returns the epoch's mean loss.
        """
        losses = []
        for idx in batches:
            idx_t = idx if isinstance(idx, slice) else torch.from_numpy(idx).to(X_t.device)
            loss = (encoder(X_t[idx_t]) / encoder.out_scale - target[idx_t]).pow(2).sum(dim=1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        return torch.stack(losses).mean().item()

    def _pretrain(self, encoder, optimizer, X_t, target, rng, bar) -> None:
        for _ in range(self.pretrain_epochs):
            mse = self._regress(encoder, optimizer, X_t, target, self._batches(X_t.shape[0], rng))
            bar.set_postfix(stage="pca", mse=f"{mse:.3g}", refresh=False)
            bar.update()

    def _fit_layout(self, edges, init: torch.Tensor, order, bar) -> tuple[torch.Tensor, float]:
        """Free-coordinate t-SNE of ``P``'s ``edges`` (scheme "distil", stage 1): the layout and its KL divergence.

        ``edges`` and ``init`` may be for the points in ``order``, not their own: on the
        CPU the layout runs with them sorted along a Z-order curve of its start, which
        keeps neighbours near each other in memory (:mod:`~plsd_widget.embedding.locality`).
        What this returns, and what the callback sees, is in the points' own order.
        """
        done = 0

        def report(iteration, kl, exaggeration, Y):
            nonlocal done
            bar.set_postfix(stage="layout", kl=f"{kl:.4f}", exaggeration=exaggeration, refresh=False)
            bar.update(iteration - done)
            done = iteration
            if self.callback is None:
                return False
            logs = {"stage": "layout", "iteration": iteration, "loss": kl, "exaggeration": exaggeration,
                    "embedding": in_original_order(Y.float().cpu(), order).numpy().copy()}
            stop = bool(self.callback(iteration, logs))
            if stop:
                logger.info("callback ended the layout after %d iterations; fitting the encoder to it", iteration)
            return stop

        layout = tsne_layout(edges, init, report=report)
        bar.update(EARLY_ITER + LATE_ITER - done)  # the rest, if a callback ended the layout early
        kl_divergence = tsne_gradient_fft(layout, edges)[1].item()
        return in_original_order(layout, order), kl_divergence

    def _fit_to_layout(self, encoder, X_t, layout, regions, n_epochs, rng, bar) -> int:
        """Fit the local-experts ``encoder`` to ``layout`` (scheme "distil", stage 2); return the epochs run."""
        scale = float(layout.std())
        encoder.out_scale.fill_(scale)
        encoder.centers.copy_(torch.from_numpy(regions.centers / scale))
        target = layout.float() / scale
        labels = torch.from_numpy(regions.labels).to(X_t.device)
        noise = torch.Generator(device=X_t.device).manual_seed(int(rng.integers(2**63 - 1)))
        n = X_t.shape[0]
        regression = distil.Regression(encoder, X_t, target, labels, n_epochs, self.learning_rate, noise)
        epochs_run = n_epochs
        for epoch in range(1, n_epochs + 1):
            mse = regression.epoch(rng.permutation(n))
            bar.set_postfix(stage="encoder", mse=f"{mse:.3g}", refresh=False)
            bar.update()
            if self.callback is not None:
                logs = {"stage": "encoder", "epoch": epoch, "n_steps": regression.steps_done, "loss": mse,
                        "embedding": _embed(encoder, X_t)}
                if self.callback(epoch, logs):
                    logger.info("callback stopped training after %d epochs", epoch)
                    epochs_run = epoch
                    break
        regression.close()
        encoder.sharpen_gate(distil.GATE_SHARPENING)
        return epochs_run

    def _kl_batches(self, P, full_edges, rng: np.random.Generator, device):
        """Yield ``(index, edges)`` batches of one KL epoch (see the class docstring)."""
        if full_edges is not None:
            yield slice(None), full_edges
            return
        n = P.shape[0]
        cum = np.concatenate([[0.0], np.cumsum(P.data)])
        per_anchor = 3
        n_anchors = max(1, self.batch_size // (1 + per_anchor))
        order = rng.permutation(n)
        for i in range(0, n, n_anchors):
            anchors = order[i:i + n_anchors]
            neighbours = _sample_neighbors(P, cum, anchors, per_anchor, rng)
            idx = np.unique(np.concatenate([anchors, neighbours]))
            yield torch.from_numpy(idx).to(device), _edges(P[idx][:, idx], device)

    def _steps(self, encoder, X_t, P, full_edges, grid_edges, exaggeration, rng):
        """Run backward for each step of one KL epoch, yielding its loss before the optimiser step."""
        if grid_edges is not None:  # whole data set, FFT-accelerated exact gradient
            Y = encoder(X_t)
            grad, kl = tsne_gradient_fft(Y, grid_edges, exaggeration=exaggeration)
            Y.backward(gradient=grad)
            yield kl
            return
        for idx, edges in self._kl_batches(P, full_edges, rng, X_t.device):
            loss = tsne_kl_loss(encoder(X_t[idx]), edges, exaggeration=exaggeration)
            loss.backward()
            yield loss.detach()

    def _train_kl(self, encoder, optimizer, X_t, P, n_epochs, rng, bar) -> tuple[int, float]:
        """Run the KL epochs; return (epochs run, final KL divergence)."""
        small = P.shape[0] <= self.batch_size
        full_edges = _edges(P, X_t.device) if small else None
        grid_edges = edges_from_csr(P, X_t.device) if self._scheme() == "full" and not small else None
        n_early = round(self.early_exaggeration_fraction * n_epochs)
        n_steps = 0
        for epoch in range(n_epochs):
            exaggeration = float(self.early_exaggeration) if epoch < n_early else 1.0
            losses = []
            optimizer.zero_grad(set_to_none=True)
            for loss in self._steps(encoder, X_t, P, full_edges, grid_edges, exaggeration, rng):
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss)
                n_steps += 1
            loss_value = torch.stack(losses).mean().item()
            bar.set_postfix(stage="kl", loss=f"{loss_value:.4f}", exaggeration=exaggeration, refresh=False)
            bar.update()
            if self.callback is not None:
                logs = {"stage": "kl", "epoch": epoch + 1, "n_steps": n_steps, "loss": loss_value,
                        "exaggeration": exaggeration, "embedding": _embed(encoder, X_t)}
                if self.callback(epoch + 1, logs):
                    logger.info("callback stopped training after %d epochs", epoch + 1)
                    break
        if full_edges is not None:  # exact final KL, without exaggeration
            with torch.no_grad():
                loss_value = tsne_kl_loss(encoder(X_t), full_edges).item()
        elif grid_edges is not None:  # grid estimate of the final KL, without exaggeration
            with torch.no_grad():
                loss_value = tsne_gradient_fft(encoder(X_t), grid_edges)[1].item()
        elif exaggeration != 1.0:  # stopped early: the batch losses were exaggerated
            loss_value = float("nan")
        return epoch + 1, loss_value

    # --------------------------------------------------------------- inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "encoder_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(X) first"
            )

    def _check_input(self, X) -> np.ndarray:
        """``X`` as a float32 array, after checking the model is fitted and the width matches."""
        self._check_fitted()
        X = as_float_array(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} was fitted with "
                f"{self.n_features_in_}; pass data from the same layer/feature set"
            )
        return X

    def encode(self, X) -> np.ndarray:
        """The network's own embedding ``E(X)``, without the offsets of :meth:`transform`.

        Takes and returns what :meth:`transform` does.
        """
        return _embed(self.encoder_, torch.from_numpy(self._check_input(X)).to(self.device_))

    def transform(self, X) -> np.ndarray:
        """Embed ``X``: ``E(X)``, plus training neighbours' offsets for scheme "distil".

        With ``X_fit_`` (scheme "distil"), each point is moved by the offset of its
        nearest training point among the 16 whose network positions are nearest to
        its own (:class:`~plsd_widget.embedding.neighbour_offsets.OffsetLookup`), so
        a training point lands on its ``embedding_`` position and a new point near
        its input-space neighbours' positions. Otherwise this is :meth:`encode`.
        The neighbours are looked up among ``X_fit_``: for activations of a classifier
        fine-tuned since ``fit``, use :meth:`encode` (plus ``offsets_`` for the training
        points), as :class:`~plsd_widget.session.Session` does.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            Data with the features the model was fitted on.

        Returns
        -------
        Y : ndarray of shape (n_samples, n_components), float32
        """
        X = self._check_input(X)
        Y = _embed(self.encoder_, torch.from_numpy(X).to(self.device_))
        if self.X_fit_ is None:
            return Y
        if self._offset_lookup is None:
            self._offset_lookup = OffsetLookup(self.X_fit_, self.embedding_ - self.offsets_, self.offsets_)
        return self._offset_lookup(X, Y)

    def fit_transform(self, X, y=None) -> np.ndarray:
        """Fit to ``X`` and return its embedding ``embedding_``.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        Y : ndarray of shape (n_samples, n_components), float32
        """
        return self.fit(X).embedding_

    # ----------------------------------------------------------- persistence
    @staticmethod
    def _paths(path) -> tuple[Path, Path]:
        path = Path(path)
        if path.is_dir():
            stem = path / _DEFAULT_FILE_STEM
        elif path.suffix in (".safetensors", ".json"):
            stem = path.with_suffix("")
        else:
            stem = path
        return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")

    def save(self, path) -> tuple[Path, Path]:
        """Save the fitted model as safetensors weights plus a JSON config (no pickle).

        Parameters
        ----------
        path : str or os.PathLike
            An existing directory (files ``parametric_tsne.safetensors`` and
            ``parametric_tsne.json`` are written into it) or a file stem
            ``a/b/model`` (writes ``a/b/model.safetensors`` and ``a/b/model.json``;
            a trailing ``.safetensors`` or ``.json`` is dropped first). Missing parent
            directories are created.

        Returns
        -------
        weights_path, config_path : pathlib.Path
            The two files written.

        Notes
        -----
        The ``callback`` is not saved, and a ``random_state`` that is a
        ``numpy.random.Generator`` is saved as ``None``.
        """
        from safetensors.torch import save_file

        self._check_fitted()
        weights_path, config_path = self._paths(path)
        weights_path.parent.mkdir(parents=True, exist_ok=True)
        params = self.get_params()
        params.pop("callback")
        if params["hidden"] is not None:
            params["hidden"] = [int(h) for h in params["hidden"]]
        params["device"] = str(params["device"])
        if not isinstance(params["random_state"], (int, np.integer, type(None))):
            params["random_state"] = None
        tensors = {f"encoder.{k}": v.detach().cpu().contiguous() for k, v in self.encoder_.state_dict().items()}
        tensors["embedding_"] = torch.from_numpy(self.embedding_)
        tensors["offsets_"] = torch.from_numpy(self.offsets_)
        if self.X_fit_ is not None:
            tensors["X_fit_"] = torch.from_numpy(self.X_fit_)
        save_file(tensors, str(weights_path))
        config = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "params": {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()},
            "encoder": self.encoder_.config(),
            "n_features_in_": int(self.n_features_in_),
            "n_iter_": int(self.n_iter_),
            "kl_divergence_": None if math.isnan(self.kl_divergence_) else float(self.kl_divergence_),
        }
        config_path.write_text(json.dumps(config, indent=2))
        return weights_path, config_path

    @classmethod
    def load(cls, path, *, device=None) -> ParametricTSNE:
        """Load a model written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            The directory or file stem given to :meth:`save`.
        device : str or torch.device, optional
            Where to put the encoder; defaults to the saved ``device`` parameter
            (``"auto"`` unless set otherwise).

        Returns
        -------
        ParametricTSNE
            Fitted, with ``encoder_``, ``embedding_`` and the other learned
            attributes restored.

        Raises
        ------
        ValueError
            Naming the file and the problem, for files that :meth:`save` cannot have
            written: a truncated or not-JSON config, unknown or ill-typed entries,
            weights cut short or whose shapes disagree with the config. Nothing is
            allocated from the config's sizes before the weights confirm them.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        weights_path, config_path = cls._paths(path)
        for file in (weights_path, config_path):
            if not file.is_file():
                raise FileNotFoundError(f"{file} not found; pass the directory or file stem given to save()")
        try:
            model, spec, learned = cls._from_config(json.loads(config_path.read_text(encoding="utf-8")))
            n_features, n_components = learned["n_features_in_"], model.n_components
            encoder = encoder_from_config(spec, n_features, n_components, device="meta")
        except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError too
            raise ValueError(f"{config_path} is not a config written by ParametricTSNE.save: {exc}") from exc
        try:
            tensors = load_file(str(weights_path))
        except SafetensorError as exc:
            raise ValueError(f"{weights_path} is not a readable safetensors file ({exc}); was it cut short?") from exc
        state = {k[len("encoder."):]: v for k, v in tensors.items() if k.startswith("encoder.")}
        state.setdefault("out_scale", torch.ones(1))  # version 1
        problem = _state_mismatch(tensors, state, encoder.state_dict(), n_features, n_components)
        if problem:
            raise ValueError(f"{weights_path} does not fit {config_path}: {problem}")
        encoder = encoder.to_empty(device="cpu")
        encoder.load_state_dict(state)
        model.device_ = resolve_device(model.device if device is None else device)
        model.encoder_ = encoder.to(model.device_).eval().requires_grad_(False)
        model.embedding_ = tensors["embedding_"].numpy()
        model.offsets_ = tensors["offsets_"].numpy() if "offsets_" in tensors else np.zeros_like(model.embedding_)
        model.X_fit_ = tensors["X_fit_"].numpy() if "X_fit_" in tensors else None
        model._offset_lookup = None
        for name, value in learned.items():
            setattr(model, name, value)
        return model

    @classmethod
    def _from_config(cls, config) -> tuple[ParametricTSNE, dict, dict]:
        """The unfitted estimator, the encoder's spec and the learned numbers a saved config holds.

        Raises ``ValueError``/``TypeError`` naming what :meth:`save` cannot have written.
        """
        if not isinstance(config, dict):
            raise ValueError(f"expected a JSON object, got {type(config).__name__}")
        version = config.get("format_version", 0)
        if config.get("format") != _FORMAT or not isinstance(version, int) or version > _FORMAT_VERSION:
            raise ValueError(f"it is not a {_FORMAT} file of version <= {_FORMAT_VERSION} "
                             f"(found {config.get('format')!r}, version {version!r})")
        missing = [k for k in ("params", "n_features_in_", "n_iter_", "kl_divergence_") if k not in config]
        if missing:
            raise ValueError(f"it lacks {missing}")
        params = config["params"]
        if not isinstance(params, dict):
            raise ValueError(f"params must be a JSON object, got {type(params).__name__}")
        unknown = set(params) - set(cls._get_param_names())
        if unknown:
            raise ValueError(f"unknown params {sorted(unknown)}")
        if isinstance(params.get("hidden"), list):
            params = {**params, "hidden": tuple(params["hidden"])}
        model = cls(**params)
        model._check_params()
        perplexity = model.perplexity
        if isinstance(perplexity, bool) or not isinstance(perplexity, (int, float)) or not perplexity >= 1:
            raise ValueError(f"perplexity must be a number >= 1, got {perplexity!r}")
        resolve_device(model.device)
        # files before version 3 hold an MLP with the estimator's hidden widths
        spec = config.get("encoder", {"kind": "TSNEEncoder", "hidden": None if model.hidden is None
                                      else list(model.hidden)})
        n_features, n_iter, kl = config["n_features_in_"], config["n_iter_"], config["kl_divergence_"]
        if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
            raise ValueError(f"n_features_in_ must be a positive integer, got {n_features!r}")
        if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 0:
            raise ValueError(f"n_iter_ must be an integer >= 0, got {n_iter!r}")
        if not (kl is None or isinstance(kl, (int, float)) and not isinstance(kl, bool)):
            raise ValueError(f"kl_divergence_ must be a number or null, got {kl!r}")
        learned = {"n_features_in_": n_features, "n_iter_": n_iter,
                   "kl_divergence_": float("nan") if kl is None else float(kl)}
        return model, spec, learned


def _state_mismatch(tensors: dict, encoder_state: dict, expected: dict, n_features: int,
                    n_components: int) -> str | None:
    """What is wrong with a saved file's tensors for an encoder whose state should be ``expected``; None if nothing."""
    if "embedding_" not in tensors:
        return "it has no embedding_"
    n_points = tensors["embedding_"].shape[0]
    shapes = {f"encoder.{k}": tuple(v.shape) for k, v in expected.items()}
    shapes |= {"embedding_": (n_points, n_components), "offsets_": (n_points, n_components),
               "X_fit_": (n_points, n_features)}
    found = {f"encoder.{k}": v for k, v in encoder_state.items()} | {k: v for k, v in tensors.items()
                                                                     if not k.startswith("encoder.")}
    missing = sorted(k for k in shapes if k not in found and k not in ("offsets_", "X_fit_"))  # both optional
    unexpected = sorted(set(found) - set(shapes))
    if missing or unexpected:
        return f"missing tensors {missing}, unexpected tensors {unexpected}"
    for name, tensor in found.items():
        if tuple(tensor.shape) != shapes[name]:
            return f"{name} has shape {tuple(tensor.shape)}, the config asks for {shapes[name]}"
        if not tensor.is_floating_point():
            return f"{name} holds {tensor.dtype}, not floating point numbers"
        if not torch.isfinite(tensor).all():
            return f"{name} holds NaN or inf"
    return None
