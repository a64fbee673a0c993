"""PLSD fine-tuning (Eq. 3): cross-entropy plus a pull of the embedded activations to targets.

``L = (1 − λ)·CE(C(x), y) + λ·mean_i ‖E(C_m(x_i)) + o_i − y'_i‖² / s²`` where ``E`` is the
frozen parametric t-SNE encoder and the mean runs over the points of the batch whose target
counts (edited points only, or every point with unedited ones held where they were).
``o_i`` is a constant per-sample offset, zero unless the view shows training points
where the embedding put them rather than where ``E`` does (``ParametricTSNE.offsets_``,
``Session.offsets``); it does not change the gradient, only the frame of the targets.
``s`` is the embedding's scale (RMS distance of the points from their mean): t-SNE
coordinates span tens of units, so without it the embedding term swamps the
cross-entropy and SGD diverges; with ``s`` the same λ means the same on any
embedding, and ``scale=1`` gives the paper's Eq. 3 literally.

The user's model is never trained in place: a working copy is trained and its weights
are copied into the user's model only after each completed epoch, so a stop or a crash
mid-epoch leaves the model exactly as it was after the last good epoch.

Under ``torchrun`` (after :func:`plsd_widget.distributed.init_from_env`) the same ``fit``
trains with ``DistributedDataParallel``: each process takes its shard of every global
batch, and the result is the single-process run's with the same global batch up to the
order of float sums (see :mod:`plsd_widget.distributed`; ``scripts/ddp_check.py``
measures it). Every process must call ``fit`` with the same arguments; a stop or a
callback's True on any process stops all of them at the same batch.
"""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, IterableDataset, default_collate

from plsd_widget._validation import check_fraction, check_positive_int
from plsd_widget.activations import capture
from plsd_widget.devices import resolve_device
from plsd_widget.distributed import any_rank, is_distributed, shard, sum_over_ranks, world

logger = logging.getLogger(__name__)

#: Optimisers that can be named by string; SGD gets the paper's Nesterov momentum 0.9.
OPTIMIZERS = {
    "sgd": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    "adam": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
}
SCHEDULER_INTERVALS = ("epoch", "batch")


def plsd_loss(logits, labels, embedded, targets, mask, lam: float, scale: float = 1.0, sample_weight=None,
              held=None, anchor: float = 0.0, totals=None):
    """Eq. 3 for one batch.

    Parameters
    ----------
    logits : Tensor of shape (batch, n_classes)
    labels : Tensor of shape (batch,)
    embedded : Tensor of shape (batch, 2)
        ``E(C_m(x))`` for the batch.
    targets : Tensor of shape (batch, 2)
        Target positions; rows outside ``mask`` are ignored (may be NaN).
    mask : BoolTensor of shape (batch,)
        Points whose embedding term counts: the term is the mean of their squared distances.
    lam : float
        Weight λ in [0, 1] of the embedding term.
    scale : float, default=1
        Distances are divided by ``scale`` before squaring.
    sample_weight : Tensor of shape (batch,), optional
        Per-sample weights of the cross-entropy (a weighted mean); None weighs all alike.
    held : BoolTensor of shape (batch,), optional
        Points held at their ``targets`` (their current positions) by an extra term.
    anchor : float, default=0
        Weight of that term: the embedding term becomes the mean over ``mask`` plus
        ``anchor`` times the mean over ``held``, so the anchor means the same whatever
        share of the points is edited.
    totals : tuple of three floats, optional
        The denominators of the three means: the cross-entropy's (the number of samples,
        or the sum of their weights) and the numbers of ``mask`` and ``held`` points.
        Pass the global batch's when this batch is one process's shard of it: the terms
        are then this shard's share, and their sum over the processes is the global
        batch's loss. None: this batch's own.

    Returns
    -------
    total, ce, emb : Tensor
        The loss and its two terms (``emb`` is 0 when no point in the batch counts).
    """
    if totals is None:
        totals = batch_totals(len(labels), mask, sample_weight, held)
    ce_total, mask_total, held_total = totals
    ce = nn.functional.cross_entropy(logits, labels, reduction="none")
    if sample_weight is not None:
        ce = ce * sample_weight
    ce = ce.sum() / max(ce_total, 1e-12)
    emb = embedded.sum() * 0.0
    for points, weight, total in ((mask, 1.0, mask_total), (held, anchor, held_total)):
        if points is not None and weight > 0 and total > 0:
            diff = (embedded[points] - targets[points]) / scale
            emb = emb + weight * diff.pow(2).sum() / total
    return (1.0 - lam) * ce + lam * emb, ce, emb


def batch_totals(n_samples: int, mask, sample_weight=None, held=None) -> tuple[float, float, float]:
    """The denominators of :func:`plsd_loss`'s three means for a batch (its ``totals``)."""
    ce_total = n_samples if sample_weight is None else float(sample_weight.sum())
    return (ce_total, float(mask.sum()) if mask is not None else 0.0,
            float(held.sum()) if held is not None else 0.0)


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray:
    """``sample_weight`` as float32 of shape (n_samples,), finite, non-negative, not all zero."""
    try:
        w = np.asarray(sample_weight, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"sample_weight must be numeric, got {type(sample_weight).__name__}") from exc
    if w.shape != (n_samples,):
        raise ValueError(f"sample_weight must have shape ({n_samples},), one weight per sample, got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or not w.any():
        raise ValueError("sample_weight must be finite and non-negative with at least one positive weight")
    return w


def balanced_weights(y, n_classes: int | None = None) -> np.ndarray:
    """Class-balanced sample weights ``n / (n_classes_present · n_c)``: every class weighs the same in total.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Integer class labels.
    n_classes : int, optional
        Number of classes; defaults to ``max(y) + 1``.

    Returns
    -------
    ndarray of shape (n_samples,), float32
        Mean 1 over the samples.
    """
    y = np.asarray(y).astype(np.int64)
    counts = np.bincount(y, minlength=n_classes or 0)
    present = int((counts > 0).sum())
    return (len(y) / (present * counts[y])).astype(np.float32)


@dataclass
class FinetuneResult:
    """What a run did: completed epochs, whether it was stopped, per-epoch mean losses."""

    epochs_completed: int = 0
    stopped: bool = False
    history: list[dict] = field(default_factory=list)


# ---------------------------------------------------------------- data sources
class _Indexed(Dataset):
    """Wraps a map-style dataset so each item carries its index (to look up its target)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        return i, self.dataset[i]


class _IndexedCollate:
    """Collates ``(index, item)`` pairs: indices into a LongTensor, items with the user's collate."""

    def __init__(self, collate_fn):
        self.collate_fn = collate_fn or default_collate

    def __call__(self, batch):
        return torch.tensor([i for i, _ in batch], dtype=torch.long), self.collate_fn([it for _, it in batch])


def _split_item(item, where: str):
    if isinstance(item, (tuple, list)) and len(item) >= 2:
        return item[0], item[1]
    raise TypeError(
        f"{where} must give (input, label) pairs (extra fields after them are ignored), got "
        f"{type(item).__name__}; wrap the dataset so that __getitem__ returns (x, y)"
    )


class _TensorSource:
    """Arrays/tensors held in memory: batches are plain index operations (the fast path)."""

    def __init__(self, x, y):
        if y is None:
            raise ValueError("pass the labels y with array inputs, or pass a Dataset/DataLoader of (x, y) pairs")
        self.x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
        if not self.x.is_floating_point():
            self.x = self.x.float()
        self.y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).long()
        if len(self.x) != len(self.y):
            raise ValueError(f"x and y must have the same length, got {len(self.x)} and {len(self.y)}")
        self.drop_last = False

    def __len__(self):
        return len(self.x)

    def epoch(self, batches, _aux):
        for idx in batches:
            yield idx, self.x[idx], self.y[idx]


class _DatasetSource:
    """A map-style Dataset (or the dataset of a DataLoader, with its workers and collate)."""

    def __init__(self, data, y):
        if y is not None:
            raise ValueError("y must be None when data is a Dataset or DataLoader: the labels come from its items")
        loader = data if isinstance(data, DataLoader) else None
        dataset = loader.dataset if loader is not None else data
        if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
            raise TypeError(
                "fine-tuning needs a map-style Dataset (with __len__ and __getitem__): each sample's "
                "edit target is looked up by its index; an IterableDataset has no indices"
            )
        self.dataset = dataset
        self.options = {}
        self.drop_last = False
        if loader is not None:
            self.options = {"num_workers": loader.num_workers, "pin_memory": loader.pin_memory,
                            "worker_init_fn": loader.worker_init_fn, "timeout": loader.timeout,
                            "multiprocessing_context": loader.multiprocessing_context}
            self.collate = loader.collate_fn
            self.drop_last = loader.drop_last
            self.batch_size = loader.batch_size
        else:
            self.collate = None
            self.batch_size = None
        if len(dataset) == 0:
            raise ValueError("the dataset is empty; pass at least one sample")
        _split_item(dataset[0], "the dataset's items")

    def __len__(self):
        return len(self.dataset)

    def epoch(self, batches, aux):
        loader = DataLoader(_Indexed(self.dataset), batch_sampler=[b.tolist() for b in batches],
                            collate_fn=_IndexedCollate(self.collate),
                            generator=torch.Generator().manual_seed(int(torch.randint(2**62, (1,), generator=aux))),
                            **self.options)
        for idx, item in loader:
            xb, yb = _split_item(item, "the DataLoader's batches")
            yield idx, xb, torch.as_tensor(yb).long()


def _make_source(data, y):
    if isinstance(data, (DataLoader, Dataset)):
        return _DatasetSource(data, y)
    return _TensorSource(data, y)


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
    lam : float, default=0.5
        λ in [0, 1]: weight of the embedding term (0 is plain cross-entropy).
    edited_only : bool, default=True
        Count the embedding term only for points with a finite target (the paper's
        best setting), plus the ``anchor`` below; otherwise unedited points are held at
        ``positions`` with the same weight as edited ones.
    anchor : float, default=0
        With ``edited_only``: the weight of a second term that holds the unedited points
        at ``positions`` (0: unedited points are free, as in the paper). The embedding
        term is then the mean over the batch's edited points plus ``anchor`` times the
        mean over its unedited ones, so an anchor keeps the classes nobody edited from
        drifting while the edited ones move, whatever share of the points is edited.
    edit_weight : float, default=1
        Weight of the edited points' cross-entropy relative to the others' (1: all
        alike, the paper's). The points a user moved are the ones the view showed
        misplaced; weighting them is the edit used as a reweighting (see
        ``benchmarks/shortcut.py`` for when that helps).
    lr : float, default=0.01
        Learning rate given to the optimiser.
    scale : float, default=1
        Embedding scale ``s`` the distances are measured in (see the module docstring).
    batch_size : int, default=64
        Batch size for array inputs and Datasets; a DataLoader keeps its own.
    device : str or torch.device, default="auto"
    random_state : int, default=0
        Seeds the batch order through a local generator, and a fork of torch's global
        CPU generator for the run (dropout, augmentations that draw from it, DataLoader
        workers); the caller's global state is restored when the run ends. Runs on CPU
        with the same seed give identical weights.
    optimizer : {"sgd", "adam", "adamw"} or callable, default="sgd"
        ``"sgd"`` is the paper's SGD with Nesterov momentum 0.9. A callable is called as
        ``optimizer(params, lr=lr)`` and must return a ``torch.optim.Optimizer``, e.g.
        ``functools.partial(torch.optim.SGD, momentum=0.5, weight_decay=1e-4)``.
    optimizer_kwargs : dict, optional
        Extra keyword arguments for a named optimiser (override its defaults, e.g.
        ``{"weight_decay": 1e-4}`` or ``{"nesterov": False}``).
    scheduler : callable, optional
        ``scheduler(optimizer) -> torch.optim.lr_scheduler.LRScheduler``, e.g.
        ``lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)``.
        Stepped after every epoch (or batch, see ``scheduler_interval``) of one ``fit``.
    scheduler_interval : {"epoch", "batch"}, default="epoch"
    transform : callable, optional
        ``transform(x_batch) -> x_batch`` applied to every input batch on the device
        before the forward pass (augmentation). For reproducible runs draw randomness
        from torch's global generator (seeded per run, see ``random_state``) or your
        own. A Dataset that augments in ``__getitem__`` works as well.
    amp : bool, default=True
        Mixed precision on CUDA (bfloat16 where supported, else float16 with gradient
        scaling); ignored on other devices.
    """

    def __init__(self, model, layer, encoder, *, lam=0.5, edited_only=True, anchor=0.0, edit_weight=1.0, lr=0.01,
                 scale=1.0, batch_size=64, device="auto", random_state=0, optimizer="sgd", optimizer_kwargs=None,
                 scheduler=None, scheduler_interval="epoch", transform=None, amp=True):
        self.model = model
        self.layer = layer
        self.encoder = encoder
        self.lam = check_fraction(lam, "lam")
        self.edited_only = bool(edited_only)
        self.anchor = check_fraction(anchor, "anchor", high=np.inf)
        self.edit_weight = check_fraction(edit_weight, "edit_weight", high=np.inf)
        self.lr = float(lr)
        if not np.isfinite(self.lr) or self.lr <= 0:
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        self.scale = float(scale)
        if not np.isfinite(self.scale) or self.scale <= 0:
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.device = resolve_device(device)
        self.random_state = random_state
        if isinstance(optimizer, str):
            if optimizer.lower() not in OPTIMIZERS:
                raise ValueError(f"unknown optimizer {optimizer!r}; use one of {sorted(OPTIMIZERS)} "
                                 "or a callable optimizer(params, lr=lr)")
            optimizer = optimizer.lower()
        elif not callable(optimizer):
            raise TypeError(f"optimizer must be a name ({sorted(OPTIMIZERS)}) or a callable "
                            f"optimizer(params, lr=lr), got {optimizer!r}")
        if optimizer_kwargs is not None and (not isinstance(optimizer_kwargs, dict) or callable(optimizer)):
            raise TypeError("optimizer_kwargs must be a dict and goes with a named optimizer; "
                            "bind arguments of a callable with functools.partial instead")
        self.optimizer = optimizer
        self.optimizer_kwargs = dict(optimizer_kwargs or {})
        if scheduler is not None and not callable(scheduler):
            raise TypeError(f"scheduler must be a callable scheduler(optimizer) -> LRScheduler, got {scheduler!r}")
        if scheduler_interval not in SCHEDULER_INTERVALS:
            raise ValueError(f"scheduler_interval must be one of {SCHEDULER_INTERVALS}, got {scheduler_interval!r}")
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be a callable transform(x_batch) -> x_batch, got {transform!r}")
        self.transform = transform
        self.amp = bool(amp)

    # ------------------------------------------------------------------ set-up
    def prepare_targets(self, targets, positions):
        """Return the loss targets, the points the edit term counts and those the anchor holds, or raise.

        Rows of ``targets`` are either finite (an edited point) or all NaN (a free
        point); infinities and half-NaN rows are errors. Unedited points get their
        ``positions`` as targets when they are held: counted like edited points
        (``edited_only=False``) or by the anchor term. The third value is None without
        an anchor. Raises if the run would have nothing to pull.
        """
        targets = np.asarray(targets, dtype=np.float32)
        if targets.ndim != 2 or targets.shape[1] != 2:
            raise ValueError(f"targets must have shape (n_samples, 2), got {targets.shape}")
        finite = np.isfinite(targets).all(axis=1)
        bad = ~finite & ~np.isnan(targets).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise ValueError(f"targets must be finite (edited) or NaN in both columns (free); {rows.size} row(s) "
                             f"are not, e.g. row {rows[0]}: {targets[rows[0]].tolist()}. Fix or undo that edit")
        if self.edited_only and self.lam > 0 and not finite.any():
            raise ValueError(
                "no point has an edit target; edit the embedding first (e.g. session.shift) "
                "or pass edited_only=False"
            )
        if self.edited_only and self.anchor == 0:
            return np.where(finite[:, None], targets, 0.0).astype(np.float32), finite, None
        if positions is None:
            what = "edited_only=False" if not self.edited_only else f"anchor={self.anchor}"
            raise ValueError(f"{what} needs the current positions to hold unedited points")
        positions = np.asarray(positions, dtype=np.float32)
        if positions.shape != targets.shape or not np.isfinite(positions).all():
            raise ValueError(f"positions must be finite and of the targets' shape {targets.shape}, "
                             f"got shape {positions.shape}; pass the current embedding")
        full = np.where(finite[:, None], targets, positions).astype(np.float32)
        if self.edited_only:
            return full, finite, ~finite
        return full, np.ones(len(full), dtype=bool), None

    @staticmethod
    def _check_offsets(offsets, shape) -> np.ndarray:
        offsets = np.asarray(offsets, dtype=np.float32)
        if offsets.shape != shape or not np.isfinite(offsets).all():
            raise ValueError(f"offsets must be finite and of the targets' shape {shape}, got shape {offsets.shape}; "
                             "pass session.offsets (or the fitted embedding's offsets_)")
        return offsets

    def _make_optimizer(self, params):
        if callable(self.optimizer):
            opt = self.optimizer(params, lr=self.lr)
            if not isinstance(opt, torch.optim.Optimizer):
                raise TypeError(f"optimizer(params, lr=lr) must return a torch.optim.Optimizer, got {type(opt).__name__}")
            return opt
        cls, defaults = OPTIMIZERS[self.optimizer]
        try:
            return cls(params, lr=self.lr, **(defaults | self.optimizer_kwargs))
        except TypeError as exc:
            raise TypeError(f"optimizer_kwargs {self.optimizer_kwargs} do not fit {cls.__name__}: {exc}") from exc

    @staticmethod
    def _batch_totals(batch, mask, held, sample_weight=None) -> tuple[float, float, float]:
        """:func:`plsd_loss`'s denominators for a whole batch, from CPU arrays (its processes' shards share them)."""
        idx = batch.numpy()
        return batch_totals(len(idx), mask[idx], None if sample_weight is None else sample_weight[idx],
                            None if held is None else held[idx])

    def _batches(self, n, batch_size, drop_last, gen):
        order = torch.randperm(n, generator=gen)
        batches = list(order.split(batch_size))
        if drop_last and len(batches) > 1 and len(batches[-1]) < batch_size:
            batches.pop()
        return batches

    # ------------------------------------------------------------------ training
    def fit(self, x, y=None, targets=None, *, epochs=1, positions=None, offsets=None, sample_weight=None,
            callback=None, stop_event=None):
        """Run ``epochs`` epochs of PLSD fine-tuning.

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
        epochs : int
        positions : array-like of shape (n_samples, 2), optional
            Current embedding, needed when ``edited_only=False``.
        offsets : array-like of shape (n_samples, 2), optional
            Per-sample offsets between the encoder's output and the embedding that
            ``targets`` and ``positions`` are given in: the loss pulls
            ``E(C_m(x_i)) + offsets_i`` to ``targets_i``. Pass ``session.offsets``
            (a fitted ``ParametricTSNE``'s ``offsets_`` for the data it was fitted on)
            when the targets are edits of a session's view; None means zeros.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each sample's cross-entropy (e.g.
            :func:`balanced_weights` for class-balanced training); the batch's
            cross-entropy is their weighted mean. None weighs all samples alike.
        callback : callable, optional
            ``callback(step, logs) -> bool`` after every batch; ``logs`` has ``epoch``,
            ``batch``, ``n_batches``, ``loss``, ``ce``, ``emb``, ``lr`` and ``epoch_end``
            (True on the last batch of an epoch, after the model was updated).
            Returning True stops at once; a stop inside an epoch leaves the model
            at the last completed epoch.
        stop_event : threading.Event, optional
            Checked before every batch; when set the run stops the same way.

        Returns
        -------
        FinetuneResult
        """
        epochs = check_positive_int(epochs, "epochs")
        source = _make_source(x, y)
        if targets is None:
            raise ValueError("pass the edit targets, shape (n_samples, 2), NaN for free points")
        if len(targets) != len(source):
            raise ValueError(f"x, y and targets must have the same length, got {len(source)} samples "
                             f"and {len(targets)} targets")
        tgt, mask, held = self.prepare_targets(targets, positions)
        if offsets is not None:
            tgt = tgt - self._check_offsets(offsets, tgt.shape)
        rank, world_size = world()
        distributed = is_distributed()
        device = self.device
        if distributed and device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())  # this process's GPU (init_from_env)
        counted = (mask, held)  # CPU copies: each batch's loss denominators without a device sync
        tgt = torch.from_numpy(tgt).to(device)
        mask = torch.from_numpy(mask).to(device)
        held = None if held is None else torch.from_numpy(held).to(device)
        if sample_weight is not None or self.edit_weight != 1:
            weights = np.ones(len(source), np.float32) if sample_weight is None \
                else check_sample_weight(sample_weight, len(source))
            edited = np.isfinite(np.asarray(targets, np.float32)).all(axis=1)
            weights = (weights * np.where(edited, self.edit_weight, 1)).astype(np.float32)
            # checked again: an edit_weight of 0 on a fully edited set leaves no positive weight
            weights = check_sample_weight(weights, len(source))
            counted += (weights,)
            sample_weight = torch.from_numpy(weights).to(device)
        stop_event = stop_event or threading.Event()
        batch_size = getattr(source, "batch_size", None) or self.batch_size

        work = copy.deepcopy(self.model).to(device).train()
        params = [p for p in work.parameters() if p.requires_grad]
        if not params:
            what = f"layer {self.layer!r} does not receive gradients: " if self.lam > 0 else ""
            raise ValueError(f"{what}the model has no trainable parameters (all have requires_grad=False); "
                             "unfreeze the layers to fine-tune")
        encoder = copy.deepcopy(self.encoder).to(device).eval()
        for p in encoder.parameters():
            p.requires_grad_(False)
        opt = self._make_optimizer(params)
        sched = self.scheduler(opt) if self.scheduler is not None else None
        if sched is not None and not callable(getattr(sched, "step", None)):
            raise TypeError(f"scheduler(optimizer) must return an LR scheduler with .step(), got {type(sched).__name__}")
        seed = self.random_state if self.random_state is not None else int(np.random.SeedSequence().entropy % 2**63)
        gen = torch.Generator().manual_seed(int(seed))  # batch order only
        aux_seed, cpu_seed, cuda_seed = (int(s) for s in np.random.SeedSequence(int(seed)).generate_state(3, np.uint64) >> 1)
        aux = torch.Generator().manual_seed(aux_seed)  # DataLoader workers
        use_amp = self.amp and device.type == "cuda"
        amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
        result = FinetuneResult()
        step = 0
        on_cuda = device.type == "cuda"
        fork_devices = [device.index if device.index is not None else torch.cuda.current_device()] if on_cuda else []
        forward = work
        if distributed:
            forward = DistributedDataParallel(work, device_ids=[device.index] if on_cuda else None)
        with torch.random.fork_rng(devices=fork_devices), capture(work, self.layer) as captured:
            torch.default_generator.manual_seed(cpu_seed)  # on the fork; restored when the run ends
            if on_cuda:
                torch.cuda.manual_seed(cuda_seed)
            for epoch in range(epochs):
                batches = self._batches(len(source), batch_size, source.drop_last, gen)
                n_batches = len(batches)
                totals = [self._batch_totals(batch, *counted) for batch in batches]
                if distributed:
                    batches = [shard(batch, rank, world_size) for batch in batches]
                sums = np.zeros(3)
                for b, (idx, xb, yb) in enumerate(source.epoch(batches, aux)):
                    if any_rank(stop_event.is_set(), device):
                        result.stopped = True
                        return result
                    xb = xb.to(device, non_blocking=True)
                    if not xb.is_floating_point():
                        xb = xb.float()
                    yb = yb.to(device, non_blocking=True)
                    if self.transform is not None:
                        xb = self.transform(xb)
                    idx = idx.to(device)
                    with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                        logits = forward(xb)
                        h = captured[-1]
                        if self.lam > 0 and not h.requires_grad:
                            raise ValueError(
                                f"layer {self.layer!r} does not receive gradients (frozen or detached); "
                                "unfreeze it or pick a layer the loss can reach"
                            )
                        emb = encoder(h.float())
                    loss, ce, em = plsd_loss(logits.float(), yb, emb.float(), tgt[idx], mask[idx],
                                             self.lam, self.scale,
                                             None if sample_weight is None else sample_weight[idx],
                                             None if held is None else held[idx], self.anchor, totals[b])
                    # each process's terms are its shard's share of the global batch's means
                    values = sum_over_ranks(torch.stack((loss.detach(), ce.detach(), em.detach()))).tolist()
                    if not np.isfinite(values[0]):
                        raise FloatingPointError(
                            f"loss became {values[0]} in epoch {epoch + 1}, batch {b + 1}; "
                            "lower the learning rate or λ"
                        )
                    opt.zero_grad(set_to_none=True)
                    # DistributedDataParallel averages the processes' gradients; their sum is wanted
                    scaler.scale(loss * world_size).backward()
                    scaler.step(opt)
                    scaler.update()
                    lr_now = opt.param_groups[0]["lr"]
                    if sched is not None and self.scheduler_interval == "batch":
                        sched.step()
                    sums += values
                    last = b == n_batches - 1
                    if last:
                        if sched is not None and self.scheduler_interval == "epoch":
                            sched.step()
                        self.model.load_state_dict(work.state_dict())
                        result.epochs_completed = epoch + 1
                        result.history.append(dict(zip(("loss", "ce", "emb"), sums / n_batches)) | {"lr": lr_now})
                    logs = {"epoch": epoch + 1, "n_epochs": epochs, "batch": b + 1, "n_batches": n_batches,
                            "loss": values[0], "ce": values[1], "emb": values[2], "lr": lr_now, "epoch_end": last}
                    step += 1
                    if any_rank(callback is not None and bool(callback(step, logs)), device):
                        result.stopped = True
                        return result
        return result
