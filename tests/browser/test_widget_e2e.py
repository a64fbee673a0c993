"""The whole loop in a real JupyterLab and Chromium: lasso, drag, edit reaches Python, one epoch moves points.

Every wait is on a condition (a DOM attribute, a kernel value), never a fixed sleep.
"""

from __future__ import annotations

import json
import pathlib

import nbformat
import pytest

from tests.browser.jupyter import ARTIFACTS, kernel_json, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "e2e.ipynb"
SETUP = """\
import numpy as np
from plsd_widget.demo import default_session
session = default_session(cnn_epochs=2)
view = session.widget()
view"""
ROOT_SELECTOR = "[data-testid=plsd-widget]"


def write_notebook(directory, name=NOTEBOOK, extra_cells=()):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in (SETUP, *extra_cells)]
    nbformat.write(nb, directory / name)


def widget_data(page, key: str) -> str | None:
    return page.eval_on_selector(ROOT_SELECTOR, f"el => el.dataset.{key} ?? null")


def open_notebook_and_run(page, lab, name=NOTEBOOK):
    page.goto(lab.notebook_url(name))
    page.wait_for_function(
        "() => { const w = window.jupyterapp?.shell?.currentWidget;"
        " return w?.sessionContext?.session?.kernel?.status === 'idle'; }",
        timeout=120_000,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector(f"{ROOT_SELECTOR}[data-ready=true]", timeout=240_000)


def wait_for_data(page, key: str, value) -> None:
    page.wait_for_function(f"() => document.querySelector('{ROOT_SELECTOR}').dataset.{key} === '{value}'")


def wait_for_status(page, prefix: str):
    page.wait_for_function(
        f"() => (document.querySelector('{ROOT_SELECTOR}').dataset.status || '').startsWith('{prefix}')",
        timeout=240_000)


def drag(page, points, steps=8):
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=steps)
    page.mouse.up()


def test_lasso_drag_and_finetune_in_jupyterlab(jupyter_lab, page):
    write_notebook(jupyter_lab.root)
    try:
        open_notebook_and_run(page, jupyter_lab)
        with jupyter_lab.kernel_client(NOTEBOOK) as kernel:
            n_points = kernel_json(kernel, "len(session.labels)")
            assert widget_data(page, "nPoints") == str(n_points)

            # A real mouse lasso around the middle-left of the plot.
            box = page.locator("[data-testid=plot]").first.bounding_box()
            x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
            lasso = [(x0 + w * fx, y0 + h * fy) for fx, fy in
                     [(0.2, 0.25), (0.5, 0.25), (0.5, 0.75), (0.2, 0.75)]]  # the lasso closes itself
            drag(page, lasso)
            page.wait_for_function(f"() => Number(document.querySelector('{ROOT_SELECTOR}').dataset.nSelected) > 0")
            n_selected = int(widget_data(page, "nSelected"))
            assert 0 < n_selected < n_points
            selected = wait_until(
                lambda: (s := kernel_json(kernel, "session.selection.tolist()")) and len(s) == n_selected and s,
                60, "the lasso selection to reach the Python session")

            # Drag the selection right and up in Move mode.
            page.click("[data-testid=mode-move]")
            cx, cy = x0 + w * 0.35, y0 + h * 0.5
            drag(page, [(cx, cy), (cx + 90, cy - 60)], steps=12)
            page.wait_for_function(f"() => document.querySelector('{ROOT_SELECTOR}').dataset.nEdited === '{n_selected}'")
            edit = kernel_json(kernel, "{'edited': np.flatnonzero(np.isfinite(session.targets[:, 0])).tolist(),"
                                       " 'shift': np.nanmean(session.targets - session.positions, axis=0).tolist()}")
            assert edit["edited"] == selected, "targets must change for exactly the selected points"
            assert edit["shift"][0] > 0 and edit["shift"][1] > 0, "dragging right and up moves targets +x, +y"
            page.screenshot(path=str(ARTIFACTS / "e2e_after_drag.png"))

            # One epoch of PLSD from the widget's button; the positions in the view must change.
            page.fill("[data-testid=epochs]", "1")
            page.press("[data-testid=epochs]", "Enter")
            page.fill("[data-testid=lam]", "0.6")
            page.press("[data-testid=lam]", "Enter")
            config = lambda field: kernel_json(kernel, f"view.finetune_config[{field!r}]")  # noqa: E731
            wait_until(lambda: config("lam") == 0.6, 30, "λ=0.6 to reach the kernel")
            page.fill("[data-testid=lam]", "1.5")  # the kernel's FinetuneConfig refuses it and sends λ back
            page.press("[data-testid=lam]", "Enter")
            page.wait_for_function("() => document.querySelector('[data-testid=error]').textContent"
                                   ".includes('lam must be in [0.0, 1.0], got 1.5')")
            page.wait_for_function("() => document.querySelector('[data-testid=lam]').value === '0.6'")
            assert config("lam") == 0.6
            page.fill("[data-testid=lr]", "0.02")
            page.press("[data-testid=lr]", "Enter")
            wait_until(lambda: config("lr") == 0.02, 30, "lr=0.02 to reach the kernel")
            before = widget_data(page, "positionsChecksum")
            page.click("[data-testid=finetune]")
            wait_for_status(page, "done: 1/1")
            page.wait_for_function(
                f"() => document.querySelector('{ROOT_SELECTOR}').dataset.positionsChecksum !== '{before}'")
            assert kernel_json(kernel, "[len(session.checkpoints), session.config.lr, session.config.lam]") == [
                2, 0.02, 0.6]  # the run used the config the inputs hold
            assert "PLSD" in page.inner_text("[data-testid=metrics]")
            page.screenshot(path=str(ARTIFACTS / "e2e_after_finetune.png"))

            # A long run stops from the Stop button, keeping only completed epochs.
            page.fill("[data-testid=epochs]", "500")
            page.press("[data-testid=epochs]", "Enter")
            wait_until(lambda: config("epochs") == 500, 30, "epochs=500 to reach the kernel")
            page.click("[data-testid=finetune]")
            page.wait_for_function(f"() => document.querySelector('{ROOT_SELECTOR}').dataset.training === 'true'")
            page.click("[data-testid=stop]")
            wait_for_status(page, "stopped")
            assert not kernel_json(kernel, "session.is_training")
            assert 2 <= kernel_json(kernel, "len(session.checkpoints)") < 2 + 500

            # The held-out split: the view shows the test points, where nothing can be edited.
            n_test = kernel_json(kernel, "len(session.y_test)")
            page.select_option("[data-testid=split]", "test")
            wait_for_data(page, "nPoints", n_test)
            wait_for_data(page, "nEdited", 0)
            assert page.is_disabled("[data-testid=mode-move]")
            page.screenshot(path=str(ARTIFACTS / "e2e_test_split.png"))
            page.select_option("[data-testid=split]", "train")
            wait_for_data(page, "nPoints", n_points)
            wait_for_data(page, "nEdited", n_selected)

            # Undo and redo travel as deltas; a reloaded page (the notebook saved, the kernel
            # alive) then rebuilds the view from the kernel's traits, whose full targets are
            # older than the last delta: the view asks for the full array once and shows the
            # same edits.
            page.click("[data-testid=undo]")
            wait_for_data(page, "nEdited", 0)
            page.click("[data-testid=redo]")
            wait_for_data(page, "nEdited", n_selected)
            version = widget_data(page, "targetsVersion")
            assert kernel_json(kernel, "view.targets_version") < int(version), "undo/redo should have sent deltas"
            page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")  # keeps the output
            page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
            page.reload()
            page.wait_for_selector(f"{ROOT_SELECTOR}[data-ready=true]", timeout=240_000)
            wait_for_data(page, "nEdited", n_selected)
            wait_for_data(page, "targetsVersion", version)
            assert kernel_json(kernel, "view.targets_version") == int(version)  # the resync's full array
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "e2e_failure.png"))
        raise


def test_selection_tools_contract_keyboard_and_png(jupyter_lab, page):
    name = "e2e_tools.ipynb"
    write_notebook(jupyter_lab.root, name, extra_cells=["view  # the same widget, displayed a second time"])
    try:
        open_notebook_and_run(page, jupyter_lab, name)
        with jupyter_lab.kernel_client(name) as kernel:
            labels = kernel_json(kernel, "session.labels.tolist()")
            members = {c: [i for i, label in enumerate(labels) if label == c] for c in (0, 1, 3, 5)}
            selection = lambda: kernel_json(kernel, "session.selection.tolist()")  # noqa: E731

            # Hover: the tooltip shows the sample's thumbnail, its label and the prediction.
            box = page.locator("[data-testid=plot]").first.bounding_box()
            hovered = None
            for fy in (0.5, 0.45, 0.55, 0.4, 0.6):  # sweep the mouse until it is over a point
                for fx in range(30, 71):
                    page.mouse.move(box["x"] + box["width"] * fx / 100, box["y"] + box["height"] * fy)
                    hovered = widget_data(page, "hovered")
                    if hovered is not None:
                        break
                if hovered is not None:
                    break
            assert hovered is not None, "no point found under the mouse along the sweep"
            text = page.inner_text("[data-testid=tooltip]")
            label, predicted = kernel_json(
                kernel, f"[session.class_names[session.labels[{hovered}]], "
                        f"session.class_names[session.predictions[{hovered}]]]")
            assert f"#{hovered} · label {label} · predicted {predicted}" in text
            assert page.eval_on_selector("[data-testid=tooltip] canvas", "c => c.width") == 8
            page.screenshot(path=str(ARTIFACTS / "e2e_tooltip.png"))

            # A click on that point shows its nearest neighbours in the latent space.
            page.mouse.down()
            page.mouse.up()
            wait_for_data(page, "neighbors", 8)
            nearest = kernel_json(kernel, f"session.latent_neighbors({hovered}).tolist()")
            assert kernel_json(kernel, "view.neighbors_of") == int(hovered)
            cards = page.locator(ROOT_SELECTOR).first.locator("[data-testid=neighbors] figure")
            assert len(nearest) == 8 and cards.count() == 9  # the point and its 8 neighbours
            assert all(" · d " in cards.nth(i).inner_text() for i in range(1, 9)), "each neighbour shows its distance"
            page.mouse.move(box["x"] + 2, box["y"] + 2)

            # Box and lasso selection with modifiers, real mouse and keyboard: Shift adds, Alt removes.
            def at(fx, fy):
                return box["x"] + box["width"] * fx, box["y"] + box["height"] * fy

            def gesture(points, modifier=None):
                """A drag with a modifier held; the new selection once Python has it (each one here differs)."""
                previous = set(selection())
                if modifier:
                    page.keyboard.down(modifier)
                drag(page, [at(*p) for p in points])
                if modifier:
                    page.keyboard.up(modifier)

                def arrived():
                    now = set(selection())
                    return [now] if now != previous and len(now) == int(widget_data(page, "nSelected")) else None
                return wait_until(arrived, 30, f"the selection of a {modifier or 'plain'} gesture to reach Python")[0]

            left = [(0.25, 0.25), (0.45, 0.75)]  # two disjoint rectangles
            right = [(0.5, 0.25), (0.75, 0.75)]
            page.click("[data-testid=mode-box]")
            in_left = gesture(left)
            assert len(in_left) > 1, "no points in the left rectangle"
            both = gesture(right, "Shift")
            in_right = both - in_left
            assert in_right and in_left < both, f"Shift+box must add: {len(in_left)} then {len(both)}"
            assert gesture(left, "Alt") == in_right, "Alt+box must remove the left rectangle's points"
            assert gesture(left) == in_left and gesture(right) == in_right  # plain boxes replace
            page.screenshot(path=str(ARTIFACTS / "e2e_box_modifiers.png"))

            page.click("[data-testid=mode-lasso]")
            lasso = [(0.2, 0.25), (0.4, 0.25), (0.4, 0.75), (0.2, 0.75)]  # closes itself; clear of `right`
            added = gesture(lasso, "Shift")
            assert in_right < added, "Shift+lasso must add the lassoed points to the selection"
            assert gesture(lasso, "Alt") == in_right, "Alt+lasso must remove exactly what the same lasso added"
            page.screenshot(path=str(ARTIFACTS / "e2e_lasso_modifiers.png"))

            # Legend: click selects a class, Shift adds one, Alt removes one.
            page.click("[data-testid=legend] [data-class='0']")
            wait_for_data(page, "nSelected", len(members[0]))
            page.click("[data-testid=legend] [data-class='1']", modifiers=["Shift"])
            wait_for_data(page, "nSelected", len(members[0]) + len(members[1]))
            page.click("[data-testid=legend] [data-class='0']", modifiers=["Alt"])
            wait_for_data(page, "nSelected", len(members[1]))
            wait_until(lambda: selection() == members[1], 30, "the legend selection to reach Python")

            # Invert and clear; then a selection made in Python shows in the view.
            page.click("[data-testid=invert-selection]")
            wait_for_data(page, "nSelected", len(labels) - len(members[1]))
            page.click("[data-testid=clear-selection]")
            wait_for_data(page, "nSelected", 0)
            wait_until(lambda: selection() == [], 30, "the cleared selection to reach Python")
            kernel_json(kernel, "session.select('3') or True")
            wait_for_data(page, "nSelected", len(members[3]))

            # Look inside: the selection's mean saliency map, then class 3's subtypes as outlines.
            inspect = "document.querySelector('[data-testid=inspect]')"
            page.click("[data-testid=selection-saliency]")
            page.wait_for_function("() => document.querySelector('[data-testid=selection-heat]').dataset.maps === '1'")
            # What moves the selected 3s from class 3 toward class 5, then from group A (them) toward class 5.
            heat_caption = "document.querySelector('[data-testid=selection-heat] figcaption')?.textContent ?? ''"
            page.select_option("[data-testid=direction-from]", label="class 3")
            page.select_option("[data-testid=direction-to]", label="class 5")
            page.click("[data-testid=direction-saliency]")
            page.wait_for_function(f"() => ({heat_caption}).includes('from class 3 toward class 5')")
            page.click("[data-testid=group-A]")
            group_a = f"group A ({len(members[3])})"
            page.select_option("[data-testid=direction-from]", label=group_a)
            page.click("[data-testid=direction-saliency]")
            page.wait_for_function(f"() => ({heat_caption}).includes('from {group_a} toward class 5')")
            assert kernel_json(kernel, "view.error") == ""
            page.select_option("[data-testid=subtype-class]", label="class 3")
            page.click("[data-testid=find-subtypes]")
            page.wait_for_function(f"() => Number({inspect}.dataset.nSubtypes) >= 1", timeout=120_000)
            assert kernel_json(kernel, "view.subtypes_info").startswith("class 3")
            page.screenshot(path=str(ARTIFACTS / "e2e_look_inside.png"))

            # Alt+wheel up over the plot contracts the selection toward its centroid (Eq. 2).
            plot = page.locator("[data-testid=plot]").first
            plot.scroll_into_view_if_needed()  # the look-inside clicks above may have scrolled the notebook
            box = plot.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.keyboard.down("Alt")
            page.mouse.wheel(0, -100)
            page.mouse.wheel(0, -100)
            page.keyboard.up("Alt")  # the gesture ends: one edit
            wait_for_data(page, "nEdited", len(members[3]))
            assert kernel_json(kernel, "len(session.edits.edits)") == 1
            spread = kernel_json(
                kernel, "[float(np.linalg.norm(a - a.mean(0), axis=1).mean()) for a in "
                        "(session.positions[session.labels == 3], session.targets[session.labels == 3])]")
            assert spread[1] < 0.95 * spread[0], f"Alt+wheel up must contract class 3, spreads {spread}"

            # Keyboard undo / redo act on the session's edit log.
            page.focus(ROOT_SELECTOR)
            page.keyboard.press("Control+z")
            wait_for_data(page, "nEdited", 0)
            assert kernel_json(kernel, "[len(session.edits.edits), session.edits.can_redo]") == [0, True]
            page.keyboard.press("Control+Shift+z")
            wait_for_data(page, "nEdited", len(members[3]))

            # The exact-edit panel: δ = (−7, 10) for class 5, as numbers.
            page.select_option("[data-testid=edit-target]", label="class 5")
            page.fill("[data-testid=delta-x]", "-7")
            page.fill("[data-testid=delta-y]", "10")
            page.click("[data-testid=apply-shift]")
            wait_for_data(page, "nEdited", len(members[3]) + len(members[5]))
            shift = kernel_json(kernel, "np.unique((session.targets - session.positions)[session.labels == 5]"
                                        ".round(3), axis=0).tolist()")
            assert shift == [[-7.0, 10.0]]
            assert "edited '5' points land inside" in page.inner_text("[data-testid=warning]")

            # PNG export: a real download of an opaque PNG.
            with page.expect_download() as download:
                page.click("[data-testid=export-png]")
            path = ARTIFACTS / "e2e_export.png"
            download.value.save_as(path)
            data = path.read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
            page.screenshot(path=str(ARTIFACTS / "e2e_tools.png"))

            # The second view of the same widget shows the same state.
            same_state = ("els => els.map(e => [e.dataset.nSelected, e.dataset.nEdited, e.dataset.positionsChecksum,"
                          " e.dataset.targetsVersion, e.dataset.targetsChecksum])")
            page.wait_for_function(f"() => document.querySelectorAll('{ROOT_SELECTOR}').length === 2")
            views = page.eval_on_selector_all(ROOT_SELECTOR, same_state)
            assert views[0] == views[1], f"the two views differ: {views}"

            # Displayed again after the edits (the model's full targets are older than the last
            # delta): the new view asks for the full array once and then shows the same edits.
            page.evaluate("""async () => {
                const app = window.jupyterapp, notebook = app.shell.currentWidget.content;
                notebook.activeCellIndex = notebook.widgets.length - 1;
                await app.commands.execute('notebook:insert-cell-below');
                notebook.activeCell.model.sharedModel.setSource('view  # displayed again after edits');
                await app.commands.execute('notebook:run-cell');
            }""")
            page.wait_for_function(f"() => [...document.querySelectorAll('{ROOT_SELECTOR}')]"
                                   ".filter(e => e.dataset.ready === 'true').length === 3")
            n_edited = kernel_json(kernel, "int(np.isfinite(session.targets[:, 0]).sum())")
            page.wait_for_function(f"() => [...document.querySelectorAll('{ROOT_SELECTOR}')]"
                                   f".every(e => e.dataset.nEdited === '{n_edited}')")
            views = page.eval_on_selector_all(ROOT_SELECTOR, same_state)
            assert views[0] == views[1] == views[2], f"the views differ: {views}"

            # The view follows JupyterLab's theme when the user switches to dark.
            page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', "
                          "{theme: 'JupyterLab Dark'})")
            page.wait_for_function(f"() => document.querySelector('{ROOT_SELECTOR}').classList.contains('plsd-dark')")
            page.wait_for_selector("#jupyterlab-splash", state="detached")  # JupyterLab's theme-change splash
            page.screenshot(path=str(ARTIFACTS / "e2e_dark.png"))

            # The contours toggle is a trait Python sees.
            assert kernel_json(kernel, "view.show_contours") is True
            page.click("[data-testid=show-contours]")
            wait_until(lambda: kernel_json(kernel, "view.show_contours") is False, 30, "contours off in Python")

            # What to label next: 12 points ringed, selected, and exported as JSON.
            page.fill("[data-testid=suggest-n]", "12")
            page.press("[data-testid=suggest-n]", "Enter")
            wait_until(lambda: kernel_json(kernel, "view.suggest_n") == 12, 30, "the count to reach Python")
            page.click("[data-testid=suggest]")
            page.wait_for_function(f"() => {inspect}.dataset.nSuggested === '12'", timeout=120_000)
            page.click("[data-testid=select-suggested]")
            wait_for_data(page, "nSelected", 12)
            with page.expect_download() as download:
                page.click("[data-testid=export-suggested]")
            exported = json.loads(pathlib.Path(download.value.path()).read_text())
            assert exported["indices"] == kernel_json(kernel, "view.suggested_indices.tolist()")
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "e2e_tools_failure.png"))
        raise
