"""Refresh ``docs/_static/widget.png``: the widget of the quick start, photographed in JupyterLab.

The documentation shows this picture wherever a notebook displays the widget (a static page
cannot run it). It is committed, not made by ``make docs``, because it needs a browser;
rerun this after a change of the view:

    .venv/bin/python docs/screenshot.py        # after `make setup` (JupyterLab, Chromium)

A notebook builds the demo session, makes the demo's scripted edit (the two classes the CNN
confuses most, contracted and moved into empty space: the targets show as rings joined to
the points) and shows ``session.widget()``; JupyterLab (on loopback) and Debian's Chromium
(the browser tests' set-up, ``tests/browser/jupyter.py``) render it, and the widget's toolbar,
plot and sidebar are saved.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.jupyter import CHROMIUM_ARGS, JupyterServer, chromium_executable  # noqa: E402

WIDGET = "[data-testid=plsd-widget]"
CELLS = [
    "from plsd_widget.demo import default_session, scripted_edit\n\n"
    "session = default_session()\n"
    "print(scripted_edit(session))",
    "session.widget()",
]
VIEWPORT = {"width": 1300, "height": 1400}  # the whole widget in view


def write_notebook(folder: Path) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "screenshot.ipynb")
    return "screenshot.ipynb"


def photograph(out: Path, timeout_s: float) -> None:
    """Run the notebook in JupyterLab and save the widget's element as a PNG at ``out``."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "notebooks").mkdir()
        (base / "runtime").mkdir()
        name = write_notebook(base / "notebooks")
        server = JupyterServer(base / "notebooks", base / "runtime", "lab")
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
                page = browser.new_context(viewport=VIEWPORT).new_page()
                page.goto(server.notebook_url(name))
                page.wait_for_function(
                    "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel?.status"
                    " === 'idle'", timeout=timeout_s * 1000)
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
                page.wait_for_selector(f"{WIDGET}[data-ready=true]", timeout=timeout_s * 1000)
                page.wait_for_timeout(2000)  # the contours and targets are drawn after the points
                page.locator(WIDGET).scroll_into_view_if_needed()
                # the toolbar, the plot and the sidebar beside it; not the tables below
                box = page.locator(WIDGET).bounding_box()
                plot = page.locator(f"{WIDGET} [data-testid=plot]").bounding_box()
                page.screenshot(path=str(out), clip={"x": box["x"], "y": box["y"], "width": box["width"],
                                                     "height": plot["y"] + plot["height"] - box["y"] + 8})
                browser.close()
        finally:
            server.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "_static" / "widget.png")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the widget (default 600)")
    args = parser.parse_args(argv)
    photograph(args.out, args.timeout)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
