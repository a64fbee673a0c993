// A stand-in for the anywidget model the view talks to (get/set/on/off/send/save_changes),
// with a byte ledger: every message the view sends to the "kernel" and every trait update
// the "kernel" pushes to the view is recorded with its binary and JSON sizes.

function binaryBytes(value) {
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (ArrayBuffer.isView(value)) return value.byteLength; // DataView or typed array
  return null;
}

/** Bytes of a trait value as the widget protocol ships it: buffers raw, the rest as JSON. */
function sizeOf(value) {
  const binary = binaryBytes(value);
  return binary === null ? { binary: 0, json: JSON.stringify(value ?? null).length } : { binary, json: 0 };
}

export class MockModel {
  constructor(traits) {
    this.traits = { ...traits };
    this.listeners = new Map();
    this.dirty = new Set();
    this.ledger = []; // {direction, kind, names, binary, json, buffers}
    this.onMessage = null; // the mock kernel: (content, buffers) => void
    this.unknown = new Set(); // traits the view read that the Python class does not declare
  }

  get(name) {
    if (!(name in this.traits)) {
      if (!this.unknown.has(name)) console.warn(`plsd bench: the view read an undeclared trait ${name}`);
      this.unknown.add(name);
      return undefined;
    }
    return this.traits[name];
  }

  set(name, value) {
    this.traits[name] = value;
    this.dirty.add(name);
    this._emit(`change:${name}`, value); // Backbone fires change events on set
  }

  save_changes() {
    const names = [...this.dirty];
    this.dirty.clear();
    let binary = 0;
    let json = 0;
    for (const name of names) {
      const s = sizeOf(this.traits[name]);
      binary += s.binary;
      json += s.json + name.length;
    }
    this.ledger.push({ direction: "view->kernel", kind: "state", names, binary, json, t: performance.now() });
  }

  send(content, callbacks, buffers = []) {
    const sizes = (buffers || []).map((b) => binaryBytes(b));
    const entry = { direction: "view->kernel", kind: "msg", names: [content?.type ?? "?"],
      binary: sizes.reduce((a, b) => a + b, 0), json: JSON.stringify(content).length, buffers: sizes,
      t: performance.now() };
    this.ledger.push(entry);
    if (this.onMessage) this.onMessage(content, buffers || []);
  }

  on(event, callback) {
    for (const name of event.split(/\s+/)) {
      if (!this.listeners.has(name)) this.listeners.set(name, []);
      this.listeners.get(name).push(callback);
    }
  }

  off(event, callback) {
    for (const name of (event ?? "").split(/\s+/)) {
      const list = this.listeners.get(name);
      if (!list) continue;
      const i = list.indexOf(callback);
      if (i >= 0) list.splice(i, 1);
    }
  }

  /** A kernel -> view update, like one `hold_sync()` batch: set every trait, then fire the events. */
  kernelSet(updates) {
    let binary = 0;
    let json = 0;
    for (const [name, value] of Object.entries(updates)) {
      this.traits[name] = value;
      const s = sizeOf(value);
      binary += s.binary;
      json += s.json + name.length;
    }
    this.ledger.push({ direction: "kernel->view", kind: "state", names: Object.keys(updates), binary, json,
      t: performance.now() });
    for (const [name, value] of Object.entries(updates)) this._emit(`change:${name}`, value);
  }

  _emit(event, value) {
    for (const callback of [...(this.listeners.get(event) || [])]) callback(this, value);
  }
}
