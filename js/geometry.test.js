import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  contractTransform, draggedTargets, editedCentroid, editedPoint, linearScale, toNdc, wheelKappa,
} from "./geometry.js";

describe("linearScale", () => {
  it("maps, inverts and updates its domain and range like d3", () => {
    const s = linearScale([0, 10], [0, 100]);
    assert.equal(s(2.5), 25);
    assert.equal(s.invert(75), 7.5);
    s.domain([-1, 1]).range([200, 0]);
    assert.equal(s(1), 0);
    assert.equal(s.invert(100), 0);
    assert.deepEqual(s.domain(), [-1, 1]);
    const copy = s.copy();
    copy.domain([0, 1]);
    assert.deepEqual(s.domain(), [-1, 1]);
  });
});

describe("toNdc", () => {
  it("maps the bounds onto [-1, 1] on both axes", () => {
    const { x, y } = toNdc(new Float32Array([-5, 10, 5, 30, 0, 20]), [-5, 5, 10, 30]);
    assert.deepEqual(Array.from(x), [-1, 1, 0]);
    assert.deepEqual(Array.from(y), [-1, 1, 0]);
  });
});

describe("drag edits", () => {
  const positions = new Float32Array([0, 0, 1, 1, 2, 2]);
  const targets = new Float32Array([NaN, NaN, 5, 6, NaN, NaN]);

  it("uses a point's target when it has one", () => {
    assert.deepEqual(editedPoint(positions, targets, 1), [5, 6]);
    assert.deepEqual(editedPoint(positions, targets, 2), [2, 2]);
    assert.deepEqual(editedPoint(positions, new Float32Array(0), 1), [1, 1]);
  });

  it("shifts the edited picture of the selection, composing with earlier edits", () => {
    const out = draggedTargets(positions, targets, [2, 1], 0.5, -1);
    assert.deepEqual(Array.from(out), [2.5, 1, 5.5, 5]);
  });
});

describe("contract edits", () => {
  const positions = new Float32Array([0, 0, 2, 0, 0, 2]);
  const targets = new Float32Array([NaN, NaN, 4, 0, NaN, NaN]);

  it("finds the centroid of the edited picture", () => {
    assert.deepEqual(editedCentroid(positions, targets, [0, 1]), [2, 0]);
    assert.deepEqual(editedCentroid(positions, targets, []).map(Number.isNaN), [true, true]);
  });

  it("follows Eq. 2 as a canvas transform: kappa 1 collapses, 0.5 halves, -1 doubles the offset", () => {
    const apply = ([a, b, c, d, e, f], [x, y]) => [a * x + c * y + e, b * x + d * y + f];
    assert.deepEqual(apply(contractTransform([2, 0], 1), [4, 2]), [2, 0]);
    assert.deepEqual(apply(contractTransform([2, 0], 0.5), [4, 2]), [3, 1]);
    assert.deepEqual(apply(contractTransform([2, 0], -1), [4, 2]), [6, 4]);
  });

  it("compounds wheel notches into one kappa", () => {
    assert.equal(wheelKappa(0), 0);
    assert.ok(Math.abs(wheelKappa(2) - 0.19) < 1e-12);
    assert.ok(Math.abs(wheelKappa(-1) + 1 / 9) < 1e-12); // expanding: kappa < 0
  });
});
