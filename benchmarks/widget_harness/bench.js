// Drives the bundled widget in a plain page: builds a mock anywidget model from the
// synthetic data the Python side serves, mounts the view and exposes probes on window.bench.
import widget from "/static/widget.js";
import { MockModel } from "./mock_model.js";

const BINARY = ["positions", "positions2", "labels", "predictions", "targets", "contours", "selection10k"];

let data = null;
const echoes = []; // pending answers of the mock kernel
let model = null;
let root = null;

async function fetchView(n, name) {
  const response = await fetch(`/data/${n}/${name}`);
  if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
  return new DataView(await response.arrayBuffer());
}

// ---- input probes: handling time and "painted" time of every pointer move ---------------
// start: capture listener on window (runs before any widget / regl-scatterplot listener);
// end: bubble listeners on window registered after the widget (run after the widget's own);
// painted: a rAF requested from the event, then a MessageChannel task: it runs after that
// frame's rAF callbacks (regl-scatterplot draws there), style, layout and paint (the 2D
// overlay's display list is recorded and, for a software canvas, rasterised) on the main thread.
const probe = { records: [], current: null, pending: [], afterRaf: [], rafScheduled: false, waiters: [] };
const channel = new MessageChannel();
channel.port1.onmessage = () => {
  const now = performance.now();
  for (const r of probe.afterRaf) r.painted = now;
  probe.afterRaf = [];
  if (!probe.pending.length) for (const w of probe.waiters.splice(0)) w();
};
function schedulePaintMark() {
  if (probe.rafScheduled) return;
  probe.rafScheduled = true;
  requestAnimationFrame((ts) => {
    probe.rafScheduled = false;
    const now = performance.now();
    for (const r of probe.pending) { r.raf = now; r.rafTs = ts; }
    probe.afterRaf.push(...probe.pending);
    probe.pending = [];
    channel.port2.postMessage(null);
  });
}
let probesInstalled = false;
function installProbes() {
  if (probesInstalled) return;
  probesInstalled = true;
  window.addEventListener("pointermove", (e) => {
    probe.current = { start: performance.now(), eventTs: e.timeStamp, end: null };
  }, { capture: true });
  const end = () => {
    const r = probe.current;
    if (!r) return;
    r.end = performance.now();
    if (!probe.records.includes(r)) {
      probe.records.push(r);
      probe.pending.push(r);
      schedulePaintMark();
    }
  };
  window.addEventListener("pointermove", end);
  window.addEventListener("mousemove", end); // compat mouse events follow pointermove in the same task
}

// ---- frame timestamps ----------------------------------------------------------------------
let frames = null;
function frameLoop(ts) {
  if (!frames) return;
  frames.push(ts);
  requestAnimationFrame(frameLoop);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
}

window.bench = {
  async load(n) {
    const meta = await (await fetch(`/data/${n}/meta.json`)).json();
    const views = Object.fromEntries(await Promise.all(BINARY.map(async (k) => [k, await fetchView(n, k)])));
    data = { n, meta, ...views };
    // Every synced trait of PLSDWidget (names, binary or not, defaults: read from the Python class
    // by widget_render.py), then the synthetic data in the traits PLSDWidget.__init__ fills.
    const traits = {};
    for (const [name, { binary, default: value }] of Object.entries(meta.traits)) {
      traits[name] = binary ? new DataView(new ArrayBuffer(0)) : value;
    }
    for (const name of ["positions", "targets", "labels", "predictions", "contours"]) {
      if (!(name in traits)) throw new Error(`PLSDWidget has no trait ${name}`);
      traits[name] = views[name];
    }
    Object.assign(traits, { label_dtype: meta.label_dtype, class_names: meta.class_names, colors: meta.colors,
      bounds: meta.bounds, targets_version: meta.targets_version });
    model = new MockModel(traits);
    window.model = model;
    return true;
  },

  /** render({model, el}) -> data-ready="true" (ms), and to the first painted frame after it. */
  mount() {
    const el = document.getElementById("host");
    el.replaceChildren();
    const t0 = performance.now();
    widget.render({ model, el });
    const tSync = performance.now();
    root = el.querySelector('[data-testid="plsd-widget"]');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("data-ready never became true")), 300_000);
      const done = () => {
        const tReady = performance.now();
        clearTimeout(timer);
        requestAnimationFrame(() => {
          const tRaf = performance.now();
          channel2(() => resolve({ sync_ms: tSync - t0, ready_ms: tReady - t0, painted_ms: performance.now() - t0,
            raf_ms: tRaf - t0 }));
        });
      };
      if (root.dataset.ready === "true") { done(); return; }
      const observer = new MutationObserver(() => {
        if (root.dataset.ready === "true") { observer.disconnect(); done(); }
      });
      observer.observe(root, { attributes: true, attributeFilter: ["data-ready"] });
    });
  },

  /** Python sets the selection: the kernel pushes the selection trait (uint32 indices). */
  selectFromKernel(which = "selection10k") {
    const t0 = performance.now();
    model.kernelSet({ selection: data[which] });
    return { handler_ms: performance.now() - t0, n_selected: Number(root.dataset.nSelected) };
  },

  /**
   * From now on the mock kernel answers the view's `move` and `resync_targets` messages the
   * way PLSDWidget does: the Python side (widget_render.MockKernel, with the real TargetsSync)
   * decides what to push (a targets delta, or the full array), the mock model applies it.
   */
  enableKernelEcho() {
    model.onMessage = (content, buffers) => {
      if (content.type === "move") {
        const indices = new Uint8Array(buffers[0]);
        const body = new Uint8Array(4 + indices.length + buffers[1].byteLength);
        new DataView(body.buffer).setUint32(0, indices.length / 4, true);
        body.set(indices, 4);
        body.set(new Uint8Array(buffers[1]), 4 + indices.length);
        echoes.push(bench.kernelAction("move", body));
      } else if (content.type === "resync_targets") {
        echoes.push(bench.kernelAction("resync"));
      }
    };
  },
  /** Ask the mock kernel for an action (move, undo, resync) and push its trait update to the view. */
  async kernelAction(action, body = new Uint8Array(0)) {
    const reply = await (await fetch(`/kernel/${data.n}/${action}`, { method: "POST", body })).json();
    const updates = {};
    for (const [name, value] of Object.entries(reply)) {
      if (value && value.b64 !== undefined) {
        const raw = atob(value.b64);
        const bytes = new Uint8Array(raw.length);
        for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
        updates[name] = new DataView(bytes.buffer);
      } else {
        updates[name] = value;
      }
    }
    const t0 = performance.now();
    model.kernelSet(updates);
    bench.lastEchoMs = performance.now() - t0;
  },
  /** Resolves when every kernel answer asked for so far has been applied. */
  async echoDone() {
    while (echoes.length) await echoes.shift();
  },
  /**
   * A second view of the same model, mounted after edits (a re-display): it finds the model's
   * full targets older than the last delta, asks for the full array once, and then both views
   * must hold the same targets.
   */
  async mountSecond() {
    const el = document.getElementById("host2");
    el.replaceChildren();
    const t0 = performance.now();
    widget.render({ model, el });
    await bench.echoDone();
    const second = el.querySelector('[data-testid="plsd-widget"]');
    const pick = (r) => ({ nEdited: r.dataset.nEdited, targetsVersion: r.dataset.targetsVersion,
      targetsChecksum: r.dataset.targetsChecksum });
    return { ms: performance.now() - t0, first: pick(root), second: pick(second) };
  },

  /** A kernel positions update, as PLSDWidget._sync_positions sends it (one hold_sync batch). */
  positionsUpdate() {
    const t0 = performance.now();
    model.kernelSet({ positions: data.positions2, predictions: data.predictions, contours: data.contours });
    return { handler_ms: performance.now() - t0 };
  },

  installProbes,
  resetProbes() { probe.records = []; probe.current = null; },
  /** Resolves when every recorded move has had its frame painted (or after 20 s). */
  settled() {
    return new Promise((resolve) => {
      const finish = () => resolve(probe.records.length);
      if (!probe.pending.length && !probe.afterRaf.length) { finish(); return; }
      probe.waiters.push(finish);
      setTimeout(finish, 20_000);
    });
  },
  records() { return probe.records.map((r) => ({ handler: r.end - r.start, painted: (r.painted ?? NaN) - r.start,
    raf: (r.raf ?? NaN) - r.start, start: r.start })); },
  /** rAF intervals with nothing going on: the frame-rate floor under the current load. */
  async idleFrames(ms = 1500) {
    bench.startFrames();
    await new Promise((r) => setTimeout(r, ms));
    const f = bench.stopFrames();
    const d = f.slice(1).map((t, i) => t - f[i]);
    return { median: median(d), count: d.length };
  },
  startFrames() { frames = []; requestAnimationFrame(frameLoop); },
  stopFrames() { const f = frames; frames = null; return f; },
  ledger() { return model.ledger; },
  unknownTraits() { return [...model.unknown]; },
  clearLedger() { model.ledger = []; },
  dataset() { return { ...root.dataset }; },
  overlayBox() {
    const r = root.querySelector('[data-testid="overlay"]').getBoundingClientRect();
    return { x: r.left, y: r.top, width: r.width, height: r.height };
  },

  /**
   * What one drag frame of the overlay costs, drawn four ways on a canvas of the overlay's size,
   * each forced to raster with a 1-pixel getImageData: (a) the view's preview loop as written
   * (per point: 3 small arrays, beginPath + arc + fill); (b) one path per colour, one fill;
   * (c) fillRect squares, fillStyle per colour; (d) a sprite of the selection drawn once at
   * drag start, then one drawImage per move. Also (e) the O(n) targets scan drawOverlay does
   * on every frame (all NaN: no edits).
   */
  overlayProbe(k, n, repeats = 15) {
    const [w, hgt] = [root.querySelector('[data-testid="overlay"]').width, 460];
    const colors = model.get("colors");
    const rng = (() => { let s = 12345; return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32); })();
    const px = new Float32Array(2 * k);
    const lab = new Uint8Array(k);
    for (let i = 0; i < k; i++) { px[2 * i] = 100 + 200 * rng(); px[2 * i + 1] = 100 + 200 * rng(); lab[i] = i % 10; }
    const sel = Array.from({ length: k }, (_, i) => i);
    const canvas = (width = w, height = hgt, cpu = false) => {
      const c = document.createElement("canvas"); c.width = width; c.height = height;
      return c.getContext("2d", cpu ? { willReadFrequently: true } : {});
    };
    const time = (setup, fn) => {
      const ts = [];
      for (let r = 0; r < repeats; r++) {
        const g = setup();
        const t0 = performance.now();
        fn(g, r);
        g.getImageData(0, 0, 1, 1);
        ts.push(performance.now() - t0);
      }
      return median(ts);
    };
    const edited = (i) => [px[2 * i], px[2 * i + 1]];
    const toScreen = (x, y) => [x, y];
    const perPoint = (g, r) => {
      const preview = ([x, y]) => [x + r, y + r];
      g.clearRect(0, 0, w, hgt);
      g.globalAlpha = 0.9;
      for (const i of sel) {
        const [sx, sy] = toScreen(...preview(edited(i)));
        g.fillStyle = colors[lab[i]];
        g.beginPath(); g.arc(sx, sy, 3, 0, 2 * Math.PI); g.fill();
      }
    };
    const a = time(() => canvas(), perPoint);
    const aCpu = time(() => canvas(w, hgt, true), perPoint);
    const byColour = (g, r, shape) => {
      g.clearRect(0, 0, w, hgt);
      g.globalAlpha = 0.9;
      for (let c = 0; c < colors.length; c++) {
        g.fillStyle = colors[c];
        if (shape === "arc") g.beginPath();
        for (let i = 0; i < k; i++) {
          if (lab[i] !== c) continue;
          const sx = px[2 * i] + r;
          const sy = px[2 * i + 1] + r;
          if (shape === "arc") { g.moveTo(sx + 3, sy); g.arc(sx, sy, 3, 0, 2 * Math.PI); } else g.fillRect(sx - 2.5, sy - 2.5, 5, 5);
        }
        if (shape === "arc") g.fill();
      }
    };
    const b = time(() => canvas(), (g, r) => byColour(g, r, "arc"));
    const c = time(() => canvas(), (g, r) => byColour(g, r, "rect"));
    const sprite = canvas();
    byColour(sprite, 0, "arc");
    const d = time(() => canvas(), (g, r) => { g.clearRect(0, 0, w, hgt); g.drawImage(sprite.canvas, r, r); });
    const targets = new Float32Array(2 * n).fill(NaN);
    const scan = [];
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      let edits = 0;
      for (let i = 0; i < targets.length / 2; i++) { if (!Number.isFinite(targets[2 * i])) continue; edits++; }
      scan.push(performance.now() - t0 + edits * 0);
    }
    return { k, n, per_point_arc_ms: a, per_point_arc_cpu_canvas_ms: aCpu, one_path_per_colour_ms: b, fillrect_ms: c, sprite_drawimage_ms: d,
      targets_scan_ms: median(scan) };
  },
};

function channel2(callback) {
  const ch = new MessageChannel();
  ch.port1.onmessage = () => callback();
  ch.port2.postMessage(null);
}
window.benchReady = true;
