"""The Jupyter widget (anywidget) of a PLSD session; its front-end lives in ``js/``."""

from plsd_widget.widget.session_widget import PLSDWidget

__all__ = ["PLSDWidget"]
