import { describe, expect, it } from "vitest";
import { decodeOutlines, encodeOutlines, outlinesSize } from "./outlines.js";

const view = (buffer, offset = 0, length = buffer.byteLength - offset) => new DataView(buffer, offset, length);

describe("outlines packet", () => {
  it("reads the packet the kernel writes (tests/test_widget.py checks the same bytes)", () => {
    // 1 line of 2 vertices (0.5, -2), (1, 0) of class 3; 2 members 7, 9 of subtypes 0, 1; little-endian.
    const bytes = new Uint8Array([
      1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, // n_lines, n_vertices, n_members
      0, 0, 0, 0, 2, 0, 0, 0, // offsets
      7, 0, 0, 0, 9, 0, 0, 0, // members
      0, 0, 0, 63, 0, 0, 0, 192, 0, 0, 128, 63, 0, 0, 0, 0, // vertices
      3, 0, // classes
      0, 0, 1, 0, // member labels
    ]);
    const packet = decodeOutlines(view(bytes.buffer));
    expect(Array.from(packet.vertices)).toEqual([0.5, -2, 1, 0]);
    expect(Array.from(packet.offsets)).toEqual([0, 2]);
    expect(Array.from(packet.classes)).toEqual([3]);
    expect(Array.from(packet.members)).toEqual([7, 9]);
    expect(Array.from(packet.memberLabels)).toEqual([0, 1]);
    const again = encodeOutlines({ vertices: [0.5, -2, 1, 0], offsets: [0, 2], classes: [3], members: [7, 9],
      memberLabels: [0, 1] });
    expect(new Uint8Array(again)).toEqual(bytes);
  });

  it("round-trips contours (no members), also from a view that does not start at byte 0", () => {
    const packet = encodeOutlines({ vertices: [1, 2, 3, 4, 5, 6], offsets: [0, 1, 3], classes: [0, 4] });
    expect(packet.byteLength).toBe(outlinesSize(2, 3, 0));
    const padded = new Uint8Array(packet.byteLength + 3);
    padded.set(new Uint8Array(packet), 3);
    const back = decodeOutlines(view(padded.buffer, 3, packet.byteLength));
    expect(Array.from(back.vertices)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(back.classes)).toEqual([0, 4]);
    expect(back.members.length).toBe(0);
  });

  it("treats an empty trait as nothing shown and rejects malformed packets", () => {
    expect(decodeOutlines(undefined)).toBe(null);
    expect(decodeOutlines(view(new ArrayBuffer(0)))).toBe(null);
    expect(() => decodeOutlines(view(new ArrayBuffer(8)))).toThrow(/at least 12 bytes/);
    const packet = encodeOutlines({ vertices: [1, 2], offsets: [0, 1], classes: [0] });
    expect(() => decodeOutlines(view(packet.slice(0, 20)))).toThrow(/of 1 lines, 1 vertices and 0 members needs 30/);
    const lying = new Uint8Array(packet.slice(0));
    lying[16] = 5; // the last offset points past the vertices
    expect(() => decodeOutlines(view(lying.buffer))).toThrow(/last offset must be the vertex count 1, got 5/);
    expect(() => encodeOutlines({ vertices: [], offsets: [0], classes: [1] })).toThrow(/1 lines need 2 offsets/);
  });

  it("refuses a header that claims more than its bytes hold, before reading any", () => {
    const header = new DataView(new ArrayBuffer(12));
    header.setUint32(4, 0xffffffff, true);
    expect(() => decodeOutlines(header)).toThrow(/needs 34359738376 bytes, got 12/);
  });
});
