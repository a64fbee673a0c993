import { describe, expect, it } from "vitest";
import {
  contractTransform, draggedTargets, editedCentroid, editedPoint, linearScale, toNdc, wheelKappa,
} from "./geometry.js";

describe("linearScale", () => {
  it("maps, inverts and updates its domain and range like d3", () => {
    const s = linearScale([0, 10], [0, 100]);
    expect(s(2.5)).toBe(25);
    expect(s.invert(75)).toBe(7.5);
    s.domain([-1, 1]).range([200, 0]);
    expect(s(1)).toBe(0);
    expect(s.invert(100)).toBe(0);
    expect(s.domain()).toEqual([-1, 1]);
    const copy = s.copy();
    copy.domain([0, 1]);
    expect(s.domain()).toEqual([-1, 1]);
  });
});

describe("toNdc", () => {
  it("maps the bounds onto [-1, 1] on both axes", () => {
    const { x, y } = toNdc(new Float32Array([-5, 10, 5, 30, 0, 20]), [-5, 5, 10, 30]);
    expect(Array.from(x)).toEqual([-1, 1, 0]);
    expect(Array.from(y)).toEqual([-1, 1, 0]);
  });
});

describe("drag edits", () => {
  const positions = new Float32Array([0, 0, 1, 1, 2, 2]);
  const targets = new Float32Array([NaN, NaN, 5, 6, NaN, NaN]);

  it("uses a point's target when it has one", () => {
    expect(editedPoint(positions, targets, 1)).toEqual([5, 6]);
    expect(editedPoint(positions, targets, 2)).toEqual([2, 2]);
    expect(editedPoint(positions, new Float32Array(0), 1)).toEqual([1, 1]);
  });

  it("shifts the edited picture of the selection, composing with earlier edits", () => {
    const out = draggedTargets(positions, targets, [2, 1], 0.5, -1);
    expect(Array.from(out)).toEqual([2.5, 1, 5.5, 5]);
  });
});

describe("contract edits", () => {
  const positions = new Float32Array([0, 0, 2, 0, 0, 2]);
  const targets = new Float32Array([NaN, NaN, 4, 0, NaN, NaN]);

  it("finds the centroid of the edited picture", () => {
    expect(editedCentroid(positions, targets, [0, 1])).toEqual([2, 0]);
    expect(editedCentroid(positions, targets, []).map(Number.isNaN)).toEqual([true, true]);
  });

  it("follows Eq. 2 as a canvas transform: kappa 1 collapses, 0.5 halves, -1 doubles the offset", () => {
    const apply = ([a, b, c, d, e, f], [x, y]) => [a * x + c * y + e, b * x + d * y + f];
    expect(apply(contractTransform([2, 0], 1), [4, 2])).toEqual([2, 0]);
    expect(apply(contractTransform([2, 0], 0.5), [4, 2])).toEqual([3, 1]);
    expect(apply(contractTransform([2, 0], -1), [4, 2])).toEqual([6, 4]);
  });

  it("compounds wheel notches into one kappa", () => {
    expect(wheelKappa(0)).toBe(0);
    expect(wheelKappa(2)).toBeCloseTo(0.19, 12);
    expect(wheelKappa(-1)).toBeCloseTo(-1 / 9, 12); // expanding: kappa < 0
    expect(wheelKappa(3) + wheelKappa(-3)).not.toBe(0); // notches compound, they do not add up
    expect(wheelKappa(2 - 2)).toBe(0); // two up, two down: no edit
  });
});

describe("previews match the edits they commit", () => {
  // The view maps data to pixels with one scale on both axes (square bounds), y flipped.
  const xs = linearScale([-10, 10], [0, 400]);
  const ys = linearScale([-10, 10], [400, 0]);
  const toScreen = ([x, y]) => [xs(x), ys(y)];
  const apply = ([a, b, c, d, e, f], [x, y]) => [a * x + c * y + e, b * x + d * y + f];
  const positions = new Float32Array([1, 2, -3, 4, 5, -6, 0, 0]);
  const targets = new Float32Array([NaN, NaN, -1, 1, NaN, NaN, NaN, NaN]);
  const selection = [0, 1, 2];

  it("a drag by (dx, dy) in data units moves every selected point by the same pixels", () => {
    const moved = draggedTargets(positions, targets, selection, 2, -3);
    selection.forEach((i, j) => {
      const before = toScreen(editedPoint(positions, targets, i));
      const after = toScreen([moved[2 * j], moved[2 * j + 1]]);
      expect(after[0] - before[0]).toBeCloseTo(xs(2) - xs(0), 4);
      expect(after[1] - before[1]).toBeCloseTo(ys(-3) - ys(0), 4);
    });
  });

  it("two drags compose: the second starts from the first's targets", () => {
    const first = draggedTargets(positions, targets, selection, 1, 1);
    const after = new Float32Array(targets);
    selection.forEach((i, j) => { after[2 * i] = first[2 * j]; after[2 * i + 1] = first[2 * j + 1]; });
    const second = draggedTargets(positions, after, selection, 1, -2);
    expect(Array.from(second)).toEqual(Array.from(draggedTargets(positions, targets, selection, 2, -1)));
  });

  it("the Alt+wheel preview transform puts each point where Eq. 2 sends it", () => {
    const kappa = wheelKappa(3);
    const centre = editedCentroid(positions, targets, selection);
    const transform = contractTransform(toScreen(centre), kappa);
    for (const i of selection) {
      const y = editedPoint(positions, targets, i);
      const eq2 = [y[0] + kappa * (centre[0] - y[0]), y[1] + kappa * (centre[1] - y[1])];
      const [px, py] = apply(transform, toScreen(y));
      expect(px).toBeCloseTo(toScreen(eq2)[0], 4);
      expect(py).toBeCloseTo(toScreen(eq2)[1], 4);
    }
  });
});
