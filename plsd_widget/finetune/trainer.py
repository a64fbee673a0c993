"""PLSDTrainer: fine-tunes a classifier so that ``E(C_m(x)) + o`` moves to the edit targets (Eq. 3).

``fit`` is four named steps: ``_prepare`` checks every input and builds the working
copies; ``_epoch`` draws one epoch's seeded batches; ``_step`` trains one batch with
:func:`~plsd_widget.finetune.loss.plsd_loss`; ``_commit`` copies the working copy's
weights into the user's model after each completed epoch, so a stop or a crash mid-epoch
leaves it exactly as it was after the last good epoch.

Under ``torchrun`` (after :func:`plsd_widget.distributed.init_from_env`) the same ``fit``
trains with ``DistributedDataParallel``: each process takes its shard of every global
batch, and the result is the single-process run's with the same global batch up to the
order of float sums (:mod:`plsd_widget.distributed`; ``scripts/ddp_check.py`` measures
it). Every process must call ``fit`` with the same arguments; a stop or a callback's True
on any process stops all of them at the same batch.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from plsd_widget._validation import check_positive
from plsd_widget.activations import capture, extract_activations, get_layer
from plsd_widget.config import DEVICE, RANDOM_STATE, resolve_config
from plsd_widget.devices import resolve_device
from plsd_widget.distributed import any_rank, is_distributed, shard, sum_over_ranks, world
from plsd_widget.finetune.data import cross_entropy_weights, draw_batches, make_source
from plsd_widget.finetune.loss import batch_totals, embedding_scale, plsd_loss
from plsd_widget.finetune.optimizers import make_optimizer

#: Rows the encoder embeds at once when ``fit`` computes the current positions.
ENCODE_CHUNK = 65536


def _check_scale(scale) -> float | None:
    """``scale`` as a positive float, or None for ``"auto"``."""
    if isinstance(scale, str):
        if scale != "auto":
            raise ValueError(f'scale must be "auto" or a positive number, got {scale!r}')
        return None
    try:
        return check_positive(scale, "scale")
    except (TypeError, ValueError) as exc:
        raise type(exc)(f'{exc}; or pass scale="auto" to measure it from the positions') from None


@dataclass
class FinetuneResult:
    """What a run did: completed epochs, whether it was stopped, per-epoch mean losses."""

    epochs_completed: int = 0
    stopped: bool = False
    history: list[dict] = field(default_factory=list)


@dataclass
class _Run:
    """What one ``fit`` trains with, made by ``_prepare``."""

    source: object
    device: torch.device
    targets: np.ndarray  # the loss's, in the view's frame; NaN rows wait for the current positions
    offsets: np.ndarray | None
    counted: np.ndarray  # points of the embedding term
    held: np.ndarray | None  # points of the anchor term
    weights: np.ndarray | None  # of the cross-entropy
    scale: float | None  # None: "auto", measured by _start
    batch_size: int
    work: torch.nn.Module  # the model's working copy, and its DistributedDataParallel wrapper if any
    forward: torch.nn.Module
    encoder: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None  # None: no autocast
    seed: int
    batch_order: torch.Generator | None = None  # set by _start
    aux: torch.Generator | None = None  # seeds DataLoader workers
    on_device: dict = field(default_factory=dict)  # the per-sample arrays above as tensors, for indexing
    result: FinetuneResult = field(default_factory=FinetuneResult)
    step: int = 0


class PLSDTrainer:
    """Fine-tunes a classifier so that ``E(C_m(x))`` moves to the edit targets.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier; updated in place only at the end of each completed epoch.
    layer : str
        Name of the layer ``m`` whose activations feed the encoder.
    encoder : torch.nn.Module
        The frozen parametric t-SNE network ``E``.
    config : FinetuneConfig or str, optional
        The recipe (:class:`~plsd_widget.config.FinetuneConfig`: epochs, λ, learning rate,
        anchor, optimiser, ...) or a preset's name (``"default"``, ``"paper"``); None is
        the default recipe.
    scale : float or "auto", default="auto"
        Embedding scale ``s`` the distances are measured in (see :mod:`plsd_widget.finetune`).
        ``"auto"`` measures it as ``Session.embedding_scale`` does: the RMS distance of the
        points from their mean, over ``positions`` (computed when not given). ``1`` is the
        paper's Eq. 3 literally, in raw t-SNE units: there λ weighs squared distances of
        tens of units, and at this package's learning rates the loss can diverge.
    device : str or torch.device, default="auto"
        CUDA, then MPS, then the CPU for ``"auto"``.
    random_state : int or None, default=0
        Seeds the batch order through a local generator, and a fork of torch's global
        generators for the run (dropout, augmentations that draw from it, DataLoader
        workers); the caller's global state is restored when the run ends. Runs on the
        CPU with the same seed give identical weights.
    **overrides
        Fields of the config to change, e.g. ``PLSDTrainer(model, "layer4", encoder,
        lam=0.5, lr=0.01)``.

    Examples
    --------
    >>> trainer = PLSDTrainer(model, "latent", tsne.encoder_, "paper")  # doctest: +SKIP
    >>> trainer.fit(x, y, targets, positions=positions).history  # doctest: +SKIP
    """

    def __init__(self, model, layer, encoder, config=None, *, scale="auto", device=DEVICE, random_state=RANDOM_STATE,
                 **overrides):
        self.model = model
        self.layer = layer
        self.encoder = encoder
        self.config = resolve_config(config, **overrides)
        self.scale = scale
        self.device = device
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(self, x, y=None, targets=None, *, positions=None, offsets=None, sample_weight=None, callback=None,
            stop_event=None):
        """Fine-tune for ``config.epochs`` epochs of PLSD.

        Parameters
        ----------
        x : array-like of shape (n_samples, ...), Dataset or DataLoader
            Classifier inputs; or a map-style ``torch.utils.data.Dataset`` whose items are
            ``(input, label)`` pairs; or a ``DataLoader`` over one (its batch size,
            workers, collate function and ``drop_last`` are used; its sampler is replaced
            by the trainer's seeded shuffle so that each sample keeps its target).
        y : array-like of shape (n_samples,), optional
            Labels for array inputs; None for a Dataset or DataLoader.
        targets : array-like of shape (n_samples, 2)
            Edit targets, NaN where a point is free; row ``i`` belongs to sample ``i``.
        positions : array-like of shape (n_samples, 2), optional
            The current embedding, where a run that holds unedited points
            (``edited_only=False`` or ``anchor > 0``) holds them. None: computed at the
            start of the run as ``E(C_m(x)) + offsets`` with the model as it is (one pass
            over ``x``; a Dataset that augments is read as it gives its items).
        offsets : array-like of shape (n_samples, 2), optional
            Per-sample offsets between the encoder's output and the embedding that
            ``targets`` and ``positions`` are given in: the loss pulls
            ``E(C_m(x_i)) + offsets_i`` to ``targets_i``. Pass ``session.offsets``
            (a fitted ``ParametricTSNE``'s ``offsets_`` for the data it was fitted on)
            when the targets are edits of a session's view; None means zeros.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each sample's cross-entropy (e.g.
            :func:`~plsd_widget.finetune.balanced_weights`); the batch's cross-entropy is
            their weighted mean. None weighs all samples alike.
        callback : callable, optional
            ``callback(step, logs) -> bool`` after every batch; ``logs`` has ``epoch``,
            ``n_epochs``, ``batch``, ``n_batches``, ``loss``, ``ce``, ``emb``, ``lr`` and
            ``epoch_end`` (True on the last batch of an epoch, after the model was
            updated). Returning True stops at once; a stop inside an epoch leaves the
            model at the last completed epoch.
        stop_event : threading.Event, optional
            Checked before every batch; when set the run stops the same way.

        Returns
        -------
        FinetuneResult
        """
        run = self._prepare(x, y, targets, positions, offsets, sample_weight)
        stop_event = stop_event or threading.Event()
        cuda = run.device.type == "cuda"
        fork_devices = [torch.cuda.current_device() if run.device.index is None else run.device.index] if cuda else []
        with torch.random.fork_rng(devices=fork_devices):
            self._start(run)
            with capture(run.work, self.layer) as captured:
                for epoch in range(self.config.epochs):
                    if not self._epoch(run, epoch, captured, callback, stop_event):
                        run.result.stopped = True
                        break
        return run.result

    def _prepare(self, x, y, targets, positions, offsets, sample_weight) -> _Run:
        """Every check of ``fit``'s inputs, then the working copies: nothing is computed before it passes."""
        scale = _check_scale(self.scale)
        source = make_source(x, y)
        if targets is None:
            raise ValueError("pass the edit targets, shape (n_samples, 2), NaN for free points")
        if len(targets) != len(source):
            raise ValueError(f"x, y and targets must have the same length, got {len(source)} samples "
                             f"and {len(targets)} targets")
        loss_targets, counted, held = self.prepare_targets(targets, positions)
        if scale is None and self.config.lam == 0:
            scale = 1.0  # no embedding term: nothing to measure
        elif scale is None and positions is not None:
            scale = embedding_scale(positions)
        if offsets is not None:
            offsets = np.asarray(offsets, dtype=np.float32)
            if offsets.shape != loss_targets.shape or not np.isfinite(offsets).all():
                raise ValueError(f"offsets must be finite and of the targets' shape {loss_targets.shape}, got shape "
                                 f"{offsets.shape}; pass session.offsets (or the fitted embedding's offsets_)")
        edited = np.isfinite(np.asarray(targets, np.float32)).all(axis=1)
        weights = cross_entropy_weights(sample_weight, edited, self.config.edit_weight)
        device = resolve_device(self.device)
        if is_distributed() and device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())  # this process's GPU (init_from_env)
        seed = self.random_state if self.random_state is not None else np.random.SeedSequence().entropy % 2**63
        return _Run(source, device, loss_targets, offsets, counted, held, weights, scale,
                    source.batch_size or self.config.batch_size, *self._working_copies(device), seed=int(seed))

    def _working_copies(self, device):
        """The model's working copy (and its DDP wrapper), the frozen encoder, the optimiser, scheduler, AMP scaler."""
        get_layer(self.model, self.layer)
        work = copy.deepcopy(self.model).to(device).train()
        params = [p for p in work.parameters() if p.requires_grad]
        if not params:
            what = f"layer {self.layer!r} does not receive gradients: " if self.config.lam > 0 else ""
            raise ValueError(f"{what}the model has no trainable parameters (all have requires_grad=False); "
                             "unfreeze the layers to fine-tune")
        encoder = copy.deepcopy(self.encoder).to(device).eval().requires_grad_(False)
        optimizer = make_optimizer(self.config, params)
        scheduler = self.config.scheduler(optimizer) if self.config.scheduler is not None else None
        if scheduler is not None and not callable(getattr(scheduler, "step", None)):
            raise TypeError(f"scheduler(optimizer) must return an LR scheduler with .step(), got "
                            f"{type(scheduler).__name__}")
        use_amp = self.config.amp and device.type == "cuda"
        amp_dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if use_amp else None
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
        forward = work
        if is_distributed():
            forward = DistributedDataParallel(work, device_ids=[device.index] if device.type == "cuda" else None)
        return work, forward, encoder, optimizer, scheduler, scaler, amp_dtype

    def _start(self, run: _Run) -> None:
        """Seed the run's generators, fill in the current positions where needed, move the loss arrays to the device."""
        seeds = np.random.SeedSequence(run.seed).generate_state(3, np.uint64) >> 1
        aux_seed, cpu_seed, cuda_seed = (int(s) for s in seeds)
        run.batch_order = torch.Generator().manual_seed(run.seed)
        run.aux = torch.Generator().manual_seed(aux_seed)

        def seed_globals():  # on the fork of fit; the caller's generators are restored when the run ends
            torch.default_generator.manual_seed(cpu_seed)
            if run.device.type == "cuda":
                torch.cuda.manual_seed(cuda_seed)

        missing = np.isnan(run.targets)
        if missing.any() or run.scale is None:  # held points without positions, or the scale: from the model now
            seed_globals()  # a Dataset that draws from torch's generator draws the same on every run
            positions = self._current_positions(run)
            run.targets = np.where(missing, positions, run.targets)
            if run.scale is None:
                run.scale = embedding_scale(positions)
        seed_globals()  # training draws as it would with the positions given
        targets = run.targets if run.offsets is None else run.targets - run.offsets
        run.on_device = {name: None if array is None else torch.from_numpy(array).to(run.device)
                         for name, array in (("targets", targets), ("counted", run.counted), ("held", run.held),
                                             ("weights", run.weights))}

    def _current_positions(self, run: _Run) -> np.ndarray:
        """``E(C_m(x)) + offsets`` for every sample, through the working copy before any step."""
        H = torch.from_numpy(extract_activations(run.work, self.layer, run.source.inputs(run.batch_size)))
        with torch.no_grad():
            embedded = torch.cat([run.encoder(H[i:i + ENCODE_CHUNK].to(run.device)).float().cpu()
                                  for i in range(0, len(H), ENCODE_CHUNK)]).numpy()
        return embedded if run.offsets is None else embedded + run.offsets

    def _epoch(self, run: _Run, epoch: int, captured, callback, stop_event) -> bool:
        """One epoch of seeded batches, sharded under DDP; False when a stop ended it."""
        rank, world_size = world()
        batches = draw_batches(len(run.source), run.batch_size, run.source.drop_last, run.batch_order)
        n_batches = len(batches)
        totals = [self._global_totals(run, batch) for batch in batches]
        if is_distributed():
            batches = [shard(batch, rank, world_size) for batch in batches]
        sums = np.zeros(3)
        for b, (idx, xb, yb) in enumerate(run.source.epoch(batches, run.aux)):
            if any_rank(stop_event.is_set(), run.device):
                return False
            values, lr = self._step(run, captured, idx, xb, yb, totals[b], where=(epoch, b))
            if run.scheduler is not None and self.config.scheduler_interval == "batch":
                run.scheduler.step()
            sums += values
            last = b == n_batches - 1
            if last:
                self._commit(run, epoch, sums / n_batches, lr)
            logs = {"epoch": epoch + 1, "n_epochs": self.config.epochs, "batch": b + 1, "n_batches": n_batches,
                    "loss": values[0], "ce": values[1], "emb": values[2], "lr": lr, "epoch_end": last}
            run.step += 1
            if any_rank(callback is not None and bool(callback(run.step, logs)), run.device):
                return False
        return True

    def _global_totals(self, run: _Run, batch: torch.Tensor) -> tuple[float, float, float]:
        """The loss's denominators for a whole batch, from CPU arrays (its processes' shards share them)."""
        idx = batch.numpy()
        return batch_totals(len(idx), run.counted[idx], None if run.weights is None else run.weights[idx],
                            None if run.held is None else run.held[idx], self.config.reduction)

    def _step(self, run: _Run, captured, idx, xb, yb, totals, *, where) -> tuple[list[float], float]:
        """Train one batch (this process's shard of it); return the global batch's loss terms and the lr used."""
        device, config, arrays = run.device, self.config, run.on_device
        xb = xb.to(device, non_blocking=True)
        if not xb.is_floating_point():
            xb = xb.float()
        yb = yb.to(device, non_blocking=True)
        if config.transform is not None:
            xb = config.transform(xb)
        idx = idx.to(device)
        with torch.autocast(device.type, dtype=run.amp_dtype or torch.float16, enabled=run.amp_dtype is not None):
            logits = run.forward(xb)
            h = captured[-1]
            if config.lam > 0 and not h.requires_grad:
                raise ValueError(f"layer {self.layer!r} does not receive gradients (frozen or detached); "
                                 "unfreeze it or pick a layer the loss can reach")
            emb = run.encoder(h.float())
        loss, ce, em = plsd_loss(logits.float(), yb, emb.float(), arrays["targets"][idx], arrays["counted"][idx],
                                 config.lam, run.scale, None if arrays["weights"] is None else arrays["weights"][idx],
                                 None if arrays["held"] is None else arrays["held"][idx], config.anchor, totals)
        # each process's terms are its shard's share of the global batch's
        values = sum_over_ranks(torch.stack((loss.detach(), ce.detach(), em.detach()))).tolist()
        if not np.isfinite(values[0]):
            raise FloatingPointError(f"loss became {values[0]} in epoch {where[0] + 1}, batch {where[1] + 1}; "
                                     f"lower the learning rate or λ, or measure the embedding term in a larger "
                                     f"unit (scale={run.scale:.3g}; scale='auto' is the embedding's own)")
        run.optimizer.zero_grad(set_to_none=True)
        # DistributedDataParallel averages the processes' gradients; their sum is wanted
        run.scaler.scale(loss * world()[1]).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
        return values, run.optimizer.param_groups[0]["lr"]

    def _commit(self, run: _Run, epoch: int, means, lr: float) -> None:
        """End of a completed epoch: step an epoch scheduler, copy the weights into the user's model, record."""
        if run.scheduler is not None and self.config.scheduler_interval == "epoch":
            run.scheduler.step()
        self.model.load_state_dict(run.work.state_dict())
        run.result.epochs_completed = epoch + 1
        run.result.history.append(dict(zip(("loss", "ce", "emb"), means)) | {"lr": lr})

    # ------------------------------------------------------------------ checks and parts
    def prepare_targets(self, targets, positions=None):
        """The loss's targets, the points of its embedding term and of its anchor term; raises where unusable.

        Rows of ``targets`` are finite (an edited point) or NaN in both columns (a free
        one); anything else is an error, and so is λ > 0 with ``edited_only`` and no
        edited point. Unedited points are held at their ``positions`` where the config
        says so (``edited_only=False``: counted like edited ones; ``anchor > 0``: by the
        anchor term). ``positions=None`` leaves the held rows NaN, which ``fit`` fills with
        the current positions; with λ = 0 it holds no point.

        Returns
        -------
        loss_targets : ndarray of shape (n_samples, 2), float32
        counted : bool ndarray of shape (n_samples,)
        held : bool ndarray of shape (n_samples,) or None (no anchor term)
        """
        config = self.config
        targets = np.asarray(targets, dtype=np.float32)
        if targets.ndim != 2 or targets.shape[1] != 2:
            raise ValueError(f"targets must have shape (n_samples, 2), got {targets.shape}")
        finite = np.isfinite(targets).all(axis=1)
        bad = ~finite & ~np.isnan(targets).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise ValueError(f"targets must be finite (edited) or NaN in both columns (free); {rows.size} row(s) "
                             f"are not, e.g. row {rows[0]}: {targets[rows[0]].tolist()}. Fix or undo that edit")
        if config.edited_only and config.lam > 0 and not finite.any():
            raise ValueError("no point has an edit target; edit the embedding first (e.g. session.shift) "
                             "or pass edited_only=False")
        holds = not config.edited_only or config.anchor > 0
        if not holds or (positions is None and config.lam == 0):
            return np.where(finite[:, None], targets, 0.0).astype(np.float32), finite, None
        if positions is None:
            positions = np.full_like(targets, np.nan)  # fit computes them
        else:
            positions = np.asarray(positions, dtype=np.float32)
            if positions.shape != targets.shape or not np.isfinite(positions).all():
                raise ValueError(f"positions must be finite and of the targets' shape {targets.shape}, "
                                 f"got shape {positions.shape}; pass the current embedding")
        full = np.where(finite[:, None], targets, positions).astype(np.float32)
        if config.edited_only:
            return full, finite, ~finite
        return full, np.ones(len(full), dtype=bool), None
