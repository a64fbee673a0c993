// Outlines from the kernel: the density contours (`contours` trait) and a class's subtypes
// (`subtypes` trait), one packet each; plsd_widget/widget/outlines.py is the sending side
// and documents the layout. Little-endian, the 4-byte arrays first:
//   uint32 n_lines, n_vertices, n_members; uint32 offsets[n_lines + 1]; uint32 members[n_members];
//   float32 vertices[2 * n_vertices]; uint16 classes[n_lines]; uint16 member_labels[n_members]
// Line i is vertices[offsets[i]:offsets[i + 1]] (in points); contours carry no members.

export const OUTLINES_HEADER_BYTES = 12;

/** Bytes of a packet with these counts. */
export function outlinesSize(nLines, nVertices, nMembers) {
  return OUTLINES_HEADER_BYTES + 4 * (nLines + 1) + 4 * nMembers + 8 * nVertices + 2 * nLines + 2 * nMembers;
}

/**
 * Decode an outlines packet (DataView): `{vertices, offsets, classes, members, memberLabels}`,
 * or null when empty (nothing shown). Throws on a malformed packet.
 */
export function decodeOutlines(view) {
  if (!view || view.byteLength === 0) return null;
  if (view.byteLength < OUTLINES_HEADER_BYTES) {
    throw new Error(`an outlines packet needs at least ${OUTLINES_HEADER_BYTES} bytes, got ${view.byteLength}`);
  }
  const [nLines, nVertices, nMembers] = [0, 4, 8].map((at) => view.getUint32(at, true));
  const expected = outlinesSize(nLines, nVertices, nMembers);
  if (view.byteLength !== expected) {
    throw new Error(`an outlines packet of ${nLines} lines, ${nVertices} vertices and ${nMembers} members `
      + `needs ${expected} bytes, got ${view.byteLength}`);
  }
  let start = view.byteOffset + OUTLINES_HEADER_BYTES;
  const next = (Type, count) => { // a copy: aligned whatever the view's offset
    const array = new Type(view.buffer.slice(start, start + count * Type.BYTES_PER_ELEMENT));
    start += count * Type.BYTES_PER_ELEMENT;
    return array;
  };
  const offsets = next(Uint32Array, nLines + 1);
  const members = next(Uint32Array, nMembers);
  const vertices = next(Float32Array, 2 * nVertices);
  const classes = next(Uint16Array, nLines);
  const memberLabels = next(Uint16Array, nMembers);
  if (offsets[nLines] !== nVertices) {
    throw new Error(`the last offset must be the vertex count ${nVertices}, got ${offsets[nLines]}`);
  }
  return { vertices, offsets, classes, members, memberLabels };
}
