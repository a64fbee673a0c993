// Edits made with the mouse and the keyboard: Move-mode drag, Alt+wheel contraction,
// Ctrl/Cmd+Z undo, Shift+Ctrl/Cmd+Z redo, Esc. Each gesture becomes one message to the
// kernel when it ends; the overlay previews it meanwhile.
import { contractTransform, draggedTargets, editedCentroid, wheelKappa } from "./geometry.js";
import { MESSAGE, send } from "./messages.js";

/**
 * @param {object} opts
 * @param {object} opts.model the anywidget model (send)
 * @param {object} opts.overlay createOverlay's API (its canvas takes the mouse in Move mode)
 * @param {HTMLElement} opts.plotBox the plot (wheel, pointerleave)
 * @param {HTMLElement} opts.root the widget (keyboard)
 * @param {object} opts.renderer the scatter (screen <-> data)
 * @param {object} opts.state the view's state: mode, positions, targets, selection
 * @param {(what: string) => boolean} opts.needSelection false (and says so) when nothing is selected
 * @param {(indices: number[]) => void} opts.setSelection
 */
export function installGestures({ model, overlay, plotBox, root, renderer, state, needSelection, setSelection }) {
  const canvas = overlay.canvas;
  const localPoint = (event) => {
    const rect = canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  };

  // Drag the selection in Move mode; committed on release as one edit: indices + absolute targets, binary.
  let dragStart = null;
  canvas.addEventListener("pointerdown", (event) => {
    if (state.mode !== "move" || event.button !== 0 || !needSelection("drag them in Move mode")) return;
    canvas.setPointerCapture(event.pointerId);
    dragStart = localPoint(event);
    overlay.begin();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!dragStart) return;
    const [x, y] = localPoint(event);
    overlay.transform([1, 0, 0, 1, x - dragStart[0], y - dragStart[1]]);
  });
  canvas.addEventListener("pointerup", (event) => {
    if (!dragStart) return;
    const [x0, y0] = renderer.screenToData(...dragStart);
    const [x1, y1] = renderer.screenToData(...localPoint(event));
    dragStart = null;
    overlay.end();
    if (x0 === x1 && y0 === y1) return;
    const indices = Uint32Array.from(state.selection);
    const targets = draggedTargets(state.positions, state.targets, indices, x1 - x0, y1 - y0);
    send(model, MESSAGE.move, {}, [indices.buffer, targets.buffer]);
  });
  canvas.addEventListener("pointercancel", () => {
    dragStart = null;
    overlay.end();
  });

  // Alt+wheel contracts (up) or expands (down) the selection toward its centroid (Eq. 2);
  // the gesture becomes one edit when Alt is released (or the plot loses the mouse).
  let wheel = null;
  function endWheel() {
    if (!wheel) return;
    const { kappa, indices } = wheel;
    window.removeEventListener("keyup", onAltUp, true);
    plotBox.removeEventListener("pointerleave", endWheel);
    wheel = null;
    overlay.end();
    if (kappa !== 0) send(model, MESSAGE.contract, { kappa }, [indices.buffer]);
  }
  function onAltUp(event) {
    if (event.key === "Alt") endWheel();
  }
  plotBox.addEventListener("wheel", (event) => {
    if (!event.altKey) return; // a plain wheel zooms
    event.preventDefault();
    event.stopPropagation();
    if (!needSelection("contract them with Alt+wheel")) return;
    if (!wheel) {
      const centre = editedCentroid(state.positions, state.targets, state.selection);
      wheel = { notches: 0, kappa: 0, indices: Uint32Array.from(state.selection),
        centre: renderer.dataToScreen(...centre) };
      window.addEventListener("keyup", onAltUp, true);
      plotBox.addEventListener("pointerleave", endWheel);
      overlay.begin();
    }
    wheel.notches += event.deltaY < 0 ? 1 : -1;
    wheel.kappa = wheelKappa(wheel.notches);
    overlay.transform(contractTransform(wheel.centre, wheel.kappa));
  }, { capture: true, passive: false });

  // Ctrl/Cmd+Z undo, Shift+Ctrl/Cmd+Z redo, Esc clears; kept from JupyterLab's own shortcuts.
  root.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement) return;
    const mod = event.ctrlKey || event.metaKey;
    if (mod && event.key.toLowerCase() === "z") {
      send(model, event.shiftKey ? MESSAGE.redo : MESSAGE.undo);
    } else if (event.key === "Escape") {
      setSelection([]);
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  });
  plotBox.addEventListener("pointerdown", () => root.focus({ preventScroll: true }));
  // JupyterLab's notebook handles a Shift+mousedown in an output itself (it extends the cell
  // selection); while it reached the notebook, Shift+lasso and Shift+box selected nothing in
  // the browser test. Keep that mousedown to the plot.
  plotBox.addEventListener("mousedown", (event) => {
    if (event.shiftKey) event.stopPropagation();
  });

  return {
    /** Whether a Move drag is under way (the tooltip stays hidden meanwhile). */
    dragging: () => dragStart !== null,
  };
}
