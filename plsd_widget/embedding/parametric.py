"""The ``ParametricTSNE`` estimator: parameters, checks, ``fit`` as a few named steps, inference, tags.

The work is done elsewhere: :mod:`~plsd_widget.embedding.plan` resolves the parameters
for the data, :mod:`~plsd_widget.embedding.kl_training` and :mod:`~plsd_widget.embedding.distil`
train, :mod:`~plsd_widget.embedding.persistence` saves and loads.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin

from plsd_widget._validation import NotFittedError, as_float_array, check_positive_int
from plsd_widget.config import DEVICE, PERPLEXITY, RANDOM_STATE
from plsd_widget.embedding import persistence
from plsd_widget.embedding.affinity import check_perplexity, joint_probabilities
from plsd_widget.embedding.distil import fit_distil
from plsd_widget.embedding.encoders import embed
from plsd_widget.embedding.kl_training import fit_kl
from plsd_widget.embedding.neighbour_offsets import OffsetLookup
from plsd_widget.embedding.plan import SCHEMES, plan_training
from plsd_widget.embedding.warm_up import start_warm_up

__all__ = ["MIN_SAMPLES", "ParametricTSNE"]

#: The fewest samples t-SNE can embed (perplexity >= 1 needs 3 neighbours per point).
MIN_SAMPLES = 4


class ParametricTSNE(TransformerMixin, BaseEstimator):
    """Parametric t-SNE: a network ``E`` trained so that ``E(X)`` is a t-SNE embedding of ``X``.

    Training starts from the sparse symmetric t-SNE matrix ``P`` over all training
    points (kNN with ``k = 3 * perplexity``, per-point perplexity calibration; see
    :func:`~plsd_widget.embedding.joint_probabilities`). What follows depends on
    the size of the data and on ``scheme``:

    * ``n_samples <= batch_size`` (any scheme): an MLP
      (:class:`~plsd_widget.embedding.encoders.TSNEEncoder`), first regressed onto the
      PCA of ``X`` for ``pretrain_epochs`` epochs (the paper's step 4;
      :mod:`~plsd_widget.embedding.initialization`), then trained by Adam on the exact
      KL divergence of all pairs, O(n^2) per step, the attraction multiplied by
      ``early_exaggeration`` during the first ``early_exaggeration_fraction`` of the
      ``n_epochs`` epochs (:mod:`~plsd_widget.embedding.kl_training`).
    * ``scheme="distil"`` (larger data, 2-D; what ``"auto"`` picks in 2-D;
      :mod:`~plsd_widget.embedding.distil`): a **non-parametric t-SNE layout** of ``P``
      with openTSNE's schedule and quality (:mod:`~plsd_widget.embedding.layout`), which
      is ``embedding_``; then a **local-experts network**
      (:class:`~plsd_widget.embedding.encoders.LocalExpertsEncoder`: a trunk of widths
      ``hidden``, a softmax gate over k-means regions of the layout, a linear head per
      region) regressed onto it for ``n_epochs`` epochs (Adam on a one-cycle schedule
      peaking at ``learning_rate``). As with openTSNE, the layout and the network's
      positions differ a little: ``offsets_ = embedding_ - E(X)``. :meth:`transform`
      places a new point ``x`` at ``E(x)`` plus the offset of its nearest training
      point among the 16 that the network puts nearest to it
      (:mod:`~plsd_widget.embedding.neighbour_offsets`; it keeps ``X_fit_`` for that);
      :meth:`encode` gives the network alone. A :class:`~plsd_widget.session.Session`
      shows ``embedding_`` and carries the offsets along while fine-tuning moves
      ``E(C_m(x))``. ``pretrain_epochs`` and the exaggeration parameters are not used.
    * ``scheme="batch"`` (larger data; what ``"auto"`` picks in other dimensions): the
      MLP with PCA pretraining, then KL epochs of neighbourhood mini-batches
      (``batch_size // 4`` anchors plus 3 neighbours each drawn from ``P``;
      O(batch_size^2) per step; any ``n_components``).
    * ``scheme="full"`` (larger data, 2-D): the MLP with PCA pretraining, then one step
      per epoch on all points with t-SNE's gradient on a grid
      (:func:`~plsd_widget.embedding.fft_gradient.tsne_gradient_fft`, as in FIt-SNE:
      about 1-4% gradient error), back-propagated with ``Y.backward(dC/dY)``.

    ``embedding_`` is ``E(X)`` for all but scheme "distil". The network computes in
    float32: ``fit`` and ``transform`` take any real numeric array and return float32
    (dense input only; pass ``X.toarray()`` for a sparse one).

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the embedding.
    perplexity : float, default=plsd_widget.config.PERPLEXITY (50.0)
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
    device : {"auto", "cpu", "cuda", "mps"} or torch.device, default=plsd_widget.config.DEVICE ("auto")
        Where to train; ``"auto"`` picks CUDA, then MPS, then CPU.
    random_state : int, numpy.random.Generator or None, default=plsd_widget.config.RANDOM_STATE (0)
        Seed for weights, batches, noise, regions and the kNN search. Fits with the
        same seed on CPU give identical results; ``None`` draws a fresh seed. Global
        random state is never touched.
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
    >>> tsne = ParametricTSNE().fit(X)  # doctest: +SKIP
    >>> tsne.transform(X[:5]).shape  # doctest: +SKIP
    (5, 2)
    """

    def __init__(self, n_components=2, perplexity=PERPLEXITY, hidden=None, n_epochs=None,
                 batch_size=4096, learning_rate=5e-3, pretrain_epochs=20, early_exaggeration=4.0,
                 early_exaggeration_fraction=0.25, scheme="auto", device=DEVICE, random_state=RANDOM_STATE,
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # the network's dtype, whatever comes in
        return tags

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Fit the encoder to ``X``.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            Training data, at least 4 samples (and ``3 * perplexity + 1``).
        y : None
            Ignored; present for scikit-learn API consistency.

        Returns
        -------
        self : ParametricTSNE
        """
        start_warm_up()  # numba compiles transform's kernels in the background while this fits
        self._check_params()
        X = as_float_array(X, min_samples=MIN_SAMPLES)
        check_perplexity(self.perplexity, X.shape[0])
        plan = plan_training(self.get_params(), X.shape[0])
        rng = np.random.default_rng(self.random_state)
        generator = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
        train = fit_distil if plan.mode == "distil" else fit_kl
        # P goes in unnamed: on CPython >= 3.11 the trainer then holds the only reference, and "distil"
        # frees P as soon as it has the layout's edges
        trained = train(X, joint_probabilities(X, self.perplexity, random_state=rng, verbose=self.verbose,
                                               device=plan.device), plan, rng, generator)
        self.encoder_, self.device_, self.n_features_in_ = trained.encoder, plan.device, X.shape[1]
        self.n_iter_, self.kl_divergence_ = trained.n_iter, trained.kl_divergence
        self.embedding_, self.offsets_ = trained.embedding, trained.embedding - trained.network
        self.X_fit_ = X.copy() if plan.mode == "distil" else None
        self._index_offsets()
        return self

    def _index_offsets(self) -> None:
        """Index the training points for :meth:`transform`'s offsets (scheme "distil"), so it changes nothing."""
        self._offset_lookup = None if self.X_fit_ is None else \
            OffsetLookup(self.X_fit_, self.embedding_ - self.offsets_, self.offsets_)

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
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        if self.callback is not None and not callable(self.callback):
            raise TypeError(f"callback must be callable as callback(epoch, logs) -> bool, got {self.callback!r}")
        if not (self.random_state is None or isinstance(self.random_state, (int, np.integer, np.random.Generator))) \
                or isinstance(self.random_state, bool):
            raise TypeError(f"random_state must be None, an int or a numpy.random.Generator, got {self.random_state!r}")

    # --------------------------------------------------------------- inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "encoder_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet; call fit(X) first")

    def _check_input(self, X) -> np.ndarray:
        """``X`` as a float32 array, after checking the model is fitted and the width matches."""
        self._check_fitted()
        X = as_float_array(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} "
                "features as input (the width it was fitted on); pass data from the same layer/feature set"
            )
        return X

    def encode(self, X) -> np.ndarray:
        """The network's own embedding ``E(X)``, without the offsets of :meth:`transform`.

        Takes and returns what :meth:`transform` does.
        """
        return embed(self.encoder_, torch.from_numpy(self._check_input(X)).to(self.device_))

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
        Y = embed(self.encoder_, torch.from_numpy(X).to(self.device_))
        return Y if self._offset_lookup is None else self._offset_lookup(X, Y)

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
    def save(self, path):
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
        ``numpy.random.Generator`` is saved as ``None``. The format is
        :mod:`~plsd_widget.embedding.persistence`'s.
        """
        self._check_fitted()
        return persistence.save(self, path)

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
        start_warm_up()  # transform's kernel compiles in the background while the caller gets data ready
        model = persistence.load(cls, path, device=device)
        model._index_offsets()
        return model
