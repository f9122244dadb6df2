// Scoring: score frames of a dataset (a job) or an uploaded file with a model version or alias; the
// batch and its scores.

import { call, get } from "../api.js";
import { datasetField, datasets } from "../catalog.js";
import { withProgress } from "../jobs.js";
import { field, fmt, h, input, note, outcome, run, section, select, setOptions, table, when } from "../ui.js";

const SHOWN = 100;
const TABLE_TYPES = { csv: "text/csv", parquet: "application/vnd.apache.parquet" };

/** Model and "version or alias" selects: ?alias=champion or ?version=3 for the score route. */
export async function modelRef(params) {
  const models = (await get("/api/v1/models", { limit: 1000 })).items;
  const name = select(models.length ? models.map((m) => m.name) : [["", "no models yet"]], { value: params.get("model") });
  const which = select([]);
  const fill = () => {
    const model = models.find((m) => m.name === name.value);
    if (!model) return setOptions(which, []);
    const aliases = Object.entries(model.aliases).map(([alias, v]) => [`alias=${alias}`, `${alias} (version ${v})`]);
    const versions = Array.from({ length: model.latest_version }, (_, i) => model.latest_version - i).map((v) => [
      `version=${v}`,
      `version ${v}`,
    ]);
    return setOptions(which, [...aliases, ...versions]);
  };
  name.addEventListener("change", fill);
  fill();
  const element = h("div", { class: "row" }, field("Model", name), field("Version or alias", which));
  const query = () => Object.fromEntries([which.value.split("=")]);
  const text = () => {
    const [kind, value] = which.value.split("=");
    return kind === "alias" ? `${name.value}@${value}` : `${name.value}/${value}`;
  };
  return { element, name: () => name.value, query, text };
}

function scoresTable(batch, scores) {
  return h(
    "div",
    {},
    note(`Batch ${batch.batch_id}: ${fmt(batch.rows)} records scored by ${batch.model}, ${fmt(batch.flagged)} flagged.`, "ok"),
    table(`Batch ${batch.batch_id}`, [
      ["batch_id", "Batch"],
      ["model", "Model"],
      ["rows", "Rows"],
      ["flagged", "Flagged"],
      ["created_at", "Scored", when],
    ], [batch]),
    table(`First ${Math.min(SHOWN, scores.length)} scores of ${batch.batch_id}`, [
      ["record_id", "Record"],
      ["frame", "Frame"],
      ["score", "Score"],
      ["decision", "Decision", (d) => (d ? "flagged" : "passed")],
    ], scores.slice(0, SHOWN)),
  );
}

export async function render(page, ctx) {
  if (!ctx.can("score")) {
    page.append(ctx.denied("score records"));
    return;
  }
  const ref = await modelRef(ctx.params);
  page.append(section("Model", ref.element));

  const raw = await datasets();
  const [datasetBox, dataset] = datasetField("Dataset", raw.filter((d) => d.stage === "raw"), ctx.params.get("dataset"));
  const frames = input({ name: "frames", value: "7-12" });
  const scored = outcome();
  const submit = h("button", { type: "submit" }, "Score frames");
  const form = h("form", {}, h("div", { class: "row" }, datasetBox, field("Frames", frames, "Like 7-12.")), submit, scored);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(submit, scored, async () => {
      const path = `/api/v1/models/${encodeURIComponent(ref.name())}/score`;
      const json = { dataset: dataset.value, frames: frames.value.trim() || undefined };
      const batch = await withProgress(scored, "Scoring", () => call("POST", path, { json, query: ref.query() }));
      const stored = await get(`/api/v1/score-batches/${encodeURIComponent(batch.batch_id)}`, { limit: SHOWN });
      scored.show(scoresTable(batch, stored.scores));
    });
  });
  page.append(section("Score frames of a dataset", form));

  const file = h("input", { type: "file", name: "file", accept: ".csv,.parquet" });
  const uploaded = outcome();
  const send = h("button", { type: "submit" }, "Score the file");
  const fileForm = h("form", {}, field("File (CSV with a header row, or Parquet)", file), send, uploaded);
  fileForm.addEventListener("submit", (event) => {
    event.preventDefault();
    run(send, uploaded, async () => {
      if (!file.files.length) throw new Error("choose a file to score");
      const chosen = file.files[0];
      const type = TABLE_TYPES[chosen.name.split(".").pop().toLowerCase()];
      if (!type) throw new Error(`cannot score ${chosen.name}: choose a .csv or .parquet file`);
      const path = `/api/v1/models/${encodeURIComponent(ref.name())}/score`;
      const batch = await call("POST", path, { body: chosen, type, query: ref.query() });
      uploaded.show(scoresTable(batch, batch.scores || []));
    });
  });
  page.append(section("Score an uploaded file", fileForm));
}
