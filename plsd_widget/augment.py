"""Random affine augmentation of image batches: the paper's rotation, shift and zoom.

The seed paper trains its start classifier "with affine augmentation": rotations of up to
±15°, shifts of up to ±0.1 of the image size and zooms between 0.7 and 1.3.
:func:`random_affine` gives that as a batch transform, usable as
``FinetuneConfig(transform=...)`` or ``train_classifier(transform=...)``: each image of a
batch gets its own angle, shift and zoom, applied with ``affine_grid`` / ``grid_sample``
(bilinear, zeros outside the image) on the batch's device.

Its draws come from ``generator`` when one is given, else from torch's global CPU
generator, which ``PLSDTrainer.fit`` and ``train_classifier`` fork and seed from their
``random_state`` for the run, so a seeded run augments the same way every time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from plsd_widget._validation import check_fraction, check_positive


def affine_parameters(n: int, *, degrees: float = 15.0, translate: float = 0.1, scale=(0.7, 1.3),
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Draw ``n`` independent affine transforms, uniformly within the given ranges.

    Parameters
    ----------
    n : int
        Number of transforms (one per image).
    degrees : float, default=15
        Rotation angles are drawn from [-degrees, degrees].
    translate : float, default=0.1
        Shifts along each axis are drawn from [-translate, translate], as a share of the
        image's width (horizontal) or height (vertical).
    scale : (float, float), default=(0.7, 1.3)
        Zoom factors are drawn from [low, high]; above 1 the content grows.
    generator : torch.Generator, optional
        A CPU generator to draw from; None draws from torch's global CPU generator.

    Returns
    -------
    dict
        ``"angle"`` (radians) of shape (n,), ``"shift"`` (shares of the size, x then y) of
        shape (n, 2) and ``"zoom"`` of shape (n,), float32 CPU tensors.
    """
    degrees, translate, (low, high) = _check_ranges(degrees, translate, scale)
    u = torch.rand(n, 4, generator=generator)
    return {"angle": torch.deg2rad((2 * u[:, 0] - 1) * degrees),
            "shift": (2 * u[:, 1:3] - 1) * translate,
            "zoom": low + (high - low) * u[:, 3]}


def affine_theta(angle: torch.Tensor, shift: torch.Tensor, zoom: torch.Tensor) -> torch.Tensor:
    """The (n, 2, 3) matrices for ``affine_grid`` that rotate, zoom and shift the content.

    ``affine_grid`` maps each output pixel to the input point it samples, so the matrix is
    the inverse of the content's motion ``p -> zoom·R(angle)·p + shift`` in the grid's
    [-1, 1] coordinates, where a shift of ``s`` of the size is ``2·s`` (exact rotations for
    square images; other aspect ratios rotate in those coordinates).
    """
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    inverse = torch.stack((torch.stack((cos, sin), -1), torch.stack((-sin, cos), -1)), -2)  # R(-a) / zoom
    offset = -(inverse @ (2 * shift).unsqueeze(-1))
    return torch.cat((inverse, offset), -1)


def random_affine(degrees: float = 15.0, translate: float = 0.1, scale=(0.7, 1.3),
                  generator: torch.Generator | None = None):
    """A batch transform that rotates, shifts and zooms each image at random (the paper's augmentation).

    Parameters
    ----------
    degrees, translate, scale, generator
        As :func:`affine_parameters`: the paper's ranges by default.

    Returns
    -------
    callable
        ``transform(x) -> x'`` for a float tensor of shape (batch, channels, height,
        width), on any device; ``x'`` has the same shape, dtype and device.

    Examples
    --------
    >>> from plsd_widget.config import FinetuneConfig
    >>> config = FinetuneConfig(transform=random_affine())
    >>> random_affine(generator=torch.Generator().manual_seed(0))(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 1, 28, 28])
    """
    _check_ranges(degrees, translate, scale)

    def transform(x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"random_affine transforms float image batches of shape (batch, channels, height, "
                             f"width), got {shape}; add the channel axis with x.unsqueeze(1) and convert with "
                             "x.float()")
        drawn = affine_parameters(len(x), degrees=degrees, translate=translate, scale=scale, generator=generator)
        theta = affine_theta(**drawn).to(device=x.device, dtype=x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    return transform


def _check_ranges(degrees, translate, scale):
    degrees = check_fraction(degrees, "degrees", high=180.0)
    translate = check_fraction(translate, "translate")
    if not hasattr(scale, "__len__") or len(scale) != 2:
        raise ValueError(f"scale must be a pair (low, high) of zoom factors, e.g. (0.7, 1.3), got {scale!r}")
    low, high = (check_positive(s, "scale") for s in scale)
    if low > high:
        raise ValueError(f"scale must be a pair (low, high) with low <= high, got {tuple(scale)!r}")
    return degrees, translate, (low, high)
