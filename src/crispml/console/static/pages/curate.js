// Curate: a prepared dataset into a curated one, the transform fitted on the frames chosen.

import { call } from "../api.js";
import { datasetField, datasets } from "../catalog.js";
import { field, h, input, note, outcome, run, section, select } from "../ui.js";
import { made } from "./prepare.js";

export const ALGORITHMS = [
  ["rf", "random forest (rf)"],
  ["hgb", "histogram gradient boosting (hgb)"],
  ["lgbm", "LightGBM (lgbm)"],
  ["logreg", "logistic regression (logreg)"],
];

export async function render(page, ctx) {
  const prepared = await datasets("prepared");
  if (!ctx.can("data.write")) {
    page.append(ctx.denied("curate data"), section("Prepared datasets", note(`${prepared.length} prepared version(s).`)));
    return;
  }
  const [datasetBox, dataset] = datasetField("Prepared dataset", prepared, ctx.params.get("dataset"));
  const algorithm = select(ALGORITHMS);
  const frames = input({ name: "frames", placeholder: "first half", value: "1-6" });
  const name = input({ name: "name", placeholder: "<name>-cur" });
  const result = outcome();
  const submit = h("button", { type: "submit" }, "Curate");
  const form = h(
    "form",
    {},
    h(
      "div",
      { class: "row" },
      datasetBox,
      field("Algorithm it is curated for", algorithm),
      field("Fit on frames", frames, "Like 1-6 or 1,3,5."),
      field("Name", name),
    ),
    submit,
    result,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(submit, result, async () => {
      const json = { algorithm: algorithm.value, frames: frames.value.trim() || null, name: name.value.trim() || null };
      const curated = await call("POST", `/api/v1/datasets/${encodeURIComponent(dataset.value)}/curate`, { json });
      result.show(made(curated, [`#/train?dataset=${encodeURIComponent(curated.id)}`, `Train on ${curated.name}/${curated.version}`]));
    });
  });
  page.append(section("Curate a prepared dataset", form));
}
