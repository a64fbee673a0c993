import { describe, expect, it } from "vitest";
import { checksum, decodeFloat32, decodeLabels, decodeUint32, encodeIndices } from "./codecs.js";

describe("codecs", () => {
  it("decodes float32 positions without copying when aligned", () => {
    const values = new Float32Array([1.5, -2, 3.25, 4]);
    const decoded = decodeFloat32(new DataView(values.buffer));
    expect(Array.from(decoded)).toEqual([1.5, -2, 3.25, 4]);
    expect(decoded.buffer).toBe(values.buffer);
  });

  it("copies a misaligned view instead of failing", () => {
    const bytes = new Uint8Array(9);
    new DataView(bytes.buffer).setFloat32(1, 7.5, true);
    expect(Array.from(decodeFloat32(new DataView(bytes.buffer, 1, 4)))).toEqual([7.5]);
  });

  it("rejects a byte count that is not whole items", () => {
    expect(() => decodeFloat32(new DataView(new ArrayBuffer(6)))).toThrow(/whole number/);
  });

  it("treats a missing or empty buffer as empty", () => {
    expect(decodeUint32(undefined).length).toBe(0);
    expect(decodeUint32(new DataView(new ArrayBuffer(0))).length).toBe(0);
  });

  it("decodes labels by dtype and refuses unknown dtypes", () => {
    const labels = new Uint16Array([0, 300, 2]);
    expect(Array.from(decodeLabels(new DataView(labels.buffer), "uint16"))).toEqual([0, 300, 2]);
    expect(Array.from(decodeLabels(new DataView(new Uint8Array([3, 1]).buffer), "uint8"))).toEqual([3, 1]);
    expect(() => decodeLabels(new DataView(new ArrayBuffer(4)), "int64")).toThrow(/unsupported/);
  });

  it("round-trips selection indices through uint32", () => {
    const view = encodeIndices([5, 0, 4294967295]);
    expect(Array.from(decodeUint32(view))).toEqual([5, 0, 4294967295]);
  });

  it("checksum changes when values move or swap", () => {
    const a = new Float32Array([1, 2, 3, 4]);
    expect(checksum(a)).toBe(checksum(new Float32Array([1, 2, 3, 4])));
    expect(checksum(a)).not.toBe(checksum(new Float32Array([1, 2, 3, 4.01])));
    expect(checksum(a)).not.toBe(checksum(new Float32Array([2, 1, 3, 4])));
  });
});
