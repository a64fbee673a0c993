import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classMembers, complement, editedIndices, legendSelection } from "./selection.js";

describe("selection maths", () => {
  const labels = new Uint8Array([0, 1, 0, 2, 1, 0]);

  it("complements a selection within n points", () => {
    assert.deepEqual(complement([1, 3], 5), [0, 2, 4]);
    assert.deepEqual(complement([], 3), [0, 1, 2]);
    assert.deepEqual(complement([0, 1, 2], 3), []);
  });

  it("finds a class's members", () => {
    assert.deepEqual(classMembers(labels, 0), [0, 2, 5]);
    assert.deepEqual(classMembers(labels, 7), []);
  });

  it("legend click selects a class; Shift adds it, sorted, without duplicates; Alt removes it", () => {
    assert.deepEqual(legendSelection([3], labels, 1), [1, 4]);
    assert.deepEqual(legendSelection([3, 5], labels, 0, { shiftKey: true }), [0, 2, 3, 5]);
    assert.deepEqual(legendSelection([0, 1, 3, 4], labels, 1, { altKey: true }), [0, 3]);
  });

  it("lists the points with a finite target", () => {
    assert.deepEqual(editedIndices(new Float32Array([NaN, NaN, 1, 2, NaN, NaN, 0, 0])), [1, 3]);
    assert.deepEqual(editedIndices(new Float32Array(0)), []);
  });
});
