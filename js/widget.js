// The anywidget view of a plsd_widget Session: scatter, selection, drag, training panel.
// All state lives in traits on the kernel side; the view renders it and sends the user's
// actions (the selection trait; messages for edits and training). Its parts:
//   scatter.js   the WebGL renderer (regl-scatterplot) behind a small interface
//   overlay.js   contours, edit rings and gesture previews on a 2D canvas
//   gestures.js  Move drag, Alt+wheel contraction, keyboard shortcuts -> edit messages
//   controls.js  toolbar, message bars, legend, exact-edit / training / look panels
//   finetune.js  the fine-tuning inputs and the recipe selector (in the training panel)
//   thumbnails.js hover tooltip and nearest-neighbour strip
//   inspect.js   look inside: what to label next, subtypes, saliency maps
//   gallery.js   Figure 2: the "show" choice (before / baseline / PLSD) and the "fixed by PLSD" gallery
//   selection.js selection maths
//   transport.js edit targets from the kernel as versioned deltas; outlines.js contours and
//                subtypes; codecs.js the other binary traits
//   messages.js  the messages to the kernel (their types: plsd_widget/widget/messages.json)
import "./widget.css";
import { checksum, decodeFloat32, decodeLabels, decodeUint32, encodeIndices } from "./codecs.js";
import { createControls } from "./controls.js";
import { createGallery } from "./gallery.js";
import { createInspect } from "./inspect.js";
import { MESSAGE, send } from "./messages.js";
import { h, isDarkTheme } from "./dom.js";
import { installGestures } from "./gestures.js";
import { decodeOutlines } from "./outlines.js";
import { createOverlay } from "./overlay.js";
import { createRenderer } from "./scatter.js";
import { complement, editedIndices, legendSelection } from "./selection.js";
import { createTooltip, renderNeighbors } from "./thumbnails.js";
import { TargetsMirror, finiteChecksum } from "./transport.js";

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
    suggested: new Uint32Array(0),
    subtypes: null,
    split: "train",
    highlight: null, // a gallery item shown in the plot (gallery.js)
  };
  let dark = isDarkTheme();
  const colors = model.get("colors");
  const editing = () => model.get("split") === "train" && model.get("show") === "current";

  // ---- DOM -----------------------------------------------------------------------------
  const controls = createControls(model, {
    setMode,
    setSelection,
    invertSelection: () => setSelection(complement(state.selection, state.labels.length)),
    legendClick: (c, event) => setSelection(legendSelection(state.selection, state.labels, c, event)),
    exportPng,
    selection: () => state.selection,
    needSelection,
    editing,
    setStyle: (style) => renderer.setStyle(style),
  });
  const inspect = createInspect(model, {
    setSelection, selection: () => state.selection, needSelection, redraw: () => onInspectOverlay(),
  });
  controls.side.append(inspect.panel);
  const gallery = createGallery(model, { highlight });
  controls.toolbar.append(gallery.showControl);
  const glCanvas = h("canvas", { class: "plsd-gl" });
  const overlayCanvas = h("canvas", { class: "plsd-overlay", "data-testid": "overlay" });
  const plotBox = h("div", { class: "plsd-plot", "data-testid": "plot" }, [glCanvas, overlayCanvas]);
  const root = h("div", { class: "plsd-root", "data-testid": "plsd-widget", tabindex: "0" }, [
    controls.toolbar, ...controls.messages, h("div", { class: "plsd-main" }, [plotBox, controls.side]),
    controls.neighbors, inspect.heatStrip, gallery.panel, controls.metrics,
  ]);
  if (dark) root.classList.add("plsd-dark");
  el.append(root);

  // ---- renderer, overlay, gestures, tooltip ---------------------------------------------
  const size = () => [Math.max(320, plotBox.clientWidth || 560), 460];
  let [width, height] = size();
  const renderer = createRenderer(glCanvas, {
    width, height, dark,
    bounds: model.get("bounds"),
    colors,
    onSelect: (indices) => {
      if (indices.length === 1) send(model, MESSAGE.neighbors, { index: indices[0] });
      if (indices.length === 1 && !editing()) return; // a click in the test view: neighbours only
      sendSelection(indices);
    },
    onView: () => overlay.draw(),
    onHover: (index) => tooltip.show(index),
  });
  const overlay = createOverlay(overlayCanvas, {
    renderer, colors, state, showContours: () => model.get("show_contours"),
  });
  overlay.resize(width, height);
  const gestures = installGestures({ model, overlay, plotBox, root, renderer, state, needSelection, setSelection });
  const tooltip = createTooltip({ model, state, renderer, root, size: () => [width, height],
    hidden: () => gestures.dragging() });
  plotBox.append(tooltip.element);

  const resizeObserver = new ResizeObserver(() => {
    const [w, hgt] = size();
    if (w === width && hgt === height) return;
    [width, height] = [w, hgt];
    renderer.resize(width, height);
    overlay.resize(width, height);
    overlay.draw();
  });
  resizeObserver.observe(plotBox);

  // Follow the notebook's light / dark theme as the user switches it.
  const themeObserver = new MutationObserver(() => {
    if (isDarkTheme() === dark) return;
    dark = isDarkTheme();
    root.classList.toggle("plsd-dark", dark);
    renderer.setTheme(dark);
  });
  if (document.body) themeObserver.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light"] });

  function needSelection(what) {
    if (state.selection.length) return true;
    controls.showError(`Select points first (Lasso or Box), then ${what}.`);
    return false;
  }

  function exportPng() {
    const out = document.createElement("canvas");
    out.width = renderer.canvas.width;
    out.height = renderer.canvas.height;
    const g = out.getContext("2d");
    g.fillStyle = dark ? "#1b1b1b" : "#ffffff"; // opaque: a transparent PNG vanishes on dark slides
    g.fillRect(0, 0, out.width, out.height);
    g.drawImage(renderer.canvas, 0, 0);
    g.drawImage(overlayCanvas, 0, 0, out.width, out.height);
    const link = h("a", { href: out.toDataURL("image/png"), download: "plsd_embedding.png" });
    link.click();
  }

  // ---- selection ------------------------------------------------------------------------
  function sendSelection(indices) {
    if (!editing()) {
      if (indices.length) {
        controls.showError("Selections and edits work on the train split's current (PLSD) positions; "
          + "switch the view back to train and PLSD (current).");
      }
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
  function showSelection() {
    controls.setSelectionCount(state.selection.length);
    root.dataset.nSelected = String(state.selection.length);
  }

  function setMode(mode) {
    state.mode = mode;
    renderer.setMode(mode);
    overlayCanvas.style.pointerEvents = mode === "move" ? "auto" : "none";
    plotBox.dataset.mode = mode;
    controls.setModeActive(mode);
  }

  // ---- traits -> view -------------------------------------------------------------------
  function onPositions({ transition = true } = {}) {
    const previous = state.positions.length;
    state.positions = decodeFloat32(model.get("positions"));
    transition &&= previous === state.positions.length; // a split switch changes the points
    state.predictions = decodeLabels(model.get("predictions"), model.get("label_dtype"));
    root.dataset.nPoints = String(state.positions.length / 2);
    root.dataset.positionsChecksum = checksum(state.positions);
    renderer.draw(state.positions, state.labels, { transition }).then(() => {
      root.dataset.ready = "true";
      overlay.draw();
    });
  }

  function onContours() {
    state.contours = decodeOutlines(model.get("contours"));
    root.dataset.contoursChecksum = state.contours ? checksum(state.contours.vertices) : "";
    controls.onContoursToggle();
    overlay.draw();
  }

  // The edit targets: a full array now and then, deltas after each edit (transport.js).
  const targets = new TargetsMirror();
  let resyncAsked = "";
  function onTargets() {
    let result;
    try {
      result = targets.sync(model.get("targets"), model.get("targets_version"), model.get("targets_delta"));
    } catch (err) {
      console.error("plsd_widget: bad targets update", err);
      result = { changed: false, stale: true };
    }
    if (result.stale) {
      // A gap only the full array fills (a second view, a re-display): ask once per gap.
      const gap = `${model.get("targets_version")}/${targets.version}`;
      if (gap !== resyncAsked) {
        resyncAsked = gap;
        send(model, MESSAGE.resync_targets);
      }
    }
    if (!result.changed) return;
    state.targets = targets.values;
    state.edited = editedIndices(state.targets);
    root.dataset.nEdited = String(state.edited.length);
    root.dataset.targetsVersion = String(targets.version);
    root.dataset.targetsChecksum = finiteChecksum(state.targets);
    overlay.draw();
  }

  function onSelectionTrait() {
    state.selection = Array.from(decodeUint32(model.get("selection")));
    renderer.select(state.selection);
    showSelection();
  }

  // The clicked point and its nearest neighbours in the classifier's latent space.
  function onNeighbors() {
    const indices = decodeUint32(model.get("neighbors"));
    root.dataset.neighbors = String(indices.length);
    renderNeighbors(controls.neighbors, { model, state, of: model.get("neighbors_of"), indices,
      distances: decodeFloat32(model.get("neighbor_distances")),
      heat: decodeLabels(model.get("neighbor_heat"), "uint8") });
  }

  // Points suggested for labelling (rings) and a class's subtypes (dashed outlines).
  function onInspectOverlay() {
    state.suggested = decodeUint32(model.get("suggested"));
    state.subtypes = decodeOutlines(model.get("subtypes"));
    overlay.draw();
  }

  // A gallery item: ring it where the plot shows it, on its split (gallery.js draws it).
  function highlight(item) {
    state.highlight = item;
    root.dataset.highlighted = `${item.split}:${item.index}`;
    if (model.get("split") !== item.split) {
      model.set("split", item.split);
      model.save_changes();
    }
    overlay.draw();
  }

  function onSplit() {
    state.split = model.get("split");
    root.dataset.split = state.split;
    root.dataset.show = model.get("show");
    controls.setSplit(model.get("split"), model.get("has_test"), editing());
    if (!editing() && state.mode === "move") setMode("lasso");
    controls.onHistory();
  }

  function onLabels() {
    state.labels = decodeLabels(model.get("labels"), model.get("label_dtype"));
    state.thumbnails = decodeLabels(model.get("thumbnails"), "uint8");
    controls.renderLegend(state.labels);
    inspect.setClasses(model.get("class_names"));
    onPositions({ transition: false });
  }

  function onTraining() {
    const training = controls.onTraining();
    gallery.onTraining(training);
    root.dataset.training = String(training);
  }

  function onStatus() {
    root.dataset.status = controls.onStatus();
  }

  const handlers = [
    ...controls.handlers,
    ...inspect.handlers,
    ...gallery.handlers,
    ["change:neighbor_heat", onNeighbors],
    ["change:positions", () => onPositions()],
    ["change:targets", onTargets],
    ["change:targets_version", onTargets],
    ["change:targets_delta", onTargets],
    ["change:labels", onLabels],
    ["change:thumbnails", () => { state.thumbnails = decodeLabels(model.get("thumbnails"), "uint8"); }],
    ["change:split", onSplit],
    ["change:show", onSplit],
    ["change:neighbors_of", onNeighbors],
    ["change:neighbors", onNeighbors],
    ["change:contours", onContours],
    ["change:show_contours", onContours],
    ["change:selection", onSelectionTrait],
    ["change:training", onTraining],
    ["change:status", onStatus],
  ];
  for (const [event, handler] of handlers) model.on(event, handler);

  state.labels = decodeLabels(model.get("labels"), model.get("label_dtype"));
  state.thumbnails = decodeLabels(model.get("thumbnails"), "uint8");
  controls.renderLegend(state.labels);
  inspect.setClasses(model.get("class_names"));
  onSplit();
  onNeighbors();
  setMode("lasso");
  onTargets();
  onContours();
  onSelectionTrait();
  onTraining();
  onStatus();
  controls.init();
  inspect.init();
  gallery.init();
  onPositions({ transition: false });

  return () => {
    for (const [event, handler] of handlers) model.off(event, handler);
    resizeObserver.disconnect();
    themeObserver.disconnect();
    renderer.destroy();
  };
}

export default { render };
