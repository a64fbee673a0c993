import { describe, expect, it } from "vitest";
import { blendHeat, subtypeIndices } from "./inspect.js";
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
