"""Sphinx configuration of the plsd_widget documentation site (``make docs``).

Everything is offline: no intersphinx, no CDN script (the ipywidgets embed scripts that
myst-nb would load are turned off, and a widget view is shown as a screenshot), no
download. The tutorials in ``notebooks/`` are executed during the build at a small size:
``PLSD_DOCS_SMALL=1`` is read in each notebook's first code cell.
"""

import os
import sys
from pathlib import Path

from docutils import nodes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's package, also when it is not installed
# The executing kernels inherit these: the tutorials at their small size, no progress bars
# (a tqdm bar is an ipywidget, which a static page cannot draw).
os.environ["PLSD_DOCS_SMALL"] = "1"
os.environ["TQDM_DISABLE"] = "1"
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)

import plsd_widget  # noqa: E402

project = "plsd_widget"
author = "the plsd_widget authors"
copyright = "the plsd_widget authors, MIT licence"
release = version = plsd_widget.__version__

extensions = ["sphinx.ext.autodoc", "numpydoc", "myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "README.md"]
suppress_warnings = ["myst.header"]  # notebooks start at "# Title" and number sections from there

# API reference: numpydoc renders the docstrings; members are listed on each page.
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc "Parameters" sections give the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# Tutorials: executed on every build, in a temporary folder, failing the build on an error.
nb_execution_mode = "force"
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_execution_in_temp = True
nb_ipywidgets_js = {}  # no require.js / html-manager from a CDN

html_theme = "pydata_sphinx_theme"
html_title = "plsd_widget"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False

WIDGET_VIEW = '<script type="application/vnd.jupyter.widget-view+json">'
SCREENSHOT = "/_static/widget.png"  # relative to the source folder; docs/screenshot.py refreshes it
CAPTION = "The widget in JupyterLab, on the quick start's data (a screenshot: a static page cannot run it)."


def widget_views_as_screenshot(app, doctree):
    """Show the screenshot where a notebook displayed a widget, and drop the widgets' state.

    myst-nb writes a widget view as a script that only the ipywidgets embed scripts (from a
    CDN) would draw, and embeds the state of every widget of the notebook (up to 1 MB a page).
    """
    from myst_nb.sphinx_ import NbMetadataCollector

    for raw in list(doctree.findall(nodes.raw)):
        if not raw.astext().startswith(WIDGET_VIEW):
            continue
        figure = nodes.figure("", classes=["widget-screenshot"])
        figure += nodes.image(uri=SCREENSHOT, alt="The plsd_widget view in JupyterLab")
        figure += nodes.caption("", CAPTION)
        doctree.set_id(figure)
        raw.replace_self(figure)
    if hasattr(app.env, "nb_metadata"):
        NbMetadataCollector.get_js_files(app.env, app.env.docname).pop("ipywidgets_state", None)


def setup(app):
    # before Sphinx's image collector (priority 500), so that the screenshot is copied
    app.connect("doctree-read", widget_views_as_screenshot, priority=400)
