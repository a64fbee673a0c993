// The renderer interface of the view, backed by regl-scatterplot (WebGL).
// The rest of the widget only talks to this small surface, so the renderer can change.
import createScatterplot from "regl-scatterplot";
import { linearScale, toNdc } from "./geometry.js";

const LASSO_TYPES = { lasso: "freeform", box: "rectangle" };

/** The renderer's colours for a light or dark notebook theme. */
export function themeColors(dark) {
  return {
    pointColorActive: dark ? "#ffffff" : "#111111",
    backgroundColor: dark ? "#1b1b1b" : "#ffffff",
    lassoColor: dark ? "#e0e0e0" : "#333333",
  };
}

/**
 * @param {HTMLCanvasElement} canvas
 * @param {object} opts
 * @param {number[]} opts.bounds [xmin, xmax, ymin, ymax] of the data, shown undistorted
 * @param {string[]} opts.colors one CSS hex colour per class
 * @param {boolean} opts.dark dark background
 * @param {(indices: number[]) => void} opts.onSelect called on lasso/box/click selection
 * @param {() => void} opts.onView called after every pan/zoom
 * @param {(index: number) => void} opts.onHover called with the hovered point, -1 when none
 */
export function createRenderer(canvas, { width, height, bounds, colors, dark, onSelect, onView, onHover }) {
  const xScale = linearScale([bounds[0], bounds[1]], [0, width]);
  const yScale = linearScale([bounds[2], bounds[3]], [height, 0]);
  const plot = createScatterplot({
    canvas,
    width,
    height,
    xScale,
    yScale,
    pointSize: 4,
    opacity: 0.85,
    opacityInactiveMax: 0.3, // unselected points stay visible, muted
    colorBy: "valueA",
    pointColor: colors,
    ...themeColors(dark),
    lassoMinDelay: 0,
    mouseMode: "lasso",
    lassoType: LASSO_TYPES.lasso,
    deselectOnDblClick: true,
    // Shift adds to the selection, Alt removes from it (lasso, box, click).
    actionKeyMap: { merge: "shift", remove: "alt" },
  });
  let pending = null;
  let running = false;
  let drawn = false;
  let selected = [];

  plot.subscribe("select", ({ points }) => {
    selected = Array.from(points);
    onSelect(selected);
  });
  plot.subscribe("deselect", () => {
    selected = [];
    onSelect([]);
  });
  plot.subscribe("view", () => onView());
  plot.subscribe("pointover", (index) => onHover(index));
  plot.subscribe("pointout", () => onHover(-1));

  // regl-scatterplot refuses a draw while one is in progress: queue, latest wins.
  async function pump() {
    running = true;
    while (pending) {
      const { xy, labels, transition } = pending;
      pending = null;
      const { x, y } = toNdc(xy, bounds);
      try {
        await plot.draw({ x, y, z: labels }, {
          transition,
          transitionDuration: 350,
          zDataType: "categorical",
          select: selected,
        });
        drawn = true;
      } catch (err) {
        console.error("plsd_widget: draw failed", err);
      }
    }
    running = false;
  }

  return {
    /** Draw interleaved (n, 2) positions with their class labels. */
    draw(xy, labels, { transition = false } = {}) {
      pending = { xy, labels, transition };
      if (!running) return pump();
      return Promise.resolve();
    },
    /** Show a selection made elsewhere (Python, legend) without echoing it back. */
    select(indices) {
      selected = Array.from(indices);
      if (!drawn) return; // applied by the first draw
      if (selected.length) plot.select(selected, { preventEvent: true });
      else plot.deselect({ preventEvent: true });
    },
    /** "lasso", "box", "pan" or "move" (move: the overlay takes the mouse). */
    setMode(mode) {
      if (mode in LASSO_TYPES) plot.set({ mouseMode: "lasso", lassoType: LASSO_TYPES[mode] });
      else plot.set({ mouseMode: "panZoom" });
    },
    setStyle({ pointSize, opacity }) {
      plot.set({ pointSize, opacity });
    },
    setTheme(dark) {
      plot.set(themeColors(dark));
    },
    resize(w, h) {
      plot.set({ width: w, height: h });
    },
    dataToScreen: (x, y) => [xScale(x), yScale(y)],
    screenToData: (px, py) => [xScale.invert(px), yScale.invert(py)],
    /** The rendered points as a canvas image source (for PNG export). */
    canvas,
    destroy: () => plot.destroy(),
  };
}
