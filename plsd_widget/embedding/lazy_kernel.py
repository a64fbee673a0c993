"""A numba kernel built on first use, safely from several threads.

Importing numba takes about a quarter of a second, so the kernels' modules do not
import it at import time; :class:`LazyKernel` imports it, and decorates the kernel,
the first time the kernel is needed. The background warm-up
(:mod:`~plsd_widget.embedding.warm_up`) and a first real call may get there at once:
a lock makes sure only one dispatcher is built, and numba's own compiler lock makes
the second caller wait for the first one's compilation instead of compiling again.
"""

from __future__ import annotations

import threading
from typing import Callable

__all__ = ["LazyKernel"]


class LazyKernel:
    """A numba dispatcher built by ``build`` the first time it is needed.

    Parameters
    ----------
    build : callable
        Called once, without arguments; imports numba and returns the jitted kernel
        (``numba.njit(..., cache=True)`` so that compiled code is kept on disk).
    """

    def __init__(self, build: Callable[[], Callable]):
        self._build = build
        self._lock = threading.Lock()
        self._dispatcher = None

    @property
    def dispatcher(self):
        """The numba dispatcher, built on first access."""
        if self._dispatcher is None:
            with self._lock:
                if self._dispatcher is None:
                    self._dispatcher = self._build()
        return self._dispatcher

    def __call__(self, *args):
        """Run the kernel (compiling it, or loading it from numba's cache, if needed)."""
        return self.dispatcher(*args)

    def compile_for(self, *example_args) -> None:
        """Compile the kernel for the types of ``example_args``, or load it from numba's cache, without running it.

        Not running it keeps the warm-up from launching numba's parallel threads
        while a real call may be running them.
        """
        import numba

        self.dispatcher.compile(tuple(numba.typeof(arg) for arg in example_args))
