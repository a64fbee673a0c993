import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checksum, decodeFloat32, decodeLabels, decodeUint32, encodeIndices } from "./codecs.js";

describe("codecs", () => {
  it("decodes float32 positions without copying when aligned", () => {
    const values = new Float32Array([1.5, -2, 3.25, 4]);
    const decoded = decodeFloat32(new DataView(values.buffer));
    assert.deepEqual(Array.from(decoded), [1.5, -2, 3.25, 4]);
    assert.equal(decoded.buffer, values.buffer);
  });

  it("copies a misaligned view instead of failing", () => {
    const bytes = new Uint8Array(9);
    new DataView(bytes.buffer).setFloat32(1, 7.5, true);
    assert.deepEqual(Array.from(decodeFloat32(new DataView(bytes.buffer, 1, 4))), [7.5]);
  });

  it("rejects a byte count that is not whole items", () => {
    assert.throws(() => decodeFloat32(new DataView(new ArrayBuffer(6))), /whole number/);
  });

  it("treats a missing or empty buffer as empty", () => {
    assert.equal(decodeUint32(undefined).length, 0);
    assert.equal(decodeUint32(new DataView(new ArrayBuffer(0))).length, 0);
  });

  it("decodes labels by dtype and refuses unknown dtypes", () => {
    const labels = new Uint16Array([0, 300, 2]);
    assert.deepEqual(Array.from(decodeLabels(new DataView(labels.buffer), "uint16")), [0, 300, 2]);
    assert.deepEqual(Array.from(decodeLabels(new DataView(new Uint8Array([3, 1]).buffer), "uint8")), [3, 1]);
    assert.throws(() => decodeLabels(new DataView(new ArrayBuffer(4)), "int64"), /unsupported/);
  });

  it("round-trips selection indices through uint32", () => {
    const view = encodeIndices([5, 0, 4294967295]);
    assert.deepEqual(Array.from(decodeUint32(view)), [5, 0, 4294967295]);
  });

  it("checksum changes when values move or swap", () => {
    const a = new Float32Array([1, 2, 3, 4]);
    assert.equal(checksum(a), checksum(new Float32Array([1, 2, 3, 4])));
    assert.notEqual(checksum(a), checksum(new Float32Array([1, 2, 3, 4.01])));
    assert.notEqual(checksum(a), checksum(new Float32Array([2, 1, 3, 4])));
  });
});
