import { describe, expect, it } from "vitest";
import { editedOnlyTitle, learningRateTitle, presetSummary } from "./finetune.js";

const PAPER = { epochs: 7, lam: 0.1, lr: 0.1, anchor: 0, edited_only: true, edit_weight: 1, batch_size: 100,
  optimizer: "sgd", reduction: "batch" };

describe("presetSummary", () => {
  it("names every tuned field with its value", () => {
    expect(presetSummary(PAPER)).toBe(
      "7 epochs · λ 0.1 · lr 0.1 (sgd) · batch 100 · reduction batch · edited classes only, anchor 0 · edit × 1");
    expect(presetSummary({ ...PAPER, edited_only: false })).toContain("every point held");
  });
});

describe("editedOnlyTitle", () => {
  it("says the anchor the config holds, never a fixed one", () => {
    expect(editedOnlyTitle(3)).toContain("anchor 3: 3× an edited point's weight");
    expect(editedOnlyTitle(0.5)).toContain("anchor 0.5");
    expect(editedOnlyTitle(0)).toContain("free to move (anchor 0, as in the paper)");
    expect(editedOnlyTitle(0)).not.toContain("anchor 3");
  });
});

describe("learningRateTitle", () => {
  it("names the optimiser", () => {
    expect(learningRateTitle("sgd")).toContain("Nesterov");
    expect(learningRateTitle("adam")).toBe("Learning rate of adam");
  });
});
