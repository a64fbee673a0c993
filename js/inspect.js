// "Look inside": the side panel that asks the kernel which points to label next, a class's
// subtypes and saliency maps (of the selection, or what moves points from one class or group
// toward another), and the strip below the plot that shows them. The kernel computes
// (widget/inspect_panel.py); this module only asks and draws.
import { decodeLabels, decodeUint32 } from "./codecs.js";
import { h } from "./dom.js";
import { MESSAGE, send } from "./messages.js";
import { decodeOutlines } from "./outlines.js";

/**
 * Blend a heat map (uint8, side × side, map `k` of `heat`) over a thumbnail canvas in red.
 * Pure pixel maths on an ImageData-like `{data}`, so it is testable without a canvas.
 */
export function blendHeat(pixels, heat, k, side) {
  const start = k * side * side;
  for (let p = 0; p < side * side; p++) {
    const a = (0.75 * heat[start + p]) / 255;
    pixels.data[4 * p] = Math.round(pixels.data[4 * p] * (1 - a) + 255 * a);
    pixels.data[4 * p + 1] = Math.round(pixels.data[4 * p + 1] * (1 - a));
    pixels.data[4 * p + 2] = Math.round(pixels.data[4 * p + 2] * (1 - a));
  }
  return pixels;
}

/** Draw heat map `k` over what `canvas` shows (a thumbnail of the same side). */
export function drawHeat(canvas, heat, k, side) {
  if (!heat.length || heat.length < (k + 1) * side * side) return;
  const g = canvas.getContext("2d");
  g.putImageData(blendHeat(g.getImageData(0, 0, side, side), heat, k, side), 0, 0);
}

/** Heat map `k` alone, as a grey-on-white image, when there is no thumbnail under it. */
function heatCanvas(heat, k, side) {
  const canvas = h("canvas", { class: "plsd-thumb" });
  canvas.width = side;
  canvas.height = side;
  const g = canvas.getContext("2d");
  const pixels = g.createImageData(side, side);
  pixels.data.fill(255);
  g.putImageData(blendHeat(pixels, heat, k, side), 0, 0);
  return canvas;
}

/** The indices of `members` whose subtype in `labels` is `s`. */
export function subtypeIndices(members, labels, s) {
  const out = [];
  for (let i = 0; i < members.length; i++) if (labels[i] === s) out.push(members[i]);
  return out;
}

/**
 * One end of a direction, from the value of its select: `class:<name>` or `group:A` / `group:B`.
 * A class travels as its name; a group as `null` and its indices (empty for a class).
 */
export function directionEnd(value, groups) {
  if (value.startsWith("group:")) return { name: null, indices: groups[value.slice("group:".length)] ?? [] };
  return { name: value.slice("class:".length), indices: [] };
}

/**
 * The fields and buffers of a direction_saliency message: what moves `points` (the selection;
 * empty: the "from" end's own points) from `fromValue` toward `toValue` (select values, see
 * directionEnd). The kernel checks the rest (unknown class, empty group, the same twice).
 */
export function directionRequest(fromValue, toValue, groups, points) {
  const from = directionEnd(fromValue, groups);
  const to = directionEnd(toValue, groups);
  return {
    fields: { from: from.name, to: to.name },
    buffers: [points, from.indices, to.indices].map((indices) => Uint32Array.from(indices).buffer),
  };
}

/** The options of a direction select: the classes, then the groups set so far. */
export function directionOptions(names, groups) {
  return [...names.map((name) => [`class:${name}`, `class ${name}`]),
    ...Object.entries(groups).filter(([, indices]) => indices.length)
      .map(([key, indices]) => [`group:${key}`, `group ${key} (${indices.length})`])];
}

/**
 * The "from → to" rows: two selects (classes, and the groups A / B kept from selections) and
 * the button that asks what moves the selection (or the first's points) from one toward the other.
 * @returns {{rows: HTMLElement[], button: HTMLElement, setClasses: (names: string[]) => void}}
 */
function createDirection(model, actions) {
  const groups = { A: [], B: [] };
  let classNames = [];
  const directionFrom = h("select", { "data-testid": "direction-from", title: "From this class or group" });
  const directionTo = h("select", { "data-testid": "direction-to", title: "Toward this class or group" });
  function renderDirections() {
    for (const [select, fallback] of [[directionFrom, 0], [directionTo, 1]]) {
      const options = directionOptions(classNames, groups);
      const kept = options.some(([value]) => value === select.value) ? select.value : options[fallback]?.[0];
      select.replaceChildren(...options.map(([value, text]) => h("option", { value, text })));
      if (kept !== undefined) select.value = kept;
    }
  }
  const groupButtons = Object.keys(groups).map((key) => h("button", { "data-testid": `group-${key}`,
    text: `${key} = selection`, title: `Keep the selected points as group ${key}, to go from or toward`,
    onclick: () => {
      if (actions.needSelection(`keep them as group ${key}`)) {
        groups[key] = actions.selection().slice();
        renderDirections();
      }
    } }));
  const button = h("button", { "data-testid": "direction-saliency", text: "What moves them",
    title: "Mean directional saliency: what in the images moves them in the view from the first class or group "
      + "toward the second (red: more ink there). Of the selection, or without one of the first's points",
    onclick: () => {
      const { fields, buffers } = directionRequest(directionFrom.value, directionTo.value, groups,
        actions.selection());
      send(model, MESSAGE.direction_saliency, fields, buffers);
    } });
  return {
    rows: [h("div", { class: "plsd-row" }, [directionFrom, "→", directionTo]),
      h("div", { class: "plsd-buttons" }, [button, ...groupButtons])],
    button,
    setClasses(names) {
      classNames = names;
      renderDirections();
    },
  };
}

/**
 * @param {object} model the anywidget model
 * @param {object} actions
 * @param {(indices: number[]) => void} actions.setSelection
 * @param {() => number[]} actions.selection
 * @param {(what: string) => boolean} actions.needSelection
 * @param {() => void} actions.redraw redraw the overlay (suggested points, subtype outlines)
 */
export function createInspect(model, actions) {
  const writeTrait = (name, value) => { model.set(name, value); model.save_changes(); };

  const saliency = h("select", { "data-testid": "saliency-kind",
    title: "Colour the neighbour thumbnails by what the prediction looks at" },
  [["off", "off"], ["gradient", "gradient"], ["integrated", "integrated gradients"]]
    .map(([value, text]) => h("option", { value, text })));
  saliency.addEventListener("change", () => writeTrait("saliency", saliency.value));
  const direction = createDirection(model, actions);
  const meanSaliency = h("button", { "data-testid": "selection-saliency", text: "Saliency of selection",
    title: "Mean saliency map of the selected points; for edited points also what moves them to their targets",
    onclick: () => {
      if (actions.needSelection("ask for their saliency")) {
        send(model, MESSAGE.selection_saliency, {}, [Uint32Array.from(actions.selection()).buffer]);
      }
    } });

  const count = h("input", { type: "number", min: "1", step: "1", "data-testid": "suggest-n" });
  const commitCount = () => {
    const value = Number.parseInt(count.value, 10);
    if (Number.isInteger(value) && value >= 1) writeTrait("suggest_n", value); else count.value = model.get("suggest_n");
  };
  count.addEventListener("change", commitCount);
  count.addEventListener("keydown", (event) => { event.stopPropagation(); if (event.key === "Enter") commitCount(); });
  const balanced = h("input", { type: "checkbox", "data-testid": "suggest-balanced" });
  balanced.addEventListener("change", () => writeTrait("suggest_balanced", balanced.checked));
  const suggested = () => Array.from(decodeUint32(model.get("suggested")));
  const suggestButton = h("button", { "data-testid": "suggest", text: "Suggest",
    title: "Points spread over the latent space (furthest-point sampling), to label next",
    onclick: () => send(model, MESSAGE.suggest) });
  const selectSuggested = h("button", { "data-testid": "select-suggested", text: "Select",
    onclick: () => actions.setSelection(suggested()) });
  const exportSuggested = h("button", { "data-testid": "export-suggested", text: "Export",
    title: "Download their indices as JSON",
    onclick: () => {
      const text = JSON.stringify({ split: model.get("split"), indices: suggested() });
      const link = h("a", { href: `data:application/json;charset=utf-8,${encodeURIComponent(text)}`,
        download: "plsd_to_label.json" });
      link.click();
    } });

  const subtypeClass = h("select", { "data-testid": "subtype-class" });
  const findSubtypes = h("button", { "data-testid": "find-subtypes", text: "Subtypes",
    title: "k-means inside the class in the latent space (k by silhouette); outlines on the plot",
    onclick: () => send(model, MESSAGE.subtypes, { class: subtypeClass.value }) });
  const clearSubtypes = h("button", { text: "Clear", onclick: () => send(model, MESSAGE.subtypes, { class: null }) });
  const subtypeList = h("div", { class: "plsd-subtypes", "data-testid": "subtypes" });

  const panel = h("div", { class: "plsd-inspect", "data-testid": "inspect" }, [
    h("div", { class: "plsd-inspect-title", text: "Look inside" }),
    h("label", {}, ["saliency ", saliency]),
    meanSaliency,
    ...direction.rows,
    h("div", { class: "plsd-row" }, ["label next ", count, h("label", { title: "Equal numbers per predicted class" },
      [balanced, " balanced"])]),
    h("div", { class: "plsd-buttons" }, [suggestButton, selectSuggested, exportSuggested]),
    h("div", { class: "plsd-row" }, [subtypeClass, findSubtypes, clearSubtypes]),
    subtypeList,
  ]);
  const heatStrip = h("div", { class: "plsd-strip", "data-testid": "selection-heat" });

  function onSuggested() {
    const n = suggested().length;
    selectSuggested.disabled = exportSuggested.disabled = n === 0;
    panel.dataset.nSuggested = String(n);
    actions.redraw();
  }
  function onSubtypes() {
    const info = model.get("subtypes_info");
    const { members = [], memberLabels: labels = [] } = decodeOutlines(model.get("subtypes")) ?? {};
    const k = labels.length ? Math.max(...labels) + 1 : 0;
    const buttons = [];
    for (let s = 0; k > 1 && s < k; s++) {
      const indices = subtypeIndices(members, labels, s);
      buttons.push(h("button", { "data-testid": `subtype-${s}`, text: `select ${s + 1} (${indices.length})`,
        onclick: () => actions.setSelection(indices) }));
    }
    subtypeList.replaceChildren(...(info ? [h("div", { text: info })] : []), ...buttons);
    panel.dataset.nSubtypes = String(k);
    actions.redraw();
  }
  function onSelectionHeat() {
    const heat = decodeLabels(model.get("selection_heat"), "uint8");
    const side = model.get("thumbnail_side");
    const captions = model.get("selection_heat_captions");
    heatStrip.replaceChildren(...captions.map((caption, k) =>
      h("figure", {}, [heatCanvas(heat, k, side), h("figcaption", { text: caption })])));
    heatStrip.dataset.maps = String(captions.length);
  }
  function onSaliencyKind() {
    saliency.value = model.get("saliency");
  }

  return {
    panel,
    heatStrip,
    handlers: [
      ["change:suggested", onSuggested],
      ["change:subtypes", onSubtypes],
      ["change:subtypes_info", onSubtypes],
      ["change:selection_heat", onSelectionHeat],
      ["change:selection_heat_captions", onSelectionHeat],
      ["change:saliency", onSaliencyKind],
    ],
    init() {
      count.value = model.get("suggest_n");
      balanced.checked = model.get("suggest_balanced");
      meanSaliency.disabled = direction.button.disabled = !model.get("thumbnail_side");
      onSaliencyKind();
      onSuggested();
      onSubtypes();
      onSelectionHeat();
    },
    /** The class names the subtype finder and the direction offer, after the labels change. */
    setClasses(names) {
      subtypeClass.replaceChildren(...names.map((name) => h("option", { value: name, text: `class ${name}` })));
      direction.setClasses(names);
    },
  };
}
