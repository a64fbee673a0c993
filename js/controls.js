// The view's controls and panels: toolbar (modes, undo/redo, selection tools, PNG, contours,
// split), message bars (error, crowding warning, autosave offer), the side panels (legend,
// exact δ / κ, training, look) and the metrics table. Traits that only these show are kept
// in sync here; everything the user does goes to `actions` or straight to the model.
import { h } from "./dom.js";
import { MESSAGE, send } from "./messages.js";

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
  const split = h("select", { "data-testid": "split", title: "Which split the plot shows; edits apply to train" },
    [h("option", { value: "train", text: "train" }), h("option", { value: "test", text: "test (held out)" })]);
  split.addEventListener("change", () => writeTrait("split", split.value));
  const selectionInfo = h("span", { class: "plsd-selection-info" });
  const toolbar = h("div", { class: "plsd-toolbar" }, [
    h("span", { class: "plsd-group" }, modeButtons), h("span", { class: "plsd-group" }, [undo, redo, reset]),
    h("span", { class: "plsd-group" }, [clear, invert, png]),
    h("label", { title: "Per-class density contours (90 % of each class's mass)" }, [contoursToggle, " contours"]),
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
  const epochs = h("input", { type: "number", min: "1", step: "1", "data-testid": "epochs" });
  const lam = h("input", { type: "number", min: "0", max: "1", step: "0.05", "data-testid": "lam" });
  const lr = h("input", { type: "number", min: "0", step: "any", "data-testid": "lr" });
  const editedOnly = h("input", { type: "checkbox", "data-testid": "edited-only" });
  const editWeight = h("input", { type: "number", min: "0", step: "any", "data-testid": "edit-weight" });
  const finetune = h("button", { class: "plsd-primary", "data-testid": "finetune", text: "Fine-tune",
    onclick: () => send(model, MESSAGE.finetune) });
  const stop = h("button", { "data-testid": "stop", text: "Stop", onclick: () => send(model, MESSAGE.stop) });
  const bar = h("div", { class: "plsd-bar" });
  const progressText = h("div", { class: "plsd-progress-text", "data-testid": "progress" });
  const status = h("div", { class: "plsd-status", "data-testid": "status" });
  const train = h("div", { class: "plsd-train" }, [
    h("label", {}, ["Epochs ", epochs]),
    h("label", { title: "Weight of the embedding term in (1-λ)·CE + λ·‖E(h) − y'‖²" }, ["λ ", lam]),
    h("label", { title: "SGD learning rate (Nesterov momentum 0.9)" }, ["lr ", lr]),
    h("label", { title: "Checked: the edited points are pulled to their targets, and a second term (anchor 3) holds the others where they are, so unedited classes do not drift. Unchecked: every point counts alike in one term, the unedited ones held in place" }, [editedOnly, " edited classes only"]),
    h("label", { title: "Weight of the edited points' cross-entropy against the others' (1: all alike). The points you moved are the ones the view showed misplaced; 5 helped against a shortcut (see the README)" }, ["edit × ", editWeight]),
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

  // ---- inputs -> the fine-tuning config ------------------------------------------------------
  // One trait holds FinetuneConfig.to_dict(); an input writes its field and the kernel checks
  // the whole config: a value it refuses comes back as an error with the kernel's config.
  const numberFields = [[epochs, "epochs"], [lam, "lam"], [lr, "lr"], [editWeight, "edit_weight"]];
  const syncInputs = () => {
    const config = model.get("finetune_config");
    for (const [input, field] of numberFields) input.value = config[field];
    editedOnly.checked = config.edited_only;
  };
  const writeField = (field, value) =>
    writeTrait("finetune_config", { ...model.get("finetune_config"), [field]: value });
  // JupyterLab's shortcuts take Enter in an output area (no "change" follows), so commit on
  // Enter ourselves and keep the key from reaching the notebook.
  const onEnter = (input, commit) => input.addEventListener("keydown", (event) => {
    event.stopPropagation();
    if (event.key === "Enter") commit();
  });
  for (const [input, field] of numberFields) {
    const commit = () => writeField(field, input.value.trim() === "" ? null : Number(input.value));
    input.addEventListener("change", commit);
    onEnter(input, commit);
  }
  onEnter(deltaX, () => exactEdit(MESSAGE.shift));
  onEnter(deltaY, () => exactEdit(MESSAGE.shift));
  onEnter(kappa, () => exactEdit(MESSAGE.contract));
  editedOnly.addEventListener("change", () => writeField("edited_only", editedOnly.checked));

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
    ["change:finetune_config", syncInputs],
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
      syncInputs();
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
