// Train: algorithm, class weight, hyper-parameters and a training-frame range; live job progress.

import { call, get } from "../api.js";
import { datasetField, datasets } from "../catalog.js";
import { withProgress } from "../jobs.js";
import { field, fmt, h, input, note, outcome, run, section, select, setOptions } from "../ui.js";
import { ALGORITHMS } from "./curate.js";

/** `n_estimators=50, max_depth=8` -> {n_estimators: 50, max_depth: 8} (numbers, true/false, none). */
export function parseParams(text) {
  const params = {};
  for (const part of text.split(/[,\n]/).map((p) => p.trim()).filter(Boolean)) {
    const [key, ...rest] = part.split("=");
    if (!rest.length || !key.trim()) throw new Error(`hyper-parameter "${part}" is not name=value`);
    const raw = rest.join("=").trim();
    const lowered = raw.toLowerCase();
    let value = raw;
    if (lowered === "true" || lowered === "false") value = lowered === "true";
    else if (lowered === "none" || lowered === "null") value = null;
    else if (raw !== "" && !Number.isNaN(Number(raw))) value = Number(raw);
    params[key.trim()] = value;
  }
  return params;
}

/** The algorithms and their hyper-parameters as the server documents them (its OpenAPI). */
async function documented() {
  try {
    const schema = await get("/openapi.json");
    const text = schema.paths["/api/v1/models/{name}/versions"].post.description || "";
    const found = [...text.matchAll(/\*\*(\w+)\*\* \(([^)]*)\)/g)].map((m) => [m[1], `${m[2]} (${m[1]})`]);
    return { algorithms: found.length ? found : ALGORITHMS, doc: text.replace(/\*\*|`/g, "") };
  } catch {
    return { algorithms: ALGORITHMS, doc: "" };
  }
}

function frameRange() {
  const from = h("input", { type: "range", min: "1", max: "12", value: "1", name: "from" });
  const to = h("input", { type: "range", min: "1", max: "12", value: "6", name: "to" });
  const said = h("output", { class: "range-text", "aria-live": "polite" });
  const element = h("fieldset", { class: "range" }, h("legend", {}, "Training frames"),
    field("First frame", from), field("Last frame", to), said);
  const update = (moved) => {
    if (Number(from.value) > Number(to.value)) {
      if (moved === from) to.value = from.value;
      else from.value = to.value;
    }
    said.textContent = `Frames ${from.value}-${to.value} of ${to.max}`;
  };
  from.addEventListener("input", () => update(from));
  to.addEventListener("input", () => update(to));
  element.setMax = (frames) => {
    for (const el of [from, to]) el.max = String(frames);
    if (Number(to.value) > frames) to.value = String(frames);
    update(to);
  };
  element.set = (first, last) => {
    from.value = String(first);
    to.value = String(last);
    update(to);
  };
  element.text = () => `${from.value}-${to.value}`;
  update(to);
  return element;
}

export async function render(page, ctx) {
  const all = await datasets();
  const trainable = [...all.filter((d) => d.stage === "curated"), ...all.filter((d) => d.stage !== "curated")];
  if (!ctx.can("model.train")) {
    page.append(ctx.denied("train models"));
    return;
  }
  const { algorithms, doc } = await documented();
  const [datasetBox, dataset] = datasetField("Training dataset", trainable, ctx.params.get("dataset"));
  const name = input({ name: "model", value: "fraud" });
  const algorithm = select(algorithms);
  const weight = input({ type: "number", min: "0.001", max: "1000000", step: "any", value: "1", name: "weight" });
  const params = input({ name: "params", placeholder: "n_estimators=100, max_depth=8", size: "36" });
  const threshold = input({ type: "number", min: "0.01", max: "0.99", step: "0.01", value: "0.5", name: "threshold" });
  const range = frameRange();
  const followFrames = () => {
    const chosen = dataset.chosen();
    if (chosen) range.setMax(chosen.frames);
  };
  dataset.addEventListener("change", followFrames);
  followFrames();
  const result = outcome();
  const submit = h("button", { type: "submit" }, "Train");
  const form = h(
    "form",
    {},
    h("div", { class: "row" }, datasetBox, field("Model name", name), field("Algorithm", algorithm)),
    h(
      "div",
      { class: "row" },
      field("Class weight", weight, "Weight of the positive class (fraud)."),
      field("Hyper-parameters", params, "name=value, comma-separated."),
      field("Decision threshold", threshold),
    ),
    range,
    doc ? h("details", {}, h("summary", {}, "Hyper-parameters each algorithm accepts"), h("pre", { class: "doc" }, doc)) : null,
    submit,
    result,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(submit, result, async () => {
      const json = {
        dataset: dataset.value,
        algorithm: algorithm.value,
        frames: range.text(),
        weight: Number(weight.value),
        params: parseParams(params.value),
        threshold: Number(threshold.value),
      };
      const path = `/api/v1/models/${encodeURIComponent(name.value.trim())}/versions`;
      const model = await withProgress(result, "Training", () => call("POST", path, { json }));
      const overall = (model.metrics && model.metrics.overall) || {};
      result.show(
        note(`Trained ${model.ref} on frames ${range.text()}: ROC AUC ${fmt(overall.roc_auc)}, PR AUC ${fmt(overall.pr_auc)} on the other frames.`, "ok"),
        h("p", {}, h("a", { href: `#/report?model=${encodeURIComponent(model.name)}&version=${model.version}` }, `Report of ${model.ref}`),
          " · ", h("a", { href: `#/registry?model=${encodeURIComponent(model.name)}` }, "Registry")),
      );
    });
  });
  page.append(section("Train a model version", form));
  setOptions(algorithm, algorithms, "rf");
}
