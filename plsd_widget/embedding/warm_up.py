"""Getting the numba kernels ready in a background thread, so a fresh process does not wait for them.

A fresh process pays about 0.25 s to import numba and 0.3 s to set up its compiler
before the first kernel call, even when the compiled kernels are on disk, and about
1 s more to compile them when they are not (``benchmarks/cold_start.py``): the first
``ParametricTSNE.transform`` took ten times a warm one. :func:`start_warm_up` starts
one daemon thread that pays this while the user loads data and models; nothing starts
it at import: ``ParametricTSNE.fit`` and ``ParametricTSNE.load`` do, and so should
whatever is handed a fitted model and will transform with it (a ``Session``). It
compiles without running the kernels, so it never runs numba's parallel threads
beside a real call; a real call that comes first waits for it (numba compiles under
one lock) and does not compile again.

Compiled kernels are cached by numba: in the package's ``__pycache__``, or, where
that is not writable (a system-wide install), in the user's cache directory
(``~/.cache/numba`` on Linux), or in ``NUMBA_CACHE_DIR`` when that is set.

Set the environment variable ``PLSD_WARM_UP=0`` to turn the thread off (the
kernels are then compiled on first use).
"""

from __future__ import annotations

import logging
import os
import threading

from plsd_widget.embedding import attraction, edges, locality, neighbour_offsets

__all__ = ["WARM_UP_ENV", "start_warm_up", "warm_up_kernels"]

logger = logging.getLogger(__name__)

#: Environment variable; "0" turns the background warm-up off.
WARM_UP_ENV = "PLSD_WARM_UP"

_thread: threading.Thread | None = None
_thread_lock = threading.Lock()


def warm_up_kernels() -> None:
    """Compile every numba kernel of the package, or load it from numba's cache (blocking)."""
    neighbour_offsets.warm_up()  # transform's kernel first: fit takes seconds anyway
    locality.warm_up()
    edges.warm_up()
    attraction.warm_up()


def _warm_up_logging_errors() -> None:
    try:
        warm_up_kernels()
    except Exception:  # the first real call compiles again and raises the error where it is seen
        logger.warning("background compilation of the numba kernels failed", exc_info=True)


def start_warm_up() -> threading.Thread | None:
    """Start :func:`warm_up_kernels` in a daemon thread, once per process.

    Returns
    -------
    thread : threading.Thread or None
        The warm-up thread (the same one on every call), or None when
        ``PLSD_WARM_UP=0`` turns it off.
    """
    global _thread
    if os.environ.get(WARM_UP_ENV, "1").strip() == "0":
        return None
    with _thread_lock:
        if _thread is None:
            _thread = threading.Thread(target=_warm_up_logging_errors, name="plsd_widget-numba-warm-up",
                                       daemon=True)
            _thread.start()
    return _thread
