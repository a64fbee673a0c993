// Pure selection maths of the view: index sets as sorted arrays of point indices.

/** Every index in [0, n) not in `indices` ("Invert"). */
export function complement(indices, n) {
  const chosen = new Uint8Array(n);
  for (const i of indices) chosen[i] = 1;
  const out = [];
  for (let i = 0; i < n; i++) if (!chosen[i]) out.push(i);
  return out;
}

/** Indices of the points of class `c`. */
export function classMembers(labels, c) {
  const members = [];
  labels.forEach((label, i) => { if (label === c) members.push(i); });
  return members;
}

/**
 * The selection after a legend click on class `c`: Shift adds the class, Alt removes it,
 * a plain click selects only it.
 */
export function legendSelection(current, labels, c, { shiftKey = false, altKey = false } = {}) {
  if (altKey) return current.filter((i) => labels[i] !== c);
  const members = classMembers(labels, c);
  if (shiftKey) return [...new Set([...current, ...members])].sort((a, b) => a - b);
  return members;
}

/** Indices of the points with a (finite) edit target; `targets` interleaved (n, 2). */
export function editedIndices(targets) {
  const edited = [];
  for (let i = 0; i < targets.length / 2; i++) if (Number.isFinite(targets[2 * i])) edited.push(i);
  return edited;
}
