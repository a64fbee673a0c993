"""The two moves of capturing a step as a CUDA graph: eager warm-up on a side stream, then the capture."""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)


def on_side_stream(device: torch.device, function, *args, **kwargs):
    """Run ``function(*args, **kwargs)`` on a new side stream of ``device``, between the current stream's work.

    The eager warm-up before a capture runs this way, as torch's CUDA graph notes
    recommend; it triggers the lazy set-up (cuBLAS handles, FFT plans, optimiser
    state) that must not happen inside a capture.
    """
    current = torch.cuda.current_stream(device)
    side = torch.cuda.Stream(device)
    side.wait_stream(current)
    with torch.cuda.stream(side):
        result = function(*args, **kwargs)
    current.wait_stream(side)
    return result


def capture(device: torch.device, function, *, what: str, required: bool, pool=None) -> torch.cuda.CUDAGraph | None:
    """``function()``'s kernels captured as a CUDA graph on ``device``, returned without having run.

    If the capture fails (an operation that a graph cannot hold, such as a host sync),
    the current stream is restored (``torch.cuda.graph`` leaves its capture stream
    current when ending a failed capture raises); then, unless ``required``, a warning
    naming ``what`` is logged and None is returned, so that the caller steps eagerly.
    A failed capture has run nothing, so the caller's state is as before it.

    Raises
    ------
    RuntimeError
        If the capture fails and ``required`` is true.
    """
    with torch.cuda.device(device):
        stream = torch.cuda.current_stream()
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, pool=pool):
                function()
        except RuntimeError as error:
            torch.cuda.set_stream(stream)
            if required:
                raise
            logger.warning("capturing %s as a CUDA graph failed, so it runs eagerly from here "
                           "(slower, same result): %s", what, error)
            return None
    return graph
