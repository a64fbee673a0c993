import { describe, expect, it, vi } from "vitest";
import { decodeGallery, drawHighlight, galleryCaption, gallerySize, gallerySummary } from "./gallery.js";

const view = (buffer, offset = 0, length = buffer.byteLength - offset) => new DataView(buffer, offset, length);

// 1 fixed image (#5) of 3 and 1 broken (#9) of 1, 2x2 grey thumbnails; little-endian.
// tests/test_widget_gallery.py checks the kernel writes these very bytes.
const PACKET = [
  1, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, // k_fixed, k_broken, n_fixed, n_broken, side, channels
  5, 0, 0, 0, 9, 0, 0, 0, // indices
  0, 0, 0, 63, 0, 0, 0, 192, 0, 0, 128, 63, 0, 0, 0, 0, // baseline positions (0.5, -2), (1, 0)
  0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 191, 0, 0, 0, 63, // PLSD positions (2, 3), (-1, 0.5)
  3, 0, 1, 0, 2, 0, 1, 0, 3, 0, 4, 0, // labels, baseline predictions, PLSD predictions
  0, 64, 128, 255, 1, 2, 3, 4, // thumbnails
];

describe("gallery packet", () => {
  it("reads the packet the kernel writes", () => {
    const gallery = decodeGallery(view(new Uint8Array(PACKET).buffer));
    expect([gallery.nFixed, gallery.nBroken, gallery.side, gallery.channels]).toEqual([3, 1, 2, 1]);
    expect(gallery.items).toEqual([
      { kind: "fixed", rank: 1, slot: 0, index: 5, label: 3, baselinePrediction: 2, plsdPrediction: 3,
        baseline: [0.5, -2], plsd: [2, 3] },
      { kind: "broken", rank: 1, slot: 1, index: 9, label: 1, baselinePrediction: 1, plsdPrediction: 4,
        baseline: [1, 0], plsd: [-1, 0.5] },
    ]);
    expect(Array.from(gallery.thumbnails)).toEqual([0, 64, 128, 255, 1, 2, 3, 4]);
    expect(gallerySize(2, 2, 1)).toBe(PACKET.length);
  });

  it("reads a packet at an odd offset inside a larger buffer", () => {
    const bytes = new Uint8Array(PACKET.length + 3);
    bytes.set(PACKET, 3);
    expect(decodeGallery(view(bytes.buffer, 3)).items[1].plsd).toEqual([-1, 0.5]);
  });

  it("is null when empty (no baseline) and refuses a malformed packet", () => {
    expect(decodeGallery(null)).toBeNull();
    expect(decodeGallery(new DataView(new ArrayBuffer(0)))).toBeNull();
    expect(() => decodeGallery(view(new Uint8Array(PACKET.slice(0, 10)).buffer))).toThrow(/at least 24 bytes/);
    expect(() => decodeGallery(view(new Uint8Array(PACKET.slice(0, -1)).buffer))).toThrow(/needs 84 bytes, got 83/);
  });
});

describe("gallery text", () => {
  const names = ["zero", "one", "two", "three", "four"];
  it("captions an item with its label and both predictions", () => {
    const [fixed] = decodeGallery(view(new Uint8Array(PACKET).buffer)).items;
    expect(galleryCaption(fixed, names)).toBe("#5 · three · CE two → PLSD three");
  });
  it("counts every image and says when not all are listed", () => {
    const gallery = decodeGallery(view(new Uint8Array(PACKET).buffer));
    expect(gallerySummary(gallery, "test")).toBe("Fixed by PLSD: 3 (1 listed) · broken: 1 (test split)");
    expect(gallerySummary(gallery, "train")).toMatch(/no test split given/);
    expect(gallerySummary(null, "")).toMatch(/run the CE baseline/);
  });
});

describe("highlight", () => {
  const ctx = () => ({ beginPath: vi.fn(), moveTo: vi.fn(), lineTo: vi.fn(), stroke: vi.fn(), arc: vi.fn(),
    fill: vi.fn(), strokeRect: vi.fn(), setLineDash: vi.fn(), fillText: vi.fn() });
  const renderer = { dataToScreen: (x, y) => [10 * x, -10 * y] };
  const item = { split: "test", index: 1, kind: "fixed", baseline: [0.5, -2], plsd: [2, 3] };

  it("rings the item where the plot shows it and marks both embeddings' places", () => {
    const g = ctx();
    drawHighlight(g, renderer, { highlight: item, split: "test", positions: new Float32Array([0, 0, 4, 5]) });
    expect(g.arc).toHaveBeenCalledWith(40, -50, 9, 0, 2 * Math.PI); // the ring, in the embedding shown
    expect(g.strokeRect).toHaveBeenCalledWith(1, 16, 8, 8); // baseline: a square around (5, 20)
    expect(g.arc).toHaveBeenCalledWith(20, -30, 3.5, 0, 2 * Math.PI); // PLSD: a dot
    expect(g.fillText).toHaveBeenCalledWith("PLSD", 26, -36);
  });

  it("draws nothing on another split or for an index the positions do not have", () => {
    for (const state of [{ highlight: item, split: "train", positions: new Float32Array(4) },
      { highlight: item, split: "test", positions: new Float32Array(2) },
      { highlight: null, split: "test", positions: new Float32Array(4) }]) {
      const g = ctx();
      drawHighlight(g, renderer, state);
      expect(g.arc).not.toHaveBeenCalled();
    }
  });
});
