// Edit targets from the kernel: a full (n, 2) float32 array now and then, versioned deltas
// after each edit / undo / redo (plsd_widget/widget/targets_sync.py is the sending side).
//
// Traits: `targets` (the full array as of `targets_version`) and `targets_delta`, one
// packet, little-endian:
//   uint32 from_version, uint32 to_version, uint32 k, uint32 indices[k], float32 targets[2k]
// (NaN targets: the point's edit was undone). A view holds its own copy of the targets and
// the version it is at; a delta applies when it starts at that version. A view that finds a
// gap (a second view, a re-display, a reload: the model's full array is older than the
// last delta) asks the kernel for the full array once ("resync_targets").

export const DELTA_HEADER_BYTES = 12;

function le32(buffer, offset, count, Type) {
  return new Type(buffer.slice(offset, offset + count * 4));
}

/** Decode a `targets_delta` packet (DataView); null when empty. Throws on a malformed packet. */
export function decodeTargetsDelta(view) {
  if (!view || view.byteLength === 0) return null;
  if (view.byteLength < DELTA_HEADER_BYTES) throw new Error(`a targets delta needs at least 12 bytes, got ${view.byteLength}`);
  const from = view.getUint32(0, true);
  const to = view.getUint32(4, true);
  const k = view.getUint32(8, true);
  if (view.byteLength !== DELTA_HEADER_BYTES + 12 * k) {
    throw new Error(`a targets delta of ${k} points needs ${DELTA_HEADER_BYTES + 12 * k} bytes, got ${view.byteLength}`);
  }
  const start = view.byteOffset + DELTA_HEADER_BYTES;
  return {
    from, to,
    indices: le32(view.buffer, start, k, Uint32Array),
    values: le32(view.buffer, start + 4 * k, 2 * k, Float32Array),
  };
}

/** The packet `decodeTargetsDelta` reads (tests, the benchmark's mock kernel). */
export function encodeTargetsDelta(from, to, indices, values) {
  const k = indices.length;
  if (values.length !== 2 * k) throw new Error(`${k} indices need ${2 * k} target values, got ${values.length}`);
  const out = new ArrayBuffer(DELTA_HEADER_BYTES + 12 * k);
  const header = new DataView(out, 0, DELTA_HEADER_BYTES);
  header.setUint32(0, from, true);
  header.setUint32(4, to, true);
  header.setUint32(8, k, true);
  new Uint32Array(out, DELTA_HEADER_BYTES, k).set(indices);
  new Float32Array(out, DELTA_HEADER_BYTES + 4 * k, 2 * k).set(values);
  return out;
}

/** A view's copy of the edit targets, kept current from the `targets*` traits. */
export class TargetsMirror {
  constructor() {
    this.values = new Float32Array(0);
    this.version = -1;
    this._full = undefined; // the DataView last adopted, to see a new full array
  }

  /**
   * Bring the copy up to date with the model's traits.
   * @returns {{changed: boolean, stale: boolean}} stale: a gap no delta in the model fills
   *   (ask the kernel for the full array).
   */
  sync(full, fullVersion, delta) {
    let changed = false;
    // A new full array (always as new as anything sent before it) or a newer version of the same bytes.
    if (full !== this._full || fullVersion > this.version) {
      this._full = full;
      const values = new Float32Array(full && full.byteLength ? full.byteLength / 4 : 0);
      if (values.length) values.set(new Float32Array(full.buffer.slice(full.byteOffset, full.byteOffset + full.byteLength)));
      this.values = values;
      this.version = fullVersion;
      changed = true;
    }
    const packet = decodeTargetsDelta(delta);
    // No delta, one already in the copy, or the test split (no targets shown): nothing to do.
    if (!packet || packet.to <= this.version || !this.values.length) return { changed, stale: false };
    if (packet.from !== this.version) return { changed, stale: true };
    const n = this.values.length / 2;
    for (const i of packet.indices) if (i >= n) return { changed, stale: true };
    const { indices, values } = packet;
    for (let j = 0; j < indices.length; j++) {
      this.values[2 * indices[j]] = values[2 * j];
      this.values[2 * indices[j] + 1] = values[2 * j + 1];
    }
    this.version = packet.to;
    return { changed: true, stale: false };
  }
}

/**
 * An order-sensitive fingerprint of the finite values (NaN targets skipped), for tests that
 * compare two views' targets; like codecs.checksum, which NaN would spoil.
 */
export function finiteChecksum(values) {
  let sum = 0;
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) sum += values[i] * ((i % 7) + 1);
  return sum.toFixed(4);
}
