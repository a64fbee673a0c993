import { describe, expect, it } from "vitest";
import { blendHeat, directionEnd, directionOptions, directionRequest, subtypeIndices } from "./inspect.js";
import { formatDistance } from "./thumbnails.js";

describe("blendHeat", () => {
  it("leaves cold pixels alone and turns hot ones red", () => {
    const pixels = { data: new Uint8ClampedArray([100, 100, 100, 255, 100, 100, 100, 255]) };
    blendHeat(pixels, new Uint8Array([0, 255]), 0, 1); // side 1: only the first pixel, map 0
    expect(Array.from(pixels.data.slice(0, 4))).toEqual([100, 100, 100, 255]);
    blendHeat(pixels, new Uint8Array([0, 255]), 1, 1); // map 1 is hot
    expect(pixels.data[0]).toBeGreaterThan(200);
    expect(pixels.data[1]).toBeLessThan(30);
    expect(pixels.data[3]).toBe(255);
  });
});

describe("subtypeIndices", () => {
  it("returns the members of one subtype in order", () => {
    expect(subtypeIndices([10, 11, 12, 13], [1, 0, 1, 0], 1)).toEqual([10, 12]);
    expect(subtypeIndices([10, 11], [0, 0], 1)).toEqual([]);
  });
});

describe("formatDistance", () => {
  it("keeps three significant digits and marks a missing distance", () => {
    expect(formatDistance(1.23456)).toBe("d 1.23");
    expect(formatDistance(undefined)).toBe("d ?");
  });
});

describe("direction requests", () => {
  const groups = { A: [4, 5, 6], B: [] };

  it("sends a class by name and a group by its indices", () => {
    expect(directionEnd("class:3", groups)).toEqual({ name: "3", indices: [] });
    expect(directionEnd("class:group:x", groups)).toEqual({ name: "group:x", indices: [] }); // a class named so
    expect(directionEnd("group:A", groups)).toEqual({ name: null, indices: [4, 5, 6] });
    expect(directionEnd("group:B", groups)).toEqual({ name: null, indices: [] }); // the kernel refuses it
  });

  it("packs the points and both ends as three uint32 buffers", () => {
    const { fields, buffers } = directionRequest("group:A", "class:9", groups, [1, 2]);
    expect(fields).toEqual({ from: null, to: "9" });
    expect(buffers.map((b) => Array.from(new Uint32Array(b)))).toEqual([[1, 2], [4, 5, 6], []]);
    const plain = directionRequest("class:4", "class:9", groups, []);
    expect(plain.fields).toEqual({ from: "4", to: "9" });
    expect(plain.buffers.map((b) => b.byteLength)).toEqual([0, 0, 0]);
  });

  it("offers the classes, then only the groups that hold points", () => {
    expect(directionOptions(["0", "1"], groups)).toEqual([["class:0", "class 0"], ["class:1", "class 1"],
      ["group:A", "group A (3)"]]);
  });
});
