// Figure 2 in the view: the "show" choice (before / baseline (CE) / PLSD (current)), the button
// that runs the CE baseline, and the "fixed by PLSD" gallery, whose items highlight their
// image in the plot. plsd_widget/widget/gallery.py is the sending side and documents the
// packet; little-endian, the 4-byte arrays first:
//   uint32 k_fixed, k_broken, n_fixed, n_broken, side, channels; uint32 indices[k];
//   float32 baseline_positions[2k]; float32 plsd_positions[2k];
//   uint16 labels[k], baseline_predictions[k], plsd_predictions[k]; uint8 thumbnails[k·side²·channels]
import "./gallery.css";
import { h } from "./dom.js";
import { MESSAGE, send } from "./messages.js";
import { drawThumbnail } from "./thumbnails.js";

export const GALLERY_HEADER_BYTES = 24;
export const SHOW_CHOICES = [["before", "before"], ["baseline", "baseline (CE)"], ["current", "PLSD (current)"]];
const NO_BASELINE = "Run the CE baseline first (the 'Run CE baseline' button, or session.run_baseline())";

/** Bytes of a packet with `k` images and thumbnails of `side`² × `channels`. */
export function gallerySize(k, side, channels) {
  return GALLERY_HEADER_BYTES + 26 * k + k * side * side * channels;
}

/**
 * Decode a gallery packet (DataView): `{nFixed, nBroken, side, channels, items, thumbnails}`, each
 * item `{kind, rank, slot, index, label, baselinePrediction, plsdPrediction, baseline, plsd}`;
 * null when empty (no baseline). Throws on a malformed packet.
 */
export function decodeGallery(view) {
  if (!view || view.byteLength === 0) return null;
  if (view.byteLength < GALLERY_HEADER_BYTES) {
    throw new Error(`a gallery packet needs at least ${GALLERY_HEADER_BYTES} bytes, got ${view.byteLength}`);
  }
  const header = [0, 4, 8, 12, 16, 20].map((at) => view.getUint32(at, true));
  const [kFixed, kBroken, nFixed, nBroken, side, channels] = header;
  const k = kFixed + kBroken;
  const expected = gallerySize(k, side, channels);
  if (view.byteLength !== expected) {
    throw new Error(`a gallery packet of ${k} images (${side}x${side}x${channels} thumbnails) needs ${expected} `
      + `bytes, got ${view.byteLength}`);
  }
  let start = view.byteOffset + GALLERY_HEADER_BYTES;
  const next = (Type, count) => { // a copy: aligned whatever the view's offset
    const array = new Type(view.buffer.slice(start, start + count * Type.BYTES_PER_ELEMENT));
    start += count * Type.BYTES_PER_ELEMENT;
    return array;
  };
  const indices = next(Uint32Array, k);
  const baseline = next(Float32Array, 2 * k);
  const plsd = next(Float32Array, 2 * k);
  const [labels, basePred, plsdPred] = [0, 1, 2].map(() => next(Uint16Array, k));
  const thumbnails = next(Uint8Array, k * side * side * channels);
  const items = Array.from(indices, (index, slot) => ({
    kind: slot < kFixed ? "fixed" : "broken",
    rank: slot < kFixed ? slot + 1 : slot - kFixed + 1,
    slot, index,
    label: labels[slot], baselinePrediction: basePred[slot], plsdPrediction: plsdPred[slot],
    baseline: [baseline[2 * slot], baseline[2 * slot + 1]],
    plsd: [plsd[2 * slot], plsd[2 * slot + 1]],
  }));
  return { nFixed, nBroken, side, channels, items, thumbnails };
}

/** The caption of a gallery item: its index, label and both predictions. */
export function galleryCaption(item, names) {
  const name = (c) => names[c];
  return `#${item.index} · ${name(item.label)} · CE ${name(item.baselinePrediction)} → PLSD ${name(item.plsdPrediction)}`;
}

/** The gallery's headline: counts, and how many are listed when not all are. */
export function gallerySummary(gallery, split) {
  if (!gallery) return "Fixed by PLSD: run the CE baseline to compare";
  const listed = (shown, n) => (shown < n ? ` (${shown} listed)` : "");
  const shown = (kind) => gallery.items.filter((item) => item.kind === kind).length;
  const where = split === "test" ? "test split" : "training split: no test split given";
  return `Fixed by PLSD: ${gallery.nFixed}${listed(shown("fixed"), gallery.nFixed)} · broken: ${gallery.nBroken}`
    + `${listed(shown("broken"), gallery.nBroken)} (${where})`;
}

/**
 * Ring the highlighted image at its place in the embedding shown, and mark its place through the
 * baseline (hollow square) and PLSD (dot), joined by a dashed line; nothing on another split.
 */
export function drawHighlight(g, renderer, state) {
  const hl = state.highlight;
  if (!hl || hl.split !== state.split || 2 * hl.index + 1 >= state.positions.length) return;
  const [bx, by] = renderer.dataToScreen(...hl.baseline);
  const [px, py] = renderer.dataToScreen(...hl.plsd);
  const [sx, sy] = renderer.dataToScreen(state.positions[2 * hl.index], state.positions[2 * hl.index + 1]);
  g.globalAlpha = 1;
  g.strokeStyle = "#888";
  g.setLineDash([3, 3]);
  g.beginPath(); g.moveTo(bx, by); g.lineTo(px, py); g.stroke();
  g.setLineDash([]);
  g.lineWidth = 1.5;
  g.strokeStyle = hl.kind === "fixed" ? "#2ca02c" : "#d62728";
  g.strokeRect(bx - 4, by - 4, 8, 8);
  g.fillStyle = g.strokeStyle;
  g.beginPath(); g.arc(px, py, 3.5, 0, 2 * Math.PI); g.fill();
  g.lineWidth = 3;
  g.strokeStyle = "#000";
  g.beginPath(); g.arc(sx, sy, 9, 0, 2 * Math.PI); g.stroke();
  g.lineWidth = 1.5;
  g.strokeStyle = "#fff";
  g.beginPath(); g.arc(sx, sy, 9, 0, 2 * Math.PI); g.stroke();
  g.font = "11px sans-serif";
  g.fillStyle = "#444";
  g.fillText("CE", bx + 6, by - 6);
  g.fillText("PLSD", px + 6, py - 6);
}

/**
 * @param {object} model the anywidget model
 * @param {object} actions
 * @param {(item: object) => void} actions.highlight show an item (with its split) in the plot
 */
export function createGallery(model, actions) {
  const writeTrait = (name, value) => { model.set(name, value); model.save_changes(); };
  const show = h("select", { "data-testid": "show", title: NO_BASELINE },
    SHOW_CHOICES.map(([value, text]) => h("option", { value, text })));
  show.addEventListener("change", () => writeTrait("show", show.value));
  const showControl = h("label", { class: "plsd-show" }, ["embedding ", show]);
  const runBaseline = h("button", { "data-testid": "run-baseline", text: "Run CE baseline",
    title: "Train the start model with cross-entropy only, for as many epochs as PLSD ran: the fair comparison",
    onclick: () => send(model, MESSAGE.run_baseline) });
  const summary = h("summary", { "data-testid": "gallery-summary" });
  const lists = h("div", { class: "plsd-gallery-lists" });
  const panel = h("details", { class: "plsd-gallery", "data-testid": "gallery" }, [summary, runBaseline, lists]);

  function onShow() {
    const hasBaseline = model.get("has_baseline");
    show.value = model.get("show");
    show.options[1].disabled = !hasBaseline;
    show.title = hasBaseline ? "Whose positions the plot shows (edits: PLSD (current), train split)" : NO_BASELINE;
    panel.dataset.hasBaseline = String(hasBaseline);
  }

  function item(gallery, it, names) {
    const thumb = h("canvas", { class: "plsd-thumb" });
    if (gallery.side) drawThumbnail(thumb, gallery.thumbnails, it.slot, gallery.side, gallery.channels);
    else thumb.style.display = "none";
    const split = model.get("gallery_split");
    const button = h("button", { class: "plsd-gallery-item", "data-testid": "gallery-item", "data-kind": it.kind,
      "data-index": String(it.index), title: "Highlight it in the plot (switches to its split)",
      onclick: () => {
        for (const other of lists.querySelectorAll(".plsd-gallery-item")) {
          other.classList.toggle("plsd-active", other === button);
        }
        actions.highlight({ ...it, split });
      } }, [thumb, h("span", { text: galleryCaption(it, names) })]);
    return button;
  }

  function onGallery() {
    const gallery = decodeGallery(model.get("gallery"));
    const names = model.get("class_names");
    summary.textContent = gallerySummary(gallery, model.get("gallery_split"));
    panel.dataset.nFixed = String(gallery?.nFixed ?? 0);
    panel.dataset.nBroken = String(gallery?.nBroken ?? 0);
    runBaseline.style.display = gallery ? "none" : "";
    lists.replaceChildren(...(gallery ? [["fixed", "Fixed by PLSD (CE wrong, PLSD right)"],
      ["broken", "Broken by PLSD (CE right, PLSD wrong)"]].map(([kind, title]) => h("div", {}, [
      h("div", { class: "plsd-gallery-title", text: title }),
      h("div", { class: "plsd-gallery-strip", "data-kind": kind },
        gallery.items.filter((it) => it.kind === kind).map((it) => item(gallery, it, names))),
    ])) : []));
  }

  return {
    showControl,
    panel,
    handlers: [["change:show", onShow], ["change:has_baseline", onShow], ["change:gallery", onGallery],
      ["change:gallery_split", onGallery]],
    init() {
      onShow();
      onGallery();
    },
    /** The run button is off while a run goes on. */
    onTraining(training) {
      runBaseline.disabled = training;
    },
  };
}
