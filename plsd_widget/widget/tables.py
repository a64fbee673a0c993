"""The tables under the plot, as HTML: per-class metrics, then decluttering."""

from __future__ import annotations


def metrics_html(session) -> str:
    """The session's metrics table, then its declutter table under a heading.

    Parameters
    ----------
    session : Session

    Returns
    -------
    str
        HTML for the widget's metrics panel.
    """
    return (session.metrics.to_html() + '<h4 class="plsd-declutter-title">Decluttering (embedding)</h4>'
            + session.declutter.to_html())
