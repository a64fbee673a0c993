import { describe, expect, it } from "vitest";
import { draggedTargets, editedPoint, linearScale, toNdc } from "./geometry.js";

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
