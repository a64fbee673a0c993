import { describe, expect, it } from "vitest";
import { TargetsMirror, decodeTargetsDelta, encodeTargetsDelta, finiteChecksum } from "./transport.js";

const view = (buffer) => new DataView(buffer);
const full = (values) => view(new Float32Array(values).buffer);

describe("targets delta codec", () => {
  it("reads the packet the kernel writes (tests/test_widget.py checks the same bytes)", () => {
    // from 3 to 4, k = 2: indices 1, 5; targets (0.5, -2), (NaN, NaN); little-endian.
    const bytes = new Uint8Array([
      3, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0,
      0, 0, 0, 63, 0, 0, 0, 192, 0, 0, 192, 127, 0, 0, 192, 127,
    ]);
    const packet = decodeTargetsDelta(view(bytes.buffer));
    expect([packet.from, packet.to]).toEqual([3, 4]);
    expect(Array.from(packet.indices)).toEqual([1, 5]);
    expect(Array.from(packet.values).slice(0, 2)).toEqual([0.5, -2]);
    expect(Array.from(packet.values).slice(2).every(Number.isNaN)).toBe(true);
    expect(new Uint8Array(encodeTargetsDelta(3, 4, [1, 5], [0.5, -2, NaN, NaN]))).toEqual(bytes);
  });

  it("round-trips, also from a view that does not start at byte 0", () => {
    const packet = encodeTargetsDelta(7, 8, [0, 9, 4], [1, 2, 3, 4, 5, 6]);
    const padded = new Uint8Array(packet.byteLength + 3);
    padded.set(new Uint8Array(packet), 3);
    const back = decodeTargetsDelta(new DataView(padded.buffer, 3, packet.byteLength));
    expect(Array.from(back.indices)).toEqual([0, 9, 4]);
    expect(Array.from(back.values)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("treats an empty trait as no delta and rejects malformed packets", () => {
    expect(decodeTargetsDelta(undefined)).toBe(null);
    expect(decodeTargetsDelta(view(new ArrayBuffer(0)))).toBe(null);
    expect(() => decodeTargetsDelta(view(new ArrayBuffer(8)))).toThrow(/at least 12 bytes/);
    const short = encodeTargetsDelta(1, 2, [1, 2], [0, 0, 0, 0]).slice(0, 30);
    expect(() => decodeTargetsDelta(view(short))).toThrow(/needs 36 bytes, got 30/);
    expect(() => encodeTargetsDelta(1, 2, [1], [0])).toThrow(/need 2 target values/);
  });

  it("refuses a header that claims more points than its bytes hold, before reading any", () => {
    const header = new DataView(new ArrayBuffer(12));
    header.setUint32(8, 0xffffffff, true); // k = 2^32 - 1: 51 GB of points in a 12-byte packet
    expect(() => decodeTargetsDelta(header)).toThrow(/of 4294967295 points needs 51539607552 bytes, got 12/);
  });
});

describe("TargetsMirror", () => {
  const nan4 = () => full([NaN, NaN, NaN, NaN, NaN, NaN]); // 3 points

  it("adopts the full array, then applies the deltas that start at its version", () => {
    const mirror = new TargetsMirror();
    const start = nan4();
    expect(mirror.sync(start, 1, undefined)).toEqual({ changed: true, stale: false });
    expect(mirror.sync(start, 1, undefined)).toEqual({ changed: false, stale: false }); // nothing new
    const d2 = view(encodeTargetsDelta(1, 2, [2], [5, 6]));
    expect(mirror.sync(start, 1, d2)).toEqual({ changed: true, stale: false });
    expect(mirror.version).toBe(2);
    expect(Array.from(mirror.values).slice(4)).toEqual([5, 6]);
    expect(mirror.sync(start, 1, d2)).toEqual({ changed: false, stale: false }); // applied once only
    const d3 = view(encodeTargetsDelta(2, 3, [2, 0], [NaN, NaN, 1, 1])); // an undo and a new edit
    mirror.sync(start, 1, d3);
    expect(mirror.version).toBe(3);
    expect(Array.from(mirror.values.slice(0, 2))).toEqual([1, 1]);
    expect(Number.isNaN(mirror.values[4])).toBe(true);
  });

  it("copies the model's array instead of writing into it (other views read it)", () => {
    const mirror = new TargetsMirror();
    const start = nan4();
    mirror.sync(start, 1, view(encodeTargetsDelta(1, 2, [0], [3, 3])));
    expect(Number.isNaN(start.getFloat32(0, true))).toBe(true);
  });

  it("reports a gap (a view made after several deltas) and closes it with the next full array", () => {
    const late = new TargetsMirror();
    const stale = late.sync(nan4(), 1, view(encodeTargetsDelta(4, 5, [1], [2, 2])));
    expect(stale).toEqual({ changed: true, stale: true });
    const resent = full([NaN, NaN, 2, 2, 7, 7]);
    expect(late.sync(resent, 5, view(encodeTargetsDelta(4, 5, [1], [2, 2])))).toEqual({ changed: true, stale: false });
    expect(late.version).toBe(5);
    expect(finiteChecksum(late.values)).toBe(finiteChecksum(new Float32Array([NaN, NaN, 2, 2, 7, 7])));
  });

  it("a newer version of the same full bytes is adopted; an older delta is ignored", () => {
    const mirror = new TargetsMirror();
    const start = nan4();
    mirror.sync(start, 1, undefined);
    expect(mirror.sync(start, 3, view(encodeTargetsDelta(1, 2, [0], [9, 9])))).toEqual({ changed: true, stale: false });
    expect(mirror.version).toBe(3);
    expect(Number.isNaN(mirror.values[0])).toBe(true);
  });

  it("asks for the full array when a delta points past the end (never writes out of range)", () => {
    const mirror = new TargetsMirror();
    mirror.sync(nan4(), 1, undefined);
    expect(mirror.sync(mirror._full, 1, view(encodeTargetsDelta(1, 2, [3], [0, 0])))).toEqual({ changed: false, stale: true });
    expect(mirror.values.length).toBe(6);
  });

  it("the test split (no targets shown) ignores deltas", () => {
    const mirror = new TargetsMirror();
    const empty = view(new ArrayBuffer(0));
    expect(mirror.sync(empty, 4, view(encodeTargetsDelta(4, 5, [0], [1, 1])))).toEqual({ changed: true, stale: false });
    expect(mirror.values.length).toBe(0);
  });
});

describe("finiteChecksum", () => {
  it("skips NaN and sees moves and swaps", () => {
    const a = new Float32Array([NaN, NaN, 1, 2]);
    expect(finiteChecksum(a)).toBe(finiteChecksum(new Float32Array([NaN, NaN, 1, 2])));
    expect(finiteChecksum(a)).not.toBe(finiteChecksum(new Float32Array([NaN, NaN, 2, 1])));
    expect(finiteChecksum(new Float32Array([NaN, NaN]))).toBe("0.0000");
  });
});
