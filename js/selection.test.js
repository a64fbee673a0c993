import { describe, expect, it } from "vitest";
import { classMembers, complement, editedIndices, legendSelection } from "./selection.js";

describe("selection maths", () => {
  const labels = new Uint8Array([0, 1, 0, 2, 1, 0]);

  it("complements a selection within n points", () => {
    expect(complement([1, 3], 5)).toEqual([0, 2, 4]);
    expect(complement([], 3)).toEqual([0, 1, 2]);
    expect(complement([0, 1, 2], 3)).toEqual([]);
  });

  it("finds a class's members", () => {
    expect(classMembers(labels, 0)).toEqual([0, 2, 5]);
    expect(classMembers(labels, 7)).toEqual([]);
  });

  it("legend click selects a class; Shift adds it, sorted, without duplicates; Alt removes it", () => {
    expect(legendSelection([3], labels, 1)).toEqual([1, 4]);
    expect(legendSelection([3, 5], labels, 0, { shiftKey: true })).toEqual([0, 2, 3, 5]);
    expect(legendSelection([0, 1, 3, 4], labels, 1, { altKey: true })).toEqual([0, 3]);
  });

  it("lists the points with a finite target", () => {
    expect(editedIndices(new Float32Array([NaN, NaN, 1, 2, NaN, NaN, 0, 0]))).toEqual([1, 3]);
    expect(editedIndices(new Float32Array(0))).toEqual([]);
  });
});
