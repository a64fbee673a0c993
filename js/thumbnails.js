// Looking at the data: the hover tooltip (thumbnail, label, prediction) and the strip of a
// clicked point's nearest neighbours in the latent space. Thumbnails come from one binary
// sprite atlas (uint8, side × side × channels per sample).
import { h } from "./dom.js";
import { drawHeat } from "./inspect.js";

/** Paint sample `index` of the atlas into `canvas` (grey or RGB). */
export function drawThumbnail(canvas, atlas, index, side, channels) {
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

/** The one-line description of a hovered point; "✗" marks a wrong prediction. */
export function describePoint(index, label, predicted) {
  return `#${index} · label ${label} · predicted ${predicted}${predicted === label ? "" : " ✗"}`;
}

/**
 * @param {object} opts
 * @param {object} opts.model the anywidget model (class_names, thumbnail_side, thumbnail_channels)
 * @param {object} opts.state the view's state: labels, predictions, positions, thumbnails
 * @param {object} opts.renderer the scatter (dataToScreen)
 * @param {HTMLElement} opts.root gets data-hovered while a point is hovered
 * @param {() => number[]} opts.size the plot's [width, height]
 * @param {() => boolean} opts.hidden true while the tooltip must stay hidden (a drag)
 */
export function createTooltip({ model, state, renderer, root, size, hidden }) {
  const thumb = h("canvas", { class: "plsd-thumb" });
  const text = h("div");
  const element = h("div", { class: "plsd-tooltip", "data-testid": "tooltip" }, [thumb, text]);

  function show(index) {
    if (index < 0 || hidden() || index >= state.labels.length) {
      element.style.display = "none";
      delete root.dataset.hovered;
      return;
    }
    const names = model.get("class_names");
    const label = names[state.labels[index]];
    const predicted = state.predictions.length ? names[state.predictions[index]] : "?";
    text.textContent = describePoint(index, label, predicted);
    const side = model.get("thumbnail_side");
    thumb.style.display = side ? "block" : "none";
    if (side) drawThumbnail(thumb, state.thumbnails, index, side, model.get("thumbnail_channels"));
    const [x, y] = renderer.dataToScreen(state.positions[2 * index], state.positions[2 * index + 1]);
    const [width, height] = size();
    element.style.left = `${Math.min(x + 12, width - 180)}px`;
    element.style.top = `${Math.min(y + 12, height - 110)}px`;
    element.style.display = "block";
    root.dataset.hovered = String(index);
  }

  return { element, show };
}

/**
 * The clicked point `of` and its nearest neighbours `indices` as thumbnails with their labels
 * and latent-space `distances`; with `heat` (saliency, one map per thumbnail, `of` first)
 * drawn over them in red.
 */
export function renderNeighbors(container, { model, state, of, indices, distances = [], heat = [] }) {
  if (of < 0) {
    container.replaceChildren();
    return;
  }
  const names = model.get("class_names");
  const side = model.get("thumbnail_side");
  const card = (i, k) => {
    const image = h("canvas", { class: "plsd-thumb" });
    if (side) {
      drawThumbnail(image, state.thumbnails, i, side, model.get("thumbnail_channels"));
      drawHeat(image, heat, k, side);
    } else image.style.display = "none";
    const caption = k === 0 ? names[state.labels[i]] : `${names[state.labels[i]]} · ${formatDistance(distances[k - 1])}`;
    return h("figure", { title: `#${i}` }, [image, h("figcaption", { text: caption })]);
  };
  container.replaceChildren(
    h("div", { text: `Nearest to #${of} (${names[state.labels[of]]}) in the latent space, with their distances`
      + `${heat.length ? " (red: saliency)" : ""}:` }),
    h("div", { class: "plsd-strip" }, [card(of, 0), h("span", { text: "→" }),
      ...Array.from(indices, (i, j) => card(i, j + 1))]),
  );
}

/** A distance short enough for a caption: 3 significant digits, "?" when unknown. */
export function formatDistance(d) {
  return Number.isFinite(d) ? `d ${Number(d).toPrecision(3)}` : "d ?";
}
