"""Progress bars: the one place that makes them (tqdm's notebook-or-terminal bar)."""

from __future__ import annotations


def progress_bar(total=None, *, enabled: bool = True, desc: str = "", unit: str = "it", file=None):
    """A tqdm bar (a widget in a notebook, text in a terminal); a silent one when not ``enabled``.

    Parameters
    ----------
    total : int, optional
        Steps to go; None for a bar that only counts.
    enabled : bool, default=True
        False gives a bar that draws nothing but still counts (``bar.n``).
    desc, unit : str
        The bar's label and the name of one step.
    file : file-like, optional
        Where a text bar goes (default stderr).
    """
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit=unit, file=file)
