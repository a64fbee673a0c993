// The anywidget view of a plsd_widget Session: scatter, selection, drag, training panel.
// All state lives in traits on the kernel side; this file only renders it and sends
// the user's actions (selection trait, messages for edits and training).
import "./widget.css";
import { checksum, decodeFloat32, decodeLabels, decodeUint32, encodeIndices } from "./codecs.js";
import { contractTransform, draggedTargets, editedCentroid, editedPoint, wheelKappa } from "./geometry.js";
import { createRenderer } from "./scatter.js";

const MODES = [
  ["lasso", "Lasso", "Draw a lasso to select points"],
  ["box", "Box", "Drag a rectangle to select points"],
  ["pan", "Pan", "Pan and zoom (wheel)"],
  ["move", "Move", "Drag the selection to a new place"],
];

function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function isDarkTheme() {
  return document.body?.dataset?.jpThemeLight === "false";
}

function render({ model, el }) {
  const state = {
    positions: new Float32Array(0),
    targets: new Float32Array(0),
    labels: new Uint8Array(0),
    selection: [],
    contours: null,
    edited: [],
    predictions: new Uint8Array(0),
    thumbnails: new Uint8Array(0),
    mode: "lasso",
  };
  let dark = isDarkTheme();
  const colors = model.get("colors");

  // ---- DOM -----------------------------------------------------------------------
  const modeButtons = MODES.map(([mode, label, title]) =>
    h("button", { "data-testid": `mode-${mode}`, title, text: label, onclick: () => setMode(mode) }));
  const undo = h("button", { "data-testid": "undo", text: "Undo", onclick: () => model.send({ type: "undo" }) });
  const redo = h("button", { "data-testid": "redo", text: "Redo", onclick: () => model.send({ type: "redo" }) });
  const reset = h("button", { "data-testid": "reset", text: "Reset edits", onclick: () => model.send({ type: "reset" }) });
  const clear = h("button", { "data-testid": "clear-selection", text: "Clear", title: "Clear the selection (Esc)",
    onclick: () => setSelection([]) });
  const invert = h("button", { "data-testid": "invert-selection", text: "Invert", title: "Select all other points",
    onclick: () => setSelection(complement(state.selection, state.labels.length)) });
  const png = h("button", { "data-testid": "export-png", text: "PNG", title: "Save the view as a PNG",
    onclick: () => exportPng() });
  const contoursToggle = h("input", { type: "checkbox", "data-testid": "show-contours" });
  contoursToggle.addEventListener("change", () => {
    model.set("show_contours", contoursToggle.checked);
    model.save_changes();
  });
  const split = h("select", { "data-testid": "split", title: "Which split the plot shows; edits apply to train" },
    [h("option", { value: "train", text: "train" }), h("option", { value: "test", text: "test (held out)" })]);
  split.addEventListener("change", () => {
    model.set("split", split.value);
    model.save_changes();
  });
  const selectionInfo = h("span", { class: "plsd-selection-info" });
  const toolbar = h("div", { class: "plsd-toolbar" }, [
    h("span", { class: "plsd-group" }, modeButtons), h("span", { class: "plsd-group" }, [undo, redo, reset]),
    h("span", { class: "plsd-group" }, [clear, invert, png]),
    h("label", { title: "Per-class density contours (90 % of each class's mass)" }, [contoursToggle, " contours"]),
    h("label", { class: "plsd-split" }, ["show ", split]),
    selectionInfo,
  ]);

  const glCanvas = h("canvas", { class: "plsd-gl" });
  const overlay = h("canvas", { class: "plsd-overlay", "data-testid": "overlay" });
  const thumb = h("canvas", { class: "plsd-thumb" });
  const tooltipText = h("div");
  const tooltip = h("div", { class: "plsd-tooltip", "data-testid": "tooltip" }, [thumb, tooltipText]);
  const plotBox = h("div", { class: "plsd-plot", "data-testid": "plot" }, [glCanvas, overlay, tooltip]);

  const legend = h("div", { class: "plsd-legend", "data-testid": "legend" });
  const epochs = h("input", { type: "number", min: "1", step: "1", "data-testid": "epochs" });
  const lam = h("input", { type: "number", min: "0", max: "1", step: "0.05", "data-testid": "lam" });
  const lr = h("input", { type: "number", min: "0", step: "any", "data-testid": "lr" });
  const editedOnly = h("input", { type: "checkbox", "data-testid": "edited-only" });
  const finetune = h("button", { class: "plsd-primary", "data-testid": "finetune", text: "Fine-tune",
    onclick: () => model.send({ type: "finetune" }) });
  const stop = h("button", { "data-testid": "stop", text: "Stop", onclick: () => model.send({ type: "stop" }) });
  const bar = h("div", { class: "plsd-bar" });
  const progressText = h("div", { class: "plsd-progress-text", "data-testid": "progress" });
  const status = h("div", { class: "plsd-status", "data-testid": "status" });
  const errorText = h("span");
  const errorBox = h("div", { class: "plsd-error", "data-testid": "error", role: "alert" }, [
    errorText, h("button", { text: "×", title: "Dismiss", onclick: () => {
      showError("");
      model.set("error", "");
      model.save_changes();
    } }),
  ]);
  const warning = h("div", { class: "plsd-warning", "data-testid": "warning", role: "status" });
  const recoverText = h("span");
  const recover = h("div", { class: "plsd-warning plsd-recover", "data-testid": "recover" }, [recoverText,
    h("button", { "data-testid": "restore", text: "Restore them", onclick: () => model.send({ type: "restore" }) }),
    h("button", { text: "Dismiss", onclick: () => model.send({ type: "dismiss_restore" }) })]);
  const train = h("div", { class: "plsd-train" }, [
    h("label", {}, ["Epochs ", epochs]),
    h("label", { title: "Weight of the embedding term in (1-λ)·CE + λ·‖E(h) − y'‖²" }, ["λ ", lam]),
    h("label", { title: "SGD learning rate (Nesterov momentum 0.9)" }, ["lr ", lr]),
    h("label", {}, [editedOnly, " edited classes only"]),
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
      h("button", { "data-testid": "apply-shift", text: "Shift", onclick: () => exactEdit("shift") })]),
    h("div", { class: "plsd-row" }, ["κ ", kappa,
      h("button", { "data-testid": "apply-contract", text: "Contract", onclick: () => exactEdit("contract") })]),
  ]);
  const pointSize = h("input", { type: "range", min: "1", max: "12", step: "0.5", "data-testid": "point-size" });
  const opacity = h("input", { type: "range", min: "0.05", max: "1", step: "0.05", "data-testid": "opacity" });
  for (const [input, name] of [[pointSize, "point_size"], [opacity, "opacity"]]) {
    input.addEventListener("input", () => {
      model.set(name, Number(input.value));
      model.save_changes();
    });
  }
  const look = h("div", { class: "plsd-look" }, [
    h("label", {}, ["size ", pointSize]), h("label", {}, ["opacity ", opacity]),
  ]);
  const side = h("div", { class: "plsd-side" }, [legend, exact, train, look]);
  const neighbors = h("div", { class: "plsd-neighbors", "data-testid": "neighbors" });
  const metrics = h("div", { class: "plsd-metrics", "data-testid": "metrics" });
  const root = h("div", { class: "plsd-root", "data-testid": "plsd-widget", tabindex: "0" }, [
    toolbar, errorBox, recover, warning, h("div", { class: "plsd-main" }, [plotBox, side]), neighbors, metrics,
  ]);
  if (dark) root.classList.add("plsd-dark");
  el.append(root);

  // ---- renderer --------------------------------------------------------------------
  const size = () => [Math.max(320, plotBox.clientWidth || 560), 460];
  let [width, height] = size();
  const renderer = createRenderer(glCanvas, {
    width, height, dark,
    bounds: model.get("bounds"),
    colors,
    onSelect: (indices) => {
      if (indices.length === 1) model.send({ type: "neighbors", index: indices[0] });
      if (indices.length === 1 && !editing()) return; // a click in the test view: neighbours only
      sendSelection(indices);
    },
    onView: () => drawOverlay(),
    onHover: (index) => showTooltip(index),
  });
  const ctx = overlay.getContext("2d");

  function sizeOverlay() {
    overlay.width = width;
    overlay.height = height;
    overlay.style.width = `${width}px`;
    overlay.style.height = `${height}px`;
  }
  sizeOverlay();
  const resizeObserver = new ResizeObserver(() => {
    const [w, hgt] = size();
    if (w === width && hgt === height) return;
    [width, height] = [w, hgt];
    renderer.resize(width, height);
    sizeOverlay();
    drawOverlay();
  });
  resizeObserver.observe(plotBox);

  // ---- edits on the overlay ----------------------------------------------------------
  // During a drag or an Alt+wheel gesture the overlay shows two snapshots taken when it
  // began, the static layer (contours, edit rings) and the selected points, and moves the
  // latter with a canvas transform: redrawing 10k points per mouse move costs ~300 ms in
  // software rendering, two drawImage calls a few ms (benchmarks/RESULTS.md).
  let gesture = null;
  let framePending = false;

  function drawContours(g) {
    const { vertices, offsets, classes } = state.contours;
    g.lineWidth = 1.5;
    g.globalAlpha = 0.55;
    for (let line = 0; line < classes.length; line++) {
      g.strokeStyle = colors[classes[line]] ?? "#888";
      g.beginPath();
      for (let v = offsets[line]; v < offsets[line + 1]; v++) {
        const [x, y] = renderer.dataToScreen(vertices[2 * v], vertices[2 * v + 1]);
        if (v === offsets[line]) g.moveTo(x, y); else g.lineTo(x, y);
      }
      g.stroke();
    }
  }

  // Contours, then targets of edited points as rings joined to where the model puts them now.
  function drawStatic(g) {
    if (state.contours && model.get("show_contours")) drawContours(g);
    const { positions, targets, labels } = state;
    g.lineWidth = 1;
    for (const i of state.edited) {
      const [px, py] = renderer.dataToScreen(positions[2 * i], positions[2 * i + 1]);
      const [tx, ty] = renderer.dataToScreen(targets[2 * i], targets[2 * i + 1]);
      g.strokeStyle = colors[labels[i]] ?? "#888";
      g.globalAlpha = 0.25;
      g.beginPath(); g.moveTo(px, py); g.lineTo(tx, ty); g.stroke();
      g.globalAlpha = 0.9;
      g.beginPath(); g.arc(tx, ty, 3, 0, 2 * Math.PI); g.stroke();
    }
    g.globalAlpha = 1;
  }

  function drawSelection(g) {
    g.globalAlpha = 0.9;
    for (const i of state.selection) {
      const [sx, sy] = renderer.dataToScreen(...editedPoint(state.positions, state.targets, i));
      g.fillStyle = colors[state.labels[i]] ?? "#888";
      g.beginPath(); g.arc(sx, sy, 3, 0, 2 * Math.PI); g.fill();
    }
    g.globalAlpha = 1;
  }

  function drawOverlay() {
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    if (!gesture) {
      drawStatic(ctx);
      return;
    }
    ctx.drawImage(gesture.base, 0, 0);
    ctx.setTransform(...gesture.transform);
    ctx.drawImage(gesture.sprite, 0, 0);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
  }

  function requestOverlay() {
    if (framePending) return;
    framePending = true;
    requestAnimationFrame(() => {
      framePending = false;
      drawOverlay();
    });
  }

  function snapshot(draw) {
    const layer = document.createElement("canvas");
    layer.width = overlay.width;
    layer.height = overlay.height;
    draw(layer.getContext("2d"));
    return layer;
  }
  function beginGesture() {
    gesture = { base: snapshot(drawStatic), sprite: snapshot(drawSelection), transform: [1, 0, 0, 1, 0, 0] };
    drawOverlay();
  }
  function endGesture() {
    gesture = null;
    drawOverlay();
  }

  function localPoint(event) {
    const rect = overlay.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }
  function needSelection(what) {
    if (state.selection.length) return true;
    showError(`Select points first (Lasso or Box), then ${what}.`);
    return false;
  }

  let dragStart = null;
  overlay.addEventListener("pointerdown", (event) => {
    if (state.mode !== "move" || event.button !== 0 || !needSelection("drag them in Move mode")) return;
    overlay.setPointerCapture(event.pointerId);
    dragStart = localPoint(event);
    beginGesture();
  });
  overlay.addEventListener("pointermove", (event) => {
    if (!dragStart) return;
    const [x, y] = localPoint(event);
    gesture.transform = [1, 0, 0, 1, x - dragStart[0], y - dragStart[1]];
    requestOverlay();
  });
  overlay.addEventListener("pointerup", (event) => {
    if (!dragStart) return;
    const [x0, y0] = renderer.screenToData(...dragStart);
    const [x1, y1] = renderer.screenToData(...localPoint(event));
    dragStart = null;
    endGesture();
    if (x0 === x1 && y0 === y1) return;
    // Committed on release as one edit: indices + absolute targets, binary.
    const indices = Uint32Array.from(state.selection);
    const targets = draggedTargets(state.positions, state.targets, indices, x1 - x0, y1 - y0);
    model.send({ type: "move" }, undefined, [indices.buffer, targets.buffer]);
  });
  overlay.addEventListener("pointercancel", () => {
    dragStart = null;
    endGesture();
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
    endGesture();
    if (kappa !== 0) model.send({ type: "contract", kappa }, undefined, [indices.buffer]);
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
      beginGesture();
    }
    wheel.notches += event.deltaY < 0 ? 1 : -1;
    wheel.kappa = wheelKappa(wheel.notches);
    gesture.transform = contractTransform(wheel.centre, wheel.kappa);
    requestOverlay();
  }, { capture: true, passive: false });

  // Ctrl/Cmd+Z undo, Shift+Ctrl/Cmd+Z redo, Esc clears; kept from JupyterLab's own shortcuts.
  root.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement) return;
    const mod = event.ctrlKey || event.metaKey;
    if (mod && event.key.toLowerCase() === "z") {
      model.send({ type: event.shiftKey ? "redo" : "undo" });
    } else if (event.key === "Escape") {
      setSelection([]);
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  });
  plotBox.addEventListener("pointerdown", () => root.focus({ preventScroll: true }));

  // Follow the notebook's light / dark theme as the user switches it.
  const themeObserver = new MutationObserver(() => {
    if (isDarkTheme() === dark) return;
    dark = isDarkTheme();
    root.classList.toggle("plsd-dark", dark);
    renderer.setTheme(dark);
  });
  if (document.body) themeObserver.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light"] });

  // Exact δ / κ for a class or the selection (the paper's edits are numbers like δ=(−7, 10), κ=1/2).
  function exactEdit(kind) {
    const content = kind === "shift"
      ? { type: "shift", delta: [Number(deltaX.value), Number(deltaY.value)] }
      : { type: "contract", kappa: Number(kappa.value) };
    if (editTarget.value !== "") {
      model.send({ ...content, class: model.get("class_names")[Number(editTarget.value)] });
    } else if (needSelection(`${kind} them`)) {
      model.send(content, undefined, [Uint32Array.from(state.selection).buffer]);
    }
  }

  function exportPng() {
    const out = document.createElement("canvas");
    out.width = renderer.canvas.width;
    out.height = renderer.canvas.height;
    const g = out.getContext("2d");
    g.fillStyle = dark ? "#1b1b1b" : "#ffffff"; // opaque: a transparent PNG vanishes on dark slides
    g.fillRect(0, 0, out.width, out.height);
    g.drawImage(renderer.canvas, 0, 0);
    g.drawImage(overlay, 0, 0, out.width, out.height);
    const link = h("a", { href: out.toDataURL("image/png"), download: "plsd_embedding.png" });
    link.click();
  }

  // ---- hover: thumbnail, label and prediction ----------------------------------------
  function showTooltip(index) {
    if (index < 0 || dragStart || index >= state.labels.length) {
      tooltip.style.display = "none";
      delete root.dataset.hovered;
      return;
    }
    const names = model.get("class_names");
    const label = names[state.labels[index]];
    const predicted = state.predictions.length ? names[state.predictions[index]] : "?";
    tooltipText.textContent = `#${index} · label ${label} · predicted ${predicted}${predicted === label ? "" : " ✗"}`;
    const side = model.get("thumbnail_side");
    thumb.style.display = side ? "block" : "none";
    if (side) drawThumbnail(thumb, index, side, model.get("thumbnail_channels"));
    const [x, y] = renderer.dataToScreen(state.positions[2 * index], state.positions[2 * index + 1]);
    tooltip.style.left = `${Math.min(x + 12, width - 180)}px`;
    tooltip.style.top = `${Math.min(y + 12, height - 110)}px`;
    tooltip.style.display = "block";
    root.dataset.hovered = String(index);
  }

  function drawThumbnail(canvas, index, side, channels) {
    const atlas = state.thumbnails;
    const start = index * side * side * channels;
    const image = new ImageData(side, side);
    for (let p = 0; p < side * side; p++) {
      for (let k = 0; k < 3; k++) image.data[4 * p + k] = atlas[start + p * channels + (channels === 3 ? k : 0)];
      image.data[4 * p + 3] = 255;
    }
    canvas.width = side;
    canvas.height = side;
    canvas.getContext("2d").putImageData(image, 0, 0);
  }

  // ---- selection ------------------------------------------------------------------------
  const editing = () => model.get("split") === "train";

  function sendSelection(indices) {
    if (!editing()) {
      if (indices.length) showError("Selections and edits work on the train split; switch the view back to train.");
      renderer.select([]);
      return;
    }
    state.selection = indices;
    model.set("selection", encodeIndices(indices));
    model.save_changes();
    showSelection();
  }
  function setSelection(indices) {
    renderer.select(indices);
    sendSelection(indices);
  }
  function complement(indices, n) {
    const chosen = new Uint8Array(n);
    for (const i of indices) chosen[i] = 1;
    const out = [];
    for (let i = 0; i < n; i++) if (!chosen[i]) out.push(i);
    return out;
  }

  // ---- trait -> view ----------------------------------------------------------------
  function setMode(mode) {
    state.mode = mode;
    renderer.setMode(mode);
    overlay.style.pointerEvents = mode === "move" ? "auto" : "none";
    plotBox.dataset.mode = mode;
    for (const [i, [m]] of MODES.entries()) modeButtons[i].classList.toggle("plsd-active", m === mode);
  }

  function showSelection() {
    selectionInfo.textContent = state.selection.length ? `${state.selection.length} selected` : "";
    root.dataset.nSelected = String(state.selection.length);
  }

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

  function renderLegend() {
    const names = model.get("class_names");
    editTarget.replaceChildren(h("option", { value: "", text: "the selection" }),
      ...names.map((name, c) => h("option", { value: String(c), text: `class ${name}` })));
    const counts = new Array(names.length).fill(0);
    for (const label of state.labels) counts[label] += 1;
    legend.replaceChildren(...names.map((name, c) => h("button", {
      class: "plsd-legend-item", title: `Select class ${name} (Shift adds, Alt removes)`, "data-class": String(c),
      onclick: (event) => {
        const members = [];
        state.labels.forEach((label, i) => { if (label === c) members.push(i); });
        if (event.shiftKey) setSelection([...new Set([...state.selection, ...members])].sort((a, b) => a - b));
        else if (event.altKey) setSelection(state.selection.filter((i) => state.labels[i] !== c));
        else setSelection(members);
      },
    }, [h("span", { class: "plsd-swatch", style: `background:${colors[c]}` }), `${name} (${counts[c]})`])));
  }

  function onPositions({ transition = true } = {}) {
    const previous = state.positions.length;
    state.positions = decodeFloat32(model.get("positions"));
    transition &&= previous === state.positions.length; // a split switch changes the points
    state.predictions = decodeLabels(model.get("predictions"), model.get("label_dtype"));
    root.dataset.nPoints = String(state.positions.length / 2);
    root.dataset.positionsChecksum = checksum(state.positions);
    renderer.draw(state.positions, state.labels, { transition }).then(() => {
      root.dataset.ready = "true";
      drawOverlay();
    });
  }

  function onContours() {
    state.contours = {
      vertices: decodeFloat32(model.get("contour_vertices")),
      offsets: decodeUint32(model.get("contour_offsets")),
      classes: decodeLabels(model.get("contour_classes"), "uint16"),
    };
    contoursToggle.checked = model.get("show_contours");
    drawOverlay();
  }

  function onTargets() {
    state.targets = decodeFloat32(model.get("targets"));
    const edited = [];
    for (let i = 0; i < state.targets.length / 2; i++) if (Number.isFinite(state.targets[2 * i])) edited.push(i);
    state.edited = edited;
    root.dataset.nEdited = String(edited.length);
    drawOverlay();
  }

  function onSelectionTrait() {
    state.selection = Array.from(decodeUint32(model.get("selection")));
    renderer.select(state.selection);
    showSelection();
  }

  function onStyle() {
    pointSize.value = model.get("point_size");
    opacity.value = model.get("opacity");
    renderer.setStyle({ pointSize: model.get("point_size"), opacity: model.get("opacity") });
  }

  // The clicked point and its nearest neighbours in the classifier's latent space.
  function onNeighbors() {
    const of = model.get("neighbors_of");
    const indices = decodeUint32(model.get("neighbors"));
    root.dataset.neighbors = String(indices.length);
    if (of < 0) {
      neighbors.replaceChildren();
      return;
    }
    const names = model.get("class_names");
    const side = model.get("thumbnail_side");
    const card = (i) => {
      const image = h("canvas", { class: "plsd-thumb" });
      if (side) drawThumbnail(image, i, side, model.get("thumbnail_channels"));
      else image.style.display = "none";
      return h("figure", { title: `#${i}` }, [image, h("figcaption", { text: names[state.labels[i]] })]);
    };
    neighbors.replaceChildren(
      h("div", { text: `Nearest to #${of} (${names[state.labels[of]]}) in the latent space:` }),
      h("div", { class: "plsd-strip" }, [card(of), h("span", { text: "→" }), ...Array.from(indices, card)]),
    );
  }

  function onSplit() {
    split.value = model.get("split");
    split.parentElement.style.display = model.get("has_test") ? "" : "none";
    root.dataset.split = model.get("split");
    const off = !editing();
    for (const button of [modeButtons[3], undo, redo, reset, ...exact.querySelectorAll("button")]) button.disabled = off;
    if (off && state.mode === "move") setMode("lasso");
    onHistory();
  }

  function onLabels() {
    state.labels = decodeLabels(model.get("labels"), model.get("label_dtype"));
    state.thumbnails = decodeLabels(model.get("thumbnails"), "uint8");
    renderLegend();
    onPositions({ transition: false });
  }

  function onTraining() {
    const training = model.get("training");
    finetune.disabled = training;
    stop.disabled = !training;
    root.dataset.training = String(training);
  }

  function onProgress() {
    const p = model.get("progress") || {};
    if (!p.n_epochs) { bar.style.width = "0%"; progressText.textContent = ""; return; }
    const done = (p.epoch - 1 + p.batch / p.n_batches) / p.n_epochs;
    bar.style.width = `${Math.round(100 * Math.min(1, Math.max(0, done)))}%`;
    progressText.textContent = `epoch ${p.epoch}/${p.n_epochs} · batch ${p.batch}/${p.n_batches} · loss ${Number(p.loss).toFixed(4)}`;
  }

  function onStatus() {
    status.textContent = model.get("status");
    root.dataset.status = model.get("status");
  }

  function onHistory() {
    undo.disabled = !editing() || !model.get("can_undo");
    redo.disabled = !editing() || !model.get("can_redo");
  }

  const syncInputs = () => {
    epochs.value = model.get("epochs");
    lam.value = model.get("lam");
    lr.value = model.get("lr");
    editedOnly.checked = model.get("edited_only");
  };
  const writeInput = (name, value) => { model.set(name, value); model.save_changes(); };
  const commitEpochs = () => {
    const value = Number.parseInt(epochs.value, 10);
    if (Number.isInteger(value) && value >= 1) writeInput("epochs", value); else syncInputs();
  };
  const commitLam = () => {
    const value = Number.parseFloat(lam.value);
    if (value >= 0 && value <= 1) writeInput("lam", value); else syncInputs();
  };
  const commitLr = () => {
    const value = Number.parseFloat(lr.value);
    if (value > 0 && Number.isFinite(value)) writeInput("lr", value); else syncInputs();
  };
  // JupyterLab's shortcuts take Enter in an output area (no "change" follows), so commit on
  // Enter ourselves and keep the key from reaching the notebook.
  const onEnter = (input, commit) => input.addEventListener("keydown", (event) => {
    event.stopPropagation();
    if (event.key === "Enter") commit();
  });
  for (const [input, commit] of [[epochs, commitEpochs], [lam, commitLam], [lr, commitLr]]) {
    input.addEventListener("change", commit);
    onEnter(input, commit);
  }
  onEnter(deltaX, () => exactEdit("shift"));
  onEnter(deltaY, () => exactEdit("shift"));
  onEnter(kappa, () => exactEdit("contract"));
  editedOnly.addEventListener("change", () => writeInput("edited_only", editedOnly.checked));

  const handlers = [
    ["change:positions", () => onPositions()],
    ["change:targets", onTargets],
    ["change:labels", onLabels],
    ["change:thumbnails", () => { state.thumbnails = decodeLabels(model.get("thumbnails"), "uint8"); }],
    ["change:split", onSplit],
    ["change:neighbors_of", onNeighbors],
    ["change:neighbors", onNeighbors],
    ["change:point_size", onStyle],
    ["change:opacity", onStyle],
    ["change:contour_vertices", onContours],
    ["change:show_contours", onContours],
    ["change:selection", onSelectionTrait],
    ["change:training", onTraining],
    ["change:progress", onProgress],
    ["change:status", onStatus],
    ["change:metrics_html", () => { metrics.innerHTML = model.get("metrics_html"); }],
    ["change:error", () => showError(model.get("error"))],
    ["change:warning", showWarning],
    ["change:recoverable", showRecoverable],
    ["change:can_undo", onHistory],
    ["change:can_redo", onHistory],
    ["change:epochs", syncInputs],
    ["change:lam", syncInputs],
    ["change:lr", syncInputs],
    ["change:edited_only", syncInputs],
  ];
  for (const [event, handler] of handlers) model.on(event, handler);

  state.labels = decodeLabels(model.get("labels"), model.get("label_dtype"));
  state.thumbnails = decodeLabels(model.get("thumbnails"), "uint8");
  renderLegend();
  onSplit();
  onStyle();
  onNeighbors();
  setMode("lasso");
  onTargets();
  onContours();
  onSelectionTrait();
  onTraining();
  onProgress();
  onStatus();
  onHistory();
  syncInputs();
  metrics.innerHTML = model.get("metrics_html");
  showError(model.get("error"));
  showWarning();
  showRecoverable();
  onPositions({ transition: false });

  return () => {
    for (const [event, handler] of handlers) model.off(event, handler);
    resizeObserver.disconnect();
    themeObserver.disconnect();
    renderer.destroy();
  };
}

export default { render };
