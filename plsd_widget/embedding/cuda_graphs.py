"""The two moves of capturing a step as a CUDA graph: eager warm-up on a side stream, then the capture."""

from __future__ import annotations

import torch


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


def capture(device: torch.device, function, *, pool=None) -> torch.cuda.CUDAGraph:
    """``function()``'s kernels captured as a CUDA graph on ``device``, which is returned without having run.

    Raises
    ------
    RuntimeError
        If the capture fails (an operation that a graph cannot hold, such as a host
        sync). The current stream is restored first: ``torch.cuda.graph`` leaves its
        capture stream current when ending a failed capture raises.
    """
    with torch.cuda.device(device):
        stream = torch.cuda.current_stream()
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, pool=pool):
                function()
        except RuntimeError:
            torch.cuda.set_stream(stream)
            raise
    return graph
