"""The recipe selector and the contour level in a real JupyterLab and Chromium.

Picking "paper" fills every input with the paper's recipe and the kernel's config with
``FinetuneConfig.paper()``; editing a field turns the recipe custom; a refused value shows in
the error line; the contour level redraws the contours, on the test split too. Every wait is
on a condition (a DOM value, a kernel value), never a fixed sleep.
"""

from __future__ import annotations

import pytest

from tests.browser.jupyter import ARTIFACTS, kernel_json, wait_until
from tests.browser.test_widget_e2e import ROOT_SELECTOR, open_notebook_and_run, widget_data, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "e2e_controls.ipynb"
IMPORTS = """\
from plsd_widget.config import FinetuneConfig
from plsd_widget.widget.geometry import class_contours
from plsd_widget.widget.outlines import encode_outlines"""
PAPER_INPUTS = {"lam": "0.1", "lr": "0.1", "epochs": "7", "batch-size": "100", "anchor": "0", "reduction": "batch",
                "recipe": "paper"}


def input_values(page, names) -> dict:
    return {name: page.eval_on_selector(f"[data-testid={name}]", "el => el.value") for name in names}


def wait_for_value(page, name: str, value: str) -> None:
    page.wait_for_function(f"() => document.querySelector('[data-testid={name}]').value === '{value}'")


def commit(page, name: str, value: str) -> None:
    page.fill(f"[data-testid={name}]", value)
    page.press(f"[data-testid={name}]", "Enter")


def test_recipe_selector_and_contour_level_in_jupyterlab(jupyter_lab, page):
    write_notebook(jupyter_lab.root, NOTEBOOK, extra_cells=[IMPORTS])
    try:
        open_notebook_and_run(page, jupyter_lab, NOTEBOOK)
        with jupyter_lab.kernel_client(NOTEBOOK) as kernel:
            assert kernel_json(kernel, "view.recipe") == "default"
            assert input_values(page, ["recipe", "anchor", "reduction"]) == {
                "recipe": "default", "anchor": "3", "reduction": "edited"}
            assert "anchor 3" in page.get_attribute("label:has([data-testid=edited-only])", "title")

            # Paper: every input shows the paper's recipe, and the kernel holds exactly FinetuneConfig.paper().
            page.select_option("[data-testid=recipe]", "paper")
            wait_until(lambda: kernel_json(kernel, "view.finetune_config == FinetuneConfig.paper().to_dict()"),
                       30, "the paper's recipe to reach the kernel")
            for name, value in PAPER_INPUTS.items():
                wait_for_value(page, name, value)
            assert page.is_checked("[data-testid=edited-only]")
            title = page.get_attribute("label:has([data-testid=edited-only])", "title")
            assert "anchor 0, as in the paper" in title and "anchor 3" not in title
            assert kernel_json(kernel, "view.recipe") == "paper"
            page.screenshot(path=str(ARTIFACTS / "e2e_recipe_paper.png"))

            # Editing λ makes it custom; the kernel agrees, and runs what the inputs show.
            commit(page, "lam", "0.3")
            wait_for_value(page, "recipe", "custom")
            assert kernel_json(kernel, "[view.recipe, view.finetune_config == "
                                       "FinetuneConfig.paper().replace(lam=0.3).to_dict()]") == ["custom", True]
            page.select_option("[data-testid=reduction]", "edited")
            wait_until(lambda: kernel_json(kernel, "view.finetune_config['reduction']") == "edited", 30,
                       "the reduction to reach the kernel")
            commit(page, "anchor", "-1")  # the kernel's FinetuneConfig refuses it and sends the anchor back
            page.wait_for_function("() => document.querySelector('[data-testid=error]').textContent"
                                   ".includes('anchor must be in [0.0, inf], got -1')")
            wait_for_value(page, "anchor", "0")
            page.select_option("[data-testid=recipe]", "default")
            wait_for_value(page, "anchor", "3")
            wait_until(lambda: kernel_json(kernel, "view.finetune_config == FinetuneConfig.default().to_dict()"),
                       30, "the default recipe to reach the kernel")

            # The contour level: the drawn contours change, and are the kernel's at that level.
            contours_at = "view.contours == encode_outlines(*class_contours({}, {}, {!r}))"
            label = "label:has([data-testid=show-contours])"
            assert "90 % of each class's mass" in page.get_attribute(label, "title")
            at_90 = widget_data(page, "contoursChecksum")
            page.select_option("[data-testid=contour-level]", "1/N")
            page.wait_for_function(f"() => document.querySelector('{ROOT_SELECTOR}').dataset.contoursChecksum"
                                   f" !== '{at_90}'")
            assert kernel_json(kernel, "view.contour_level") == "1/N"
            assert kernel_json(kernel, contours_at.format("session.positions", "session.labels", "1/N"))
            assert "1/N, N the points of the split shown" in page.get_attribute(label, "title")
            page.screenshot(path=str(ARTIFACTS / "e2e_contours_paper_level.png"))
            at_paper = widget_data(page, "contoursChecksum")
            page.select_option("[data-testid=split]", "test")  # the held-out split keeps the level
            page.wait_for_function(f"() => document.querySelector('{ROOT_SELECTOR}').dataset.contoursChecksum"
                                   f" !== '{at_paper}'")
            wait_until(lambda: kernel_json(kernel, contours_at.format("session.test_positions", "session.y_test",
                                                                      "1/N")), 30, "the test split's 1/N contours")
            page.select_option("[data-testid=contour-level]", "0.5")
            wait_until(lambda: kernel_json(kernel, contours_at.format("session.test_positions", "session.y_test",
                                                                      0.5)), 30, "the test split's 50 % contours")
            assert "50 % of each class's mass" in page.get_attribute(label, "title")
            page.screenshot(path=str(ARTIFACTS / "e2e_contours_test_half.png"))
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "e2e_controls_failure.png"))
        raise
