"""Binary traits: numpy arrays travel to and from the view as raw bytes, never JSON lists."""

from __future__ import annotations

import numpy as np
import traitlets


class Buffer(traitlets.TraitType):
    """A bytes trait that also accepts the ``memoryview`` binary data arrives as from JS.

    A plain ``traitlets.Bytes`` rejects memoryviews, so a selection sent by the view
    would be dropped.
    """

    default_value = b""
    info_text = "a bytes-like object"

    def validate(self, obj, value):
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        self.error(obj, value)


def array_to_bytes(array, dtype) -> bytes:
    """C-contiguous little-endian bytes of ``array`` as ``dtype``."""
    return np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()


def bytes_to_array(data, dtype, name: str, max_items: int | None = None) -> np.ndarray:
    """A copy of ``data`` read as ``dtype``; the byte count must be a whole number of items.

    Parameters
    ----------
    data : bytes-like
    dtype : numpy dtype
        Read little-endian.
    name : str
        What the data is, for the error messages.
    max_items : int, optional
        The most items ``data`` may hold; a longer buffer is refused before it is read.
    """
    dtype = np.dtype(dtype).newbyteorder("<")
    raw = memoryview(data).cast("B")
    if max_items is not None and raw.nbytes > max_items * dtype.itemsize:
        raise ValueError(f"{name}: {raw.nbytes:,} bytes is more than the {max_items:,} {dtype.name} items "
                         f"({max_items * dtype.itemsize:,} bytes) it can hold; nothing was read")
    if raw.nbytes % dtype.itemsize:
        raise ValueError(f"{name}: {raw.nbytes} bytes is not a whole number of {dtype.name} items")
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))


def label_dtype(n_classes: int) -> str:
    """The smallest unsigned dtype the view decodes that holds ``n_classes`` labels."""
    if n_classes <= 256:
        return "uint8"
    if n_classes <= 65536:
        return "uint16"
    raise ValueError(f"the widget shows at most 65,536 classes, got {n_classes}")
