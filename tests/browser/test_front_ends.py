"""The quick-start notebook, run whole in JupyterLab 4 and in Notebook 7: the dashboard renders,
the scatter draws its points, and a legend click reaches the Python session."""

from __future__ import annotations

import base64
import shutil

import pytest

from tests.browser.jupyter import ARTIFACTS, ROOT, kernel_json, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "01_quickstart.ipynb"
WIDGET = "[data-testid=plsd-widget]"

ALL_CELLS_RAN = """() => {
    const panel = window.jupyterapp?.shell?.currentWidget;
    const cells = panel?.content?.widgets?.filter(cell => cell.model.type === 'code') ?? [];
    return panel?.sessionContext?.session?.kernel?.status === 'idle' && cells.length > 0
        && cells.every(cell => cell.model.executionCount !== null);
}"""

# Decode a PNG in the page and count, per colour, the pixels within `tolerance` of it per channel.
COUNT_COLOURS = """async ([png, colours, tolerance]) => {
    const image = new Image();
    image.src = 'data:image/png;base64,' + png;
    await image.decode();
    const canvas = document.createElement('canvas');
    [canvas.width, canvas.height] = [image.width, image.height];
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    const pixels = context.getImageData(0, 0, image.width, image.height).data;
    const targets = colours.map(hex => [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16)));
    const counts = targets.map(() => 0);
    for (let p = 0; p < pixels.length; p += 4) {
        targets.forEach((rgb, k) => {
            if (rgb.every((v, c) => Math.abs(pixels[p + c] - v) <= tolerance)) counts[k] += 1;
        });
    }
    return counts;
}"""


@pytest.mark.parametrize("front_end", ["jupyter_lab", "jupyter_notebook"])
def test_quickstart_runs_and_its_widget_works(front_end, request, page):
    server = request.getfixturevalue(front_end)
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, server.root / NOTEBOOK)
    try:
        page.goto(server.notebook_url(NOTEBOOK))
        page.wait_for_function(
            "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
            timeout=120_000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_selector(f"{WIDGET}[data-ready=true]", timeout=240_000)
        page.wait_for_function(ALL_CELLS_RAN, timeout=400_000, polling=500)

        outputs = page.inner_text(".jp-Notebook")
        assert "Error displaying widget" not in outputs and "Failed to load" not in outputs
        assert "Traceback" not in outputs
        assert page.eval_on_selector(f"{WIDGET} canvas.plsd-gl", "c => c.width * c.height") > 0
        assert page.locator(".bqplot").count() >= 2, "the dashboard's loss and F1 panels did not render"

        with server.kernel_client(NOTEBOOK) as kernel:
            labels = kernel_json(kernel, "session.labels.tolist()")
            colours = kernel_json(kernel, "session.widget().colors")
            assert page.eval_on_selector(WIDGET, "el => el.dataset.nPoints") == str(len(labels))

            # Points drawn: the WebGL canvas alone (overlay hidden) shows most class colours.
            page.eval_on_selector(f"{WIDGET} [data-testid=overlay]", "c => { c.style.visibility = 'hidden'; }")
            png = page.locator(f"{WIDGET} [data-testid=plot]").screenshot()
            page.eval_on_selector(f"{WIDGET} [data-testid=overlay]", "c => { c.style.visibility = ''; }")
            counts = page.evaluate(COUNT_COLOURS, [base64.b64encode(png).decode(), colours, 40])
            assert sum(count > 20 for count in counts) >= len(colours) - 2, f"pixels per class colour: {counts}"

            # A legend click selects class 4 in the view and in the Python session.
            members = [i for i, label in enumerate(labels) if label == 4]
            page.click(f"{WIDGET} [data-testid=legend] [data-class='4']")
            page.wait_for_function(f"() => document.querySelector('{WIDGET}').dataset.nSelected === '{len(members)}'")
            wait_until(lambda: kernel_json(kernel, "session.selection.tolist()") == members, 60,
                       "the legend selection to reach the Python session")
        page.screenshot(path=str(ARTIFACTS / f"front_end_{server.front_end}.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"front_end_{server.front_end}_failure.png"), full_page=True)
        raise


def test_jupyterlab_starts_without_a_node_error(jupyter_lab):
    # JupyterLab asks jupyter_builder's bundled yarn.js for its configuration at start; a
    # package.json with "type": "module" above the .venv made node load it as an ES module,
    # and it printed a page of minified JavaScript and a stack trace on every `make demo`.
    log = (jupyter_lab.root.parent / "jupyter-lab.log").read_text()
    assert "Fail to get yarn configuration" not in log and "Node.js v" not in log, log[:2000]
