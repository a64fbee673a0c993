// Pure maths of the view: data <-> normalised device coordinates, drag edits.

/**
 * A linear scale with the small d3-scale surface regl-scatterplot uses
 * (`domain`, `range`) plus `invert`; regl-scatterplot updates its domain on pan/zoom.
 */
export function linearScale(domain = [0, 1], range = [0, 1]) {
  let d = [domain[0], domain[1]];
  let r = [range[0], range[1]];
  const scale = (v) => r[0] + ((v - d[0]) / (d[1] - d[0])) * (r[1] - r[0]);
  scale.domain = (next) => {
    if (next === undefined) return [d[0], d[1]];
    d = [next[0], next[1]];
    return scale;
  };
  scale.range = (next) => {
    if (next === undefined) return [r[0], r[1]];
    r = [next[0], next[1]];
    return scale;
  };
  scale.invert = (p) => d[0] + ((p - r[0]) / (r[1] - r[0])) * (d[1] - d[0]);
  scale.copy = () => linearScale(d, r);
  return scale;
}

/**
 * Interleaved (n, 2) data coordinates to regl-scatterplot's [-1, 1] space.
 * @param {Float32Array} xy interleaved x0, y0, x1, y1, ...
 * @param {number[]} bounds [xmin, xmax, ymin, ymax] mapped to [-1, 1]
 */
export function toNdc(xy, bounds) {
  const [x0, x1, y0, y1] = bounds;
  const n = xy.length / 2;
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  const sx = 2 / (x1 - x0);
  const sy = 2 / (y1 - y0);
  for (let i = 0; i < n; i++) {
    x[i] = -1 + (xy[2 * i] - x0) * sx;
    y[i] = -1 + (xy[2 * i + 1] - y0) * sy;
  }
  return { x, y };
}

/** Where point i is drawn in the edited picture: its target if it has one, else its position. */
export function editedPoint(positions, targets, i) {
  const tx = targets.length ? targets[2 * i] : NaN;
  if (Number.isFinite(tx)) return [tx, targets[2 * i + 1]];
  return [positions[2 * i], positions[2 * i + 1]];
}

/**
 * Targets of a drag: each selected point's edited location shifted by (dx, dy), so a
 * drag composes with earlier edits. Returns a Float32Array (k, 2), interleaved.
 */
export function draggedTargets(positions, targets, indices, dx, dy) {
  const out = new Float32Array(indices.length * 2);
  for (let j = 0; j < indices.length; j++) {
    const [x, y] = editedPoint(positions, targets, indices[j]);
    out[2 * j] = x + dx;
    out[2 * j + 1] = y + dy;
  }
  return out;
}

/** Centroid of the selection's edited picture (where each point is drawn). */
export function editedCentroid(positions, targets, indices) {
  let sx = 0;
  let sy = 0;
  for (const i of indices) {
    const [x, y] = editedPoint(positions, targets, i);
    sx += x;
    sy += y;
  }
  return indices.length ? [sx / indices.length, sy / indices.length] : [NaN, NaN];
}

/**
 * Eq. 2 of the paper, y' = y + κ(c − y), as a 2-D canvas transform [a, b, c, d, e, f]:
 * a uniform scaling by (1 − κ) about the centroid's screen position, exact because the
 * view maps data to pixels with the same scale on both axes.
 */
export function contractTransform([cx, cy], kappa) {
  const f = 1 - kappa;
  return [f, 0, 0, f, cx * kappa, cy * kappa];
}

/** The κ of one wheel gesture: each notch contracts (scroll up) or expands by `step`, compounding. */
export function wheelKappa(notches, step = 0.1) {
  return 1 - (1 - step) ** notches;
}
