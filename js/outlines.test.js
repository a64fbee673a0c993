import { describe, expect, it } from "vitest";
import { decodeOutlines, outlinesSize } from "./outlines.js";

const view = (buffer, offset = 0, length = buffer.byteLength - offset) => new DataView(buffer, offset, length);

// 1 line of 2 vertices (0.5, -2), (1, 0) of class 3; 2 members 7, 9 of subtypes 0, 1; little-endian.
// tests/test_widget.py checks the kernel writes these very bytes.
const PACKET = [
  1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, // n_lines, n_vertices, n_members
  0, 0, 0, 0, 2, 0, 0, 0, // offsets
  7, 0, 0, 0, 9, 0, 0, 0, // members
  0, 0, 0, 63, 0, 0, 0, 192, 0, 0, 128, 63, 0, 0, 0, 0, // vertices
  3, 0, // classes
  0, 0, 1, 0, // member labels
];
// Contours: 2 lines (1 and 2 vertices) of classes 0 and 4, no members.
const CONTOURS = [
  2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0,
  0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64, 0, 0, 192, 64, // 1 .. 6
  0, 0, 4, 0,
];

describe("outlines packet", () => {
  it("reads the packet the kernel writes", () => {
    const packet = decodeOutlines(view(new Uint8Array(PACKET).buffer));
    expect(Array.from(packet.vertices)).toEqual([0.5, -2, 1, 0]);
    expect(Array.from(packet.offsets)).toEqual([0, 2]);
    expect(Array.from(packet.classes)).toEqual([3]);
    expect(Array.from(packet.members)).toEqual([7, 9]);
    expect(Array.from(packet.memberLabels)).toEqual([0, 1]);
    expect(PACKET.length).toBe(outlinesSize(1, 2, 2));
  });

  it("reads contours (no members), also from a view that does not start at byte 0", () => {
    const padded = new Uint8Array(CONTOURS.length + 3);
    padded.set(CONTOURS, 3);
    const back = decodeOutlines(view(padded.buffer, 3, CONTOURS.length));
    expect(Array.from(back.vertices)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(back.offsets)).toEqual([0, 1, 3]);
    expect(Array.from(back.classes)).toEqual([0, 4]);
    expect(back.members.length).toBe(0);
  });

  it("treats an empty trait as nothing shown and rejects malformed packets", () => {
    expect(decodeOutlines(undefined)).toBe(null);
    expect(decodeOutlines(view(new ArrayBuffer(0)))).toBe(null);
    expect(() => decodeOutlines(view(new ArrayBuffer(8)))).toThrow(/at least 12 bytes/);
    expect(() => decodeOutlines(view(new Uint8Array(PACKET.slice(0, 46)).buffer)))
      .toThrow(/of 1 lines, 2 vertices and 2 members needs 50 bytes, got 46/);
    const lying = new Uint8Array(PACKET);
    lying[16] = 5; // the last offset points past the vertices
    expect(() => decodeOutlines(view(lying.buffer))).toThrow(/last offset must be the vertex count 2, got 5/);
  });

  it("refuses a header that claims more than its bytes hold, before reading any", () => {
    const header = new DataView(new ArrayBuffer(12));
    header.setUint32(4, 0xffffffff, true);
    expect(() => decodeOutlines(header)).toThrow(/needs 34359738376 bytes, got 12/);
  });
});
