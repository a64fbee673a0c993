import { describe, expect, it } from "vitest";
import { contourLevelLabel, contourLevelTitle } from "./controls.js";

describe("contour levels", () => {
  it("names a mass fraction or the paper's 1/N", () => {
    expect(contourLevelLabel("0.9")).toBe("90 % of each class");
    expect(contourLevelLabel("0.333")).toBe("33.3 % of each class");
    expect(contourLevelLabel("1/N")).toBe("1/N (paper)");
  });
  it("gives the contours checkbox a tooltip that follows the level", () => {
    expect(contourLevelTitle("0.5")).toBe("Per-class density contours (50 % of each class's mass)");
    expect(contourLevelTitle("1/N")).toContain("1/N, N the points of the split shown");
  });
});
