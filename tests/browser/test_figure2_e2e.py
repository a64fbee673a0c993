"""Figure 2 in a real JupyterLab and Chromium: the CE baseline from its button, "show" swaps the embedding
shown, and a "fixed by PLSD" gallery item rings its image in the plot.

Every wait is on a condition (a DOM attribute, a kernel value), never a fixed sleep.
"""

from __future__ import annotations

import pytest

from tests.browser.jupyter import ARTIFACTS, kernel_json, wait_until
from tests.browser.test_widget_e2e import (ROOT_SELECTOR, open_notebook_and_run, wait_for_data, wait_for_status,
                                           widget_data, write_notebook)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "e2e_figure2.ipynb"
GALLERY = "document.querySelector('[data-testid=gallery]')"


def screenshot(page, name):
    """The page with the widget's toolbar and plot in view (JupyterLab scrolls the notebook, not the page)."""
    page.eval_on_selector(ROOT_SELECTOR, "el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(ARTIFACTS / name))


def test_baseline_show_choice_and_gallery_highlight(jupyter_lab, page):
    write_notebook(jupyter_lab.root, NOTEBOOK)
    try:
        open_notebook_and_run(page, jupyter_lab, NOTEBOOK)
        with jupyter_lab.kernel_client(NOTEBOOK) as kernel:
            # Before the baseline: the "show" choice offers no baseline, and says why.
            assert page.eval_on_selector("[data-testid=show] option[value=baseline]", "o => o.disabled")
            assert "run_baseline" in page.get_attribute("[data-testid=show]", "title")
            page.click("[data-testid=gallery-summary]")  # open the gallery panel
            assert page.is_visible("[data-testid=run-baseline]")

            # Two epochs of PLSD on an edit made in Python, then the baseline from the gallery's button.
            kernel_json(kernel, "session.shift('3', (2.0, 0.0)) or session.finetune(epochs=2) or True")
            wait_for_status(page, "done: 2/2")
            page.click("[data-testid=run-baseline]")
            page.wait_for_function(f"() => {GALLERY}.dataset.hasBaseline === 'true'", timeout=240_000)
            assert kernel_json(kernel, "view.has_baseline") is True
            counts = kernel_json(kernel, "[len(session.fixed_by_plsd().fixed), len(session.fixed_by_plsd().broken)]")
            page.wait_for_function(f"() => {GALLERY}.dataset.nFixed === '{counts[0]}'")
            assert widget_data(page, "show") == "current"

            # "show": the baseline's positions, then PLSD's again.
            plsd = widget_data(page, "positionsChecksum")
            page.select_option("[data-testid=show]", "baseline")
            wait_for_data(page, "show", "baseline")
            page.wait_for_function(
                f"() => document.querySelector('{ROOT_SELECTOR}').dataset.positionsChecksum !== '{plsd}'")
            wait_until(lambda: kernel_json(kernel, "view.show") == "baseline", 30, "show=baseline in Python")
            assert page.is_disabled("[data-testid=mode-move]"), "the baseline's positions are not for editing"
            screenshot(page, "e2e_figure2_baseline.png")
            page.select_option("[data-testid=show]", "current")
            wait_for_data(page, "show", "current")
            wait_for_data(page, "positionsChecksum", plsd)
            assert not page.is_disabled("[data-testid=mode-move]")

            # The gallery: a click on an image rings it in the plot, on the test split it comes from.
            items = page.locator("[data-testid=gallery-item]")
            assert items.count() == min(counts[0], 48) + min(counts[1], 48) > 0, f"nothing fixed or broken: {counts}"
            first = items.first
            index = first.get_attribute("data-index")
            first.click()
            wait_for_data(page, "highlighted", f"test:{index}")
            wait_for_data(page, "split", "test")
            wait_for_data(page, "nPoints", kernel_json(kernel, "len(session.y_test)"))
            assert kernel_json(kernel, "view.split") == "test"
            assert "plsd-active" in first.get_attribute("class")
            screenshot(page, "e2e_figure2_gallery.png")
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "e2e_figure2_failure.png"))
        raise
