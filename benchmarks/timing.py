"""Timing helpers shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

import os
import time

import numpy as np


def median_time(fn, repeats):
    """Median wall time of ``repeats`` calls of ``fn`` (seconds), and every call's time."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), times


def load() -> str:
    """The 1, 5 and 15 minute load averages, to print beside a timing on a shared machine."""
    return "load " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
