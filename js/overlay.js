// The 2D canvas over the WebGL scatter: density contours, edit targets as rings joined to
// where the model puts each point now, a gallery item's highlight, and the preview of a drag /
// Alt+wheel gesture.
//
// During a gesture the overlay shows two snapshots taken when it began, the static layer
// (contours, edit rings) and the selected points, and moves the latter with a canvas
// transform: redrawing 10k points per mouse move costs ~300 ms in software rendering, two
// drawImage calls a few ms (benchmarks/RESULTS.md).
import { drawHighlight } from "./gallery.js";
import { editedPoint } from "./geometry.js";

const SUBTYPE_COLORS = ["#000000", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b"];

/**
 * @param {HTMLCanvasElement} canvas
 * @param {object} opts
 * @param {object} opts.renderer the scatter (dataToScreen)
 * @param {string[]} opts.colors one CSS colour per class
 * @param {object} opts.state the view's state: positions, targets, labels, selection, edited, contours,
 *   split and highlight (a gallery item)
 * @param {() => boolean} opts.showContours
 */
export function createOverlay(canvas, { renderer, colors, state, showContours }) {
  const ctx = canvas.getContext("2d");
  let gesture = null;
  let framePending = false;

  function drawContours(g, { vertices, offsets, classes }, color) {
    g.lineWidth = 1.5;
    g.globalAlpha = 0.55;
    for (let line = 0; line < classes.length; line++) {
      g.strokeStyle = color(classes[line]);
      g.beginPath();
      for (let v = offsets[line]; v < offsets[line + 1]; v++) {
        const [x, y] = renderer.dataToScreen(vertices[2 * v], vertices[2 * v + 1]);
        if (v === offsets[line]) g.moveTo(x, y); else g.lineTo(x, y);
      }
      g.stroke();
    }
  }

  // Contours, a class's subtypes (dashed), points suggested for labelling (black rings), then
  // targets of edited points as rings joined to where the model puts them now.
  function drawStatic(g) {
    if (state.contours && showContours()) drawContours(g, state.contours, (c) => colors[c] ?? "#888");
    if (state.subtypes) {
      g.setLineDash([5, 3]);
      drawContours(g, state.subtypes, (s) => SUBTYPE_COLORS[s % SUBTYPE_COLORS.length]);
      g.setLineDash([]);
    }
    g.lineWidth = 1.5;
    g.globalAlpha = 0.9;
    g.strokeStyle = "#000";
    for (const i of state.suggested ?? []) {
      const [sx, sy] = renderer.dataToScreen(state.positions[2 * i], state.positions[2 * i + 1]);
      g.beginPath(); g.arc(sx, sy, 5, 0, 2 * Math.PI); g.stroke();
    }
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
    drawHighlight(g, renderer, state);
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

  function draw() {
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!gesture) {
      drawStatic(ctx);
      return;
    }
    ctx.drawImage(gesture.base, 0, 0);
    ctx.setTransform(...gesture.transform);
    ctx.drawImage(gesture.sprite, 0, 0);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
  }

  /** Redraw at the next animation frame, once however often it is asked for. */
  function request() {
    if (framePending) return;
    framePending = true;
    requestAnimationFrame(() => {
      framePending = false;
      draw();
    });
  }

  function snapshot(paint) {
    const layer = document.createElement("canvas");
    layer.width = canvas.width;
    layer.height = canvas.height;
    paint(layer.getContext("2d"));
    return layer;
  }

  return {
    canvas,
    draw,
    request,
    resize(width, height) {
      canvas.width = width;
      canvas.height = height;
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
    },
    /** Start a gesture preview: snapshot the static layer and the selected points. */
    begin() {
      gesture = { base: snapshot(drawStatic), sprite: snapshot(drawSelection), transform: [1, 0, 0, 1, 0, 0] };
      draw();
    },
    /** Move the selection's snapshot by a canvas transform [a, b, c, d, e, f]. */
    transform(matrix) {
      gesture.transform = matrix;
      request();
    },
    end() {
      gesture = null;
      draw();
    },
  };
}
