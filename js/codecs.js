// Binary transport between the kernel and the view: bytes traits arrive as DataView.

/** Copy-free typed-array view of a DataView (copies only when misaligned). */
function typedView(view, Type) {
  if (!view || view.byteLength === 0) return new Type(0);
  const { buffer, byteOffset, byteLength } = view;
  if (byteLength % Type.BYTES_PER_ELEMENT !== 0) {
    throw new Error(`${byteLength} bytes is not a whole number of ${Type.name} items`);
  }
  if (byteOffset % Type.BYTES_PER_ELEMENT === 0) {
    return new Type(buffer, byteOffset, byteLength / Type.BYTES_PER_ELEMENT);
  }
  return new Type(buffer.slice(byteOffset, byteOffset + byteLength));
}

export const decodeFloat32 = (view) => typedView(view, Float32Array);
export const decodeUint32 = (view) => typedView(view, Uint32Array);

/** Class labels, sent as uint8 or uint16 depending on the number of classes. */
export function decodeLabels(view, dtype) {
  if (dtype === "uint8") return typedView(view, Uint8Array);
  if (dtype === "uint16") return typedView(view, Uint16Array);
  throw new Error(`unsupported label dtype ${dtype}`);
}

/** Indices as the uint32 DataView the kernel expects for the selection trait. */
export function encodeIndices(indices) {
  return new DataView(Uint32Array.from(indices).buffer);
}

/**
 * An order-sensitive fingerprint of a float array, cheap enough to refresh on every
 * update: the browser tests read it to see that positions really changed.
 */
export function checksum(values) {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] * ((i % 7) + 1);
  return sum.toFixed(4);
}
