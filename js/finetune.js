// The fine-tuning inputs: a recipe selector (a preset of FinetuneConfig, or custom) and one
// input per field the user tunes. One trait, `finetune_config`, holds FinetuneConfig.to_dict();
// an input writes its field and the kernel checks the whole config (a value it refuses comes
// back as an error with the kernel's config). Picking a recipe writes the `recipe` trait and
// the kernel fills the config with that preset's values (`finetune_presets` carries them, for
// the descriptions); when the config equals no preset the kernel sets `recipe` to "custom".
import { h } from "./dom.js";

export const CUSTOM = "custom";

export const REDUCTION_TITLE =
  "How the embedding term averages. edited: the mean over the batch's edited points, so each edited " +
  "point weighs the same whatever share of the batch is edited (this package's default). batch: their " +
  "sum divided by the batch size, Eq. 3 per instance averaged like the cross-entropy (the paper's). " +
  "'batch' is 'edited' times the share f of edited points in a batch, so the same balance of the two " +
  "terms takes λ/(1−λ) under 'edited' = f · λ/(1−λ) under 'batch' (120 of 2,920 points edited: " +
  "λ 0.1 with 'batch' is about λ 0.0045 with 'edited')";

/** One line describing a config's tuned fields, e.g. "7 epochs · λ 0.1 · lr 0.1 · batch 100 · ...". */
export function presetSummary(config) {
  const held = config.edited_only ? `edited classes only, anchor ${config.anchor}` : "every point held";
  return `${config.epochs} epochs · λ ${config.lam} · lr ${config.lr} (${config.optimizer}) · ` +
    `batch ${config.batch_size} · reduction ${config.reduction} · ${held} · edit × ${config.edit_weight}`;
}

/** The "edited classes only" checkbox's tooltip for the config's anchor. */
export function editedOnlyTitle(anchor) {
  const others = Number(anchor) > 0
    ? `a second term (anchor ${anchor}: ${anchor}× an edited point's weight) holds the other points where ` +
      "they are, so unedited classes do not drift"
    : "the other points are free to move (anchor 0, as in the paper)";
  return `Checked: the edited points are pulled to their targets and ${others}. ` +
    "Unchecked: every point counts alike in one term, the unedited ones held in place (no anchor)";
}

/** The learning rate's tooltip for the config's optimiser. */
export function learningRateTitle(optimizer) {
  return optimizer === "sgd" ? "SGD learning rate (Nesterov momentum 0.9)" : `Learning rate of ${optimizer}`;
}

/**
 * @param {object} model the anywidget model
 * @param {(name: string, value: any) => void} writeTrait set a trait and send it to the kernel
 * @returns {{elements: HTMLElement[], sync: () => void, handlers: Array}}
 */
export function createFinetuneInputs(model, writeTrait) {
  const recipe = h("select", { "data-testid": "recipe",
    title: "A recipe fills every field with a preset's values; changing a field afterwards makes it custom" });
  const epochs = h("input", { type: "number", min: "1", step: "1", "data-testid": "epochs" });
  const lam = h("input", { type: "number", min: "0", max: "1", step: "0.05", "data-testid": "lam" });
  const lr = h("input", { type: "number", min: "0", step: "any", "data-testid": "lr" });
  const batchSize = h("input", { type: "number", min: "1", step: "1", "data-testid": "batch-size" });
  const editedOnly = h("input", { type: "checkbox", "data-testid": "edited-only" });
  const anchor = h("input", { type: "number", min: "0", step: "any", "data-testid": "anchor" });
  const reduction = h("select", { "data-testid": "reduction" },
    ["edited", "batch"].map((value) => h("option", { value, text: value })));
  const editWeight = h("input", { type: "number", min: "0", step: "any", "data-testid": "edit-weight" });
  const lrLabel = h("label", {}, ["lr ", lr]);
  const editedOnlyLabel = h("label", {}, [editedOnly, " edited classes only"]);
  const elements = [
    h("label", {}, ["recipe ", recipe]),
    h("label", {}, ["Epochs ", epochs]),
    h("label", { title: "Weight of the embedding term in (1-λ)·CE + λ·‖E(h) − y'‖²" }, ["λ ", lam]),
    lrLabel,
    h("label", { title: "The global batch: points per optimiser step (the paper: 100)" }, ["batch ", batchSize]),
    editedOnlyLabel,
    h("label", { title: "With edited classes only: weight of the term holding the unedited points where they " +
      "are, relative to an edited point's. 0: free, as in the paper; 3 (the default) keeps unedited " +
      "classes from drifting (benchmarks/RESULTS.md)" }, ["anchor ", anchor]),
    h("label", { title: REDUCTION_TITLE }, ["reduction ", reduction]),
    h("label", { title: "Weight of the edited points' cross-entropy against the others' (1: all alike). The points you moved are the ones the view showed misplaced; 5 helped against a shortcut (see the README)" }, ["edit × ", editWeight]),
  ];

  const numberFields = [[epochs, "epochs"], [lam, "lam"], [lr, "lr"], [batchSize, "batch_size"],
    [anchor, "anchor"], [editWeight, "edit_weight"]];
  function showRecipes() {
    const presets = model.get("finetune_presets");
    recipe.replaceChildren(
      ...Object.entries(presets).map(([name, config]) => h("option", { value: name, text: name,
        title: presetSummary(config) })),
      h("option", { value: CUSTOM, text: CUSTOM, disabled: "", title: "Values of your own (change any field)" }));
    recipe.value = model.get("recipe");
  }
  function sync() {
    const config = model.get("finetune_config");
    for (const [input, field] of numberFields) input.value = config[field];
    editedOnly.checked = config.edited_only;
    anchor.disabled = !config.edited_only;
    reduction.value = config.reduction;
    editedOnlyLabel.title = editedOnlyTitle(config.anchor);
    lrLabel.title = learningRateTitle(config.optimizer);
  }
  const writeField = (field, value) =>
    writeTrait("finetune_config", { ...model.get("finetune_config"), [field]: value });
  for (const [input, field] of numberFields) {
    const commit = () => writeField(field, input.value.trim() === "" ? null : Number(input.value));
    input.addEventListener("change", commit);
    onEnter(input, commit);
  }
  editedOnly.addEventListener("change", () => writeField("edited_only", editedOnly.checked));
  reduction.addEventListener("change", () => writeField("reduction", reduction.value));
  recipe.addEventListener("change", () => writeTrait("recipe", recipe.value));

  return {
    elements,
    sync() { showRecipes(); sync(); },
    handlers: [
      ["change:finetune_config", sync],
      ["change:recipe", () => { recipe.value = model.get("recipe"); }],
      ["change:finetune_presets", showRecipes],
    ],
  };
}

/** Commit an input on Enter: JupyterLab's shortcuts take Enter in an output area (no "change"
 * follows), so commit it ourselves and keep every key from reaching the notebook. */
export function onEnter(input, commit) {
  input.addEventListener("keydown", (event) => {
    event.stopPropagation();
    if (event.key === "Enter") commit();
  });
}
