// The messages the view sends the kernel. Their types are one list,
// plsd_widget/widget/messages.json, which esbuild bundles here and the kernel's handler table
// (plsd_widget/widget/messages.py, where each message's fields and buffers are listed) reads
// too; js/messages.test.js and tests/test_widget.py check that both sides use exactly it.
import TYPES from "../plsd_widget/widget/messages.json";

/** Each message type as a constant: `MESSAGE.move === "move"`. */
export const MESSAGE = Object.freeze(Object.fromEntries(TYPES.map((type) => [type, type])));

/**
 * Send the kernel a message of `type` with `fields` and binary `buffers` (ArrayBuffers).
 * Throws on a type that is not in the list, so a misspelt one fails where it is sent.
 */
export function send(model, type, fields = {}, buffers = undefined) {
  if (!TYPES.includes(type)) {
    throw new Error(`unknown message type ${JSON.stringify(type)}; the kernel handles ${TYPES.join(", ")} `
      + "(plsd_widget/widget/messages.json)");
  }
  model.send({ ...fields, type }, undefined, buffers);
}
