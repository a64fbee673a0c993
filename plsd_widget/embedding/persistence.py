"""Saving and loading a fitted ``ParametricTSNE``: safetensors weights plus a JSON config, never pickle.

The file format (``FORMAT``, version ``FORMAT_VERSION``): ``<stem>.safetensors`` holds the
encoder's state (``encoder.*``), ``embedding_``, ``offsets_`` and, for scheme "distil",
``X_fit_``; ``<stem>.json`` holds the estimator's parameters, the encoder's kind and widths
and the learned numbers. :func:`load` checks everything against everything else before
it allocates anything from the config's sizes, and names the file and the problem.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from plsd_widget.devices import resolve_device
from plsd_widget.embedding.encoders import encoder_from_config

__all__ = ["DEFAULT_FILE_STEM", "FORMAT", "FORMAT_VERSION", "file_paths", "load", "save"]

FORMAT = "plsd_widget.ParametricTSNE"
#: Version 2 added the encoder's ``out_scale`` buffer (1 in version-1 files); version 3
#: the encoder's kind (``LocalExpertsEncoder`` for scheme "distil") and ``offsets_``;
#: version 4 ``X_fit_`` (scheme "distil").
FORMAT_VERSION = 4
DEFAULT_FILE_STEM = "parametric_tsne"


def file_paths(path) -> tuple[Path, Path]:
    """The weights and config files of ``path``: a directory, or a stem with or without a suffix."""
    path = Path(path)
    if path.is_dir():
        stem = path / DEFAULT_FILE_STEM
    elif path.suffix in (".safetensors", ".json"):
        stem = path.with_suffix("")
    else:
        stem = path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save(model, path) -> tuple[Path, Path]:
    """Write fitted ``model`` to the files of ``path``; see :meth:`ParametricTSNE.save`."""
    from safetensors.torch import save_file

    weights_path, config_path = file_paths(path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    params = model.get_params()
    params.pop("callback")
    if params["hidden"] is not None:
        params["hidden"] = [int(h) for h in params["hidden"]]
    params["device"] = str(params["device"])
    if not isinstance(params["random_state"], (int, np.integer, type(None))):
        params["random_state"] = None
    tensors = {f"encoder.{k}": v.detach().cpu().contiguous() for k, v in model.encoder_.state_dict().items()}
    tensors["embedding_"] = torch.from_numpy(model.embedding_)
    tensors["offsets_"] = torch.from_numpy(model.offsets_)
    if model.X_fit_ is not None:
        tensors["X_fit_"] = torch.from_numpy(model.X_fit_)
    save_file(tensors, str(weights_path))
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "params": {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()},
        "encoder": model.encoder_.config(),
        "n_features_in_": int(model.n_features_in_),
        "n_iter_": int(model.n_iter_),
        "kl_divergence_": None if math.isnan(model.kl_divergence_) else float(model.kl_divergence_),
    }
    config_path.write_text(json.dumps(config, indent=2))
    return weights_path, config_path


def load(cls, path, *, device=None):
    """The fitted ``cls`` instance in the files of ``path``; see :meth:`ParametricTSNE.load`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights_path, config_path = file_paths(path)
    for file in (weights_path, config_path):
        if not file.is_file():
            raise FileNotFoundError(f"{file} not found; pass the directory or file stem given to save()")
    try:
        model, spec, learned = _from_config(cls, json.loads(config_path.read_text(encoding="utf-8")))
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
    for name, value in learned.items():
        setattr(model, name, value)
    return model


def _from_config(cls, config) -> tuple:
    """The unfitted estimator, the encoder's spec and the learned numbers a saved config holds.

    Raises ``ValueError``/``TypeError`` naming what :func:`save` cannot have written.
    """
    if not isinstance(config, dict):
        raise ValueError(f"expected a JSON object, got {type(config).__name__}")
    version = config.get("format_version", 0)
    if config.get("format") != FORMAT or not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"it is not a {FORMAT} file of version <= {FORMAT_VERSION} "
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
