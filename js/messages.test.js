import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import TYPES from "../plsd_widget/widget/messages.json";
import { MESSAGE, send } from "./messages.js";

// The view's own modules (not the tests), as text: what they send is read from their source.
const dir = new URL(".", import.meta.url);
const sources = readdirSync(dir)
  .filter((name) => name.endsWith(".js") && !name.endsWith(".test.js"))
  .map((name) => [name, readFileSync(new URL(name, dir), "utf8")]);

describe("message types", () => {
  it("are the list in messages.json, which the kernel's handler table covers (tests/test_widget.py)", () => {
    expect(Object.keys(MESSAGE)).toEqual(TYPES);
    expect(new Set(TYPES).size).toBe(TYPES.length);
    for (const type of TYPES) expect(MESSAGE[type]).toBe(type);
    expect(Object.isFrozen(MESSAGE)).toBe(true);
  });

  it("are sent only through send(), with a type from the list", () => {
    const model = { send: vi.fn() };
    const buffer = new ArrayBuffer(4);
    send(model, MESSAGE.contract, { kappa: 0.5, type: "explode" }, [buffer]);
    expect(model.send).toHaveBeenCalledWith({ kappa: 0.5, type: "contract" }, undefined, [buffer]);
    expect(() => send(model, "explode")).toThrow(/unknown message type "explode"; the kernel handles move, /);
    expect(() => send(model, undefined)).toThrow(/unknown message type/);
    expect(model.send).toHaveBeenCalledTimes(1);
  });

  it("no module sends a message by itself or names a type with a bare string", () => {
    for (const [name, text] of sources) {
      if (name !== "messages.js") expect(text, name).not.toMatch(/\.send\s*\(/);
      expect(text, name).not.toMatch(/\bsend\(\s*model\s*,\s*["'`]/);
      expect(text, name).not.toMatch(/\btype\s*:\s*["'`](?!number|checkbox|range)/); // inputs' type attribute aside
    }
  });

  it("every type in the list is sent by some module, and every MESSAGE.x used is in the list", () => {
    const used = new Set(sources.flatMap(([, text]) => [...text.matchAll(/\bMESSAGE\.(\w+)/g)].map((m) => m[1])));
    expect([...used].sort()).toEqual([...TYPES].sort());
  });
});
