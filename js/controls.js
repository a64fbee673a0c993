// The view's controls and panels: toolbar (modes, undo/redo, selection tools, PNG, contours,
// split), message bars (error, crowding warning, autosave offer), the side panels (legend,
// exact δ / κ, training, look) and the metrics table. Traits that only these show are kept
// in sync here; everything the user does goes to `actions` or straight to the model.
import { h } from "./dom.js";
import { createFinetuneInputs, onEnter } from "./finetune.js";
import { MESSAGE, send } from "./messages.js";

/** The contour levels offered: a mass fraction of each class, or the paper's density 1/N. */
export const CONTOUR_LEVELS = ["0.9", "0.5", "1/N"];

const percent = (level) => `${+(100 * Number(level)).toFixed(1)} %`;

/** The contour level's name in the selector, e.g. "90 % of each class" or "1/N (paper)". */
export function contourLevelLabel(level) {
  return level === "1/N" ? "1/N (paper)" : `${percent(level)} of each class`;
}

/** The contours checkbox's tooltip for a level (as the `contour_level` trait holds it). */
export function contourLevelTitle(level) {
  return level === "1/N"
    ? "Per-class density contours where each class's density is 1/N, N the points of the split shown (the paper's)"
    : `Per-class density contours (${percent(level)} of each class's mass)`;
}

export const MODES = [
  ["lasso", "Lasso", "Draw a lasso to select points"],
  ["box", "Box", "Drag a rectangle to select points"],
  ["pan", "Pan", "Pan and zoom (wheel)"],
  ["move", "Move", "Drag the selection to a new place"],
];

/**
 * @param {object} model the anywidget model
 * @param {object} actions what the controls ask of the view
 * @param {(mode: string) => void} actions.setMode
 * @param {(indices: number[]) => void} actions.setSelection
 * @param {() => void} actions.invertSelection
 * @param {(c: number, event: MouseEvent) => void} actions.legendClick
 * @param {() => void} actions.exportPng
 * @param {() => number[]} actions.selection the current selection
 * @param {(what: string) => boolean} actions.needSelection
 * @param {() => boolean} actions.editing whether the train split (the editable one) is shown
 * @param {(style: {pointSize: number, opacity: number}) => void} actions.setStyle
 * @param {() => void} actions.contoursChanged
 */
export function createControls(model, actions) {
  const colors = model.get("colors");
  const writeTrait = (name, value) => { model.set(name, value); model.save_changes(); };

  // ---- toolbar ---------------------------------------------------------------------------
  const modeButtons = MODES.map(([mode, label, title]) =>
    h("button", { "data-testid": `mode-${mode}`, title, text: label, onclick: () => actions.setMode(mode) }));
  const undo = h("button", { "data-testid": "undo", text: "Undo", onclick: () => send(model, MESSAGE.undo) });
  const redo = h("button", { "data-testid": "redo", text: "Redo", onclick: () => send(model, MESSAGE.redo) });
  const reset = h("button", { "data-testid": "reset", text: "Reset edits", onclick: () => send(model, MESSAGE.reset) });
  const clear = h("button", { "data-testid": "clear-selection", text: "Clear", title: "Clear the selection (Esc)",
    onclick: () => actions.setSelection([]) });
  const invert = h("button", { "data-testid": "invert-selection", text: "Invert", title: "Select all other points",
    onclick: () => actions.invertSelection() });
  const png = h("button", { "data-testid": "export-png", text: "PNG", title: "Save the view as a PNG",
    onclick: () => actions.exportPng() });
  const contoursToggle = h("input", { type: "checkbox", "data-testid": "show-contours" });
  contoursToggle.addEventListener("change", () => writeTrait("show_contours", contoursToggle.checked));
  const contoursLabel = h("label", {}, [contoursToggle, " contours"]);
  const contourLevel = h("select", { "data-testid": "contour-level", title: "Where the contours cut each class's " +
    "density: around a share of its mass, or at the paper's density 1/N" });
  contourLevel.addEventListener("change", () => writeTrait("contour_level", contourLevel.value));
  const split = h("select", { "data-testid": "split", title: "Which split the plot shows; edits apply to train" },
    [h("option", { value: "train", text: "train" }), h("option", { value: "test", text: "test (held out)" })]);
  split.addEventListener("change", () => writeTrait("split", split.value));
  const selectionInfo = h("span", { class: "plsd-selection-info" });
  const toolbar = h("div", { class: "plsd-toolbar" }, [
    h("span", { class: "plsd-group" }, modeButtons), h("span", { class: "plsd-group" }, [undo, redo, reset]),
    h("span", { class: "plsd-group" }, [clear, invert, png]),
    h("span", { class: "plsd-group" }, [contoursLabel, contourLevel]),
    h("label", { class: "plsd-split" }, ["show ", split]),
    selectionInfo,
  ]);

  // ---- message bars ----------------------------------------------------------------------
  const errorText = h("span");
  const errorBox = h("div", { class: "plsd-error", "data-testid": "error", role: "alert" }, [
    errorText, h("button", { text: "×", title: "Dismiss", onclick: () => {
      showError("");
      writeTrait("error", "");
    } }),
  ]);
  const warning = h("div", { class: "plsd-warning", "data-testid": "warning", role: "status" });
  const recoverText = h("span");
  const recover = h("div", { class: "plsd-warning plsd-recover", "data-testid": "recover" }, [recoverText,
    h("button", { "data-testid": "restore", text: "Restore them", onclick: () => send(model, MESSAGE.restore) }),
    h("button", { text: "Dismiss", onclick: () => send(model, MESSAGE.dismiss_restore) })]);

  // ---- side panels -----------------------------------------------------------------------
  const legend = h("div", { class: "plsd-legend", "data-testid": "legend" });
  const finetuneInputs = createFinetuneInputs(model, writeTrait);
  const finetune = h("button", { class: "plsd-primary", "data-testid": "finetune", text: "Fine-tune",
    onclick: () => send(model, MESSAGE.finetune) });
  const stop = h("button", { "data-testid": "stop", text: "Stop", onclick: () => send(model, MESSAGE.stop) });
  const bar = h("div", { class: "plsd-bar" });
  const progressText = h("div", { class: "plsd-progress-text", "data-testid": "progress" });
  const status = h("div", { class: "plsd-status", "data-testid": "status" });
  const train = h("div", { class: "plsd-train" }, [
    ...finetuneInputs.elements,
    h("div", { class: "plsd-buttons" }, [finetune, stop]),
    h("div", { class: "plsd-progress" }, [bar]), progressText, status,
  ]);
  const editTarget = h("select", { "data-testid": "edit-target" });
  const deltaX = h("input", { type: "number", step: "any", value: "0", "data-testid": "delta-x", title: "δx" });
  const deltaY = h("input", { type: "number", step: "any", value: "0", "data-testid": "delta-y", title: "δy" });
  const kappa = h("input", { type: "number", step: "0.05", value: "0.5", "data-testid": "kappa",
    title: "κ: 1 collapses on the centroid, 0.5 halves distances, < 0 expands" });
  const exact = h("div", { class: "plsd-exact" }, [
    h("label", {}, ["Edit ", editTarget]),
    h("div", { class: "plsd-row" }, ["δ ", deltaX, deltaY,
      h("button", { "data-testid": "apply-shift", text: "Shift", onclick: () => exactEdit(MESSAGE.shift) })]),
    h("div", { class: "plsd-row" }, ["κ ", kappa,
      h("button", { "data-testid": "apply-contract", text: "Contract", onclick: () => exactEdit(MESSAGE.contract) })]),
  ]);
  const pointSize = h("input", { type: "range", min: "1", max: "12", step: "0.5", "data-testid": "point-size" });
  const opacity = h("input", { type: "range", min: "0.05", max: "1", step: "0.05", "data-testid": "opacity" });
  for (const [input, name] of [[pointSize, "point_size"], [opacity, "opacity"]]) {
    input.addEventListener("input", () => writeTrait(name, Number(input.value)));
  }
  const look = h("div", { class: "plsd-look" }, [
    h("label", {}, ["size ", pointSize]), h("label", {}, ["opacity ", opacity]),
  ]);
  const side = h("div", { class: "plsd-side" }, [legend, exact, train, look]);
  const neighbors = h("div", { class: "plsd-neighbors", "data-testid": "neighbors" });
  const metrics = h("div", { class: "plsd-metrics", "data-testid": "metrics" });

  // Exact δ / κ for a class or the selection (the paper's edits are numbers like δ=(−7, 10), κ=1/2).
  function exactEdit(type) {
    const fields = type === MESSAGE.shift
      ? { delta: [Number(deltaX.value), Number(deltaY.value)] }
      : { kappa: Number(kappa.value) };
    if (editTarget.value !== "") {
      send(model, type, { ...fields, class: model.get("class_names")[Number(editTarget.value)] });
    } else if (actions.needSelection(`${type} them`)) {
      send(model, type, fields, [Uint32Array.from(actions.selection()).buffer]);
    }
  }

  onEnter(deltaX, () => exactEdit(MESSAGE.shift));
  onEnter(deltaY, () => exactEdit(MESSAGE.shift));
  onEnter(kappa, () => exactEdit(MESSAGE.contract));

  // ---- traits -> controls ----------------------------------------------------------------
  function showError(message) {
    errorText.textContent = message;
    errorBox.style.display = message ? "flex" : "none";
  }
  function showRecoverable() {
    recoverText.textContent = model.get("recoverable");
    recover.style.display = recoverText.textContent ? "flex" : "none";
  }
  function showWarning() {
    warning.textContent = model.get("warning");
    warning.style.display = warning.textContent ? "block" : "none";
  }
  function onStyle() {
    pointSize.value = model.get("point_size");
    opacity.value = model.get("opacity");
    actions.setStyle({ pointSize: model.get("point_size"), opacity: model.get("opacity") });
  }
  function onTraining() {
    const training = model.get("training");
    finetune.disabled = training;
    stop.disabled = !training;
    return training;
  }
  function onStatus() {
    status.textContent = model.get("status");
    return model.get("status");
  }
  function onProgress() {
    const p = model.get("progress") || {};
    if (!p.n_epochs) { bar.style.width = "0%"; progressText.textContent = ""; return; }
    const done = (p.epoch - 1 + p.batch / p.n_batches) / p.n_epochs;
    bar.style.width = `${Math.round(100 * Math.min(1, Math.max(0, done)))}%`;
    progressText.textContent = `epoch ${p.epoch}/${p.n_epochs} · batch ${p.batch}/${p.n_batches} · loss ${Number(p.loss).toFixed(4)}`;
  }
  function onHistory() {
    undo.disabled = !actions.editing() || !model.get("can_undo");
    redo.disabled = !actions.editing() || !model.get("can_redo");
  }
  function onContoursToggle() {
    contoursToggle.checked = model.get("show_contours");
  }
  function onContourLevel() {
    const level = model.get("contour_level");
    const levels = CONTOUR_LEVELS.includes(level) ? CONTOUR_LEVELS : [...CONTOUR_LEVELS, level]; // one set in Python
    contourLevel.replaceChildren(...levels.map((value) => h("option", { value, text: contourLevelLabel(value) })));
    contourLevel.value = level;
    contoursLabel.title = contourLevelTitle(level);
  }
  const showMetrics = () => { metrics.innerHTML = model.get("metrics_html"); };

  const handlers = [
    ["change:point_size", onStyle],
    ["change:opacity", onStyle],
    ["change:progress", onProgress],
    ["change:metrics_html", showMetrics],
    ["change:error", () => showError(model.get("error"))],
    ["change:warning", showWarning],
    ["change:recoverable", showRecoverable],
    ["change:can_undo", onHistory],
    ["change:can_redo", onHistory],
    ["change:contour_level", onContourLevel],
    ...finetuneInputs.handlers,
  ];

  return {
    toolbar,
    messages: [errorBox, recover, warning],
    side,
    neighbors,
    metrics,
    handlers,
    showError,
    onTraining,
    onStatus,
    onHistory,
    onContoursToggle,
    /** Show every trait these controls mirror (at start). */
    init() {
      onStyle();
      onProgress();
      onHistory();
      finetuneInputs.sync();
      onContourLevel();
      showMetrics();
      showError(model.get("error"));
      showWarning();
      showRecoverable();
    },
    setModeActive(mode) {
      for (const [i, [m]] of MODES.entries()) modeButtons[i].classList.toggle("plsd-active", m === mode);
    },
    setSelectionCount(n) {
      selectionInfo.textContent = n ? `${n} selected` : "";
    },
    /** The split selector, and edit controls off while the (read-only) test split is shown. */
    setSplit(value, hasTest, editing) {
      split.value = value;
      split.parentElement.style.display = hasTest ? "" : "none";
      for (const button of [modeButtons[3], undo, redo, reset, ...exact.querySelectorAll("button")]) button.disabled = !editing;
    },
    /** One legend entry per class with its count (click selects; Shift adds, Alt removes). */
    renderLegend(labels) {
      const names = model.get("class_names");
      editTarget.replaceChildren(h("option", { value: "", text: "the selection" }),
        ...names.map((name, c) => h("option", { value: String(c), text: `class ${name}` })));
      const counts = new Array(names.length).fill(0);
      for (const label of labels) counts[label] += 1;
      legend.replaceChildren(...names.map((name, c) => h("button", {
        class: "plsd-legend-item", title: `Select class ${name} (Shift adds, Alt removes)`, "data-class": String(c),
        onclick: (event) => actions.legendClick(c, event),
      }, [h("span", { class: "plsd-swatch", style: `background:${colors[c]}` }), `${name} (${counts[c]})`])));
    },
  };
}
