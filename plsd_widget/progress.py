"""Progress bars: the one place that makes them (tqdm's notebook-or-terminal bar)."""

from __future__ import annotations

import contextlib


def progress_bar(total=None, *, enabled: bool = True, desc: str = "", unit: str = "it", file=None):
    """A tqdm bar (a widget in a notebook, text in a terminal); a silent one when not ``enabled``.

    Parameters
    ----------
    total : int, optional
        Steps to go; None for a bar that only counts.
    enabled : bool, default=True
        False gives a bar that does nothing (tqdm's ``disable``: not even ``bar.n`` counts).
    desc, unit : str
        The bar's label and the name of one step.
    file : file-like, optional
        Where a text bar goes (default stderr).
    """
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit=unit, file=file)


@contextlib.contextmanager
def epoch_progress(session, epochs: int, *, desc: str, enabled: bool = True, file=None):
    """A bar that advances once per epoch a ``session`` completes inside the block, with its mean losses.

    The session's "status" event follows each completed epoch, once its means are in
    ``session.history``; the listener is removed when the block ends.
    """
    bar = progress_bar(epochs, enabled=enabled, desc=desc, unit="epoch", file=file)
    shown = len(session.history)  # not bar.n, which a disabled bar never advances

    def on_status(**_):
        nonlocal shown
        for means in session.history[shown:]:
            bar.set_postfix({k: f"{means[k]:.4f}" for k in ("loss", "ce", "emb")}, refresh=False)
            bar.update(1)
            shown += 1

    session.on("status", on_status)
    try:
        yield bar
    finally:
        session.off("status", on_status)
        bar.close()
