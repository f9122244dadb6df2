// What several pages choose from: datasets and model versions, as the API lists them.

import { all, get } from "./api.js";
import { field, h, select, setOptions } from "./ui.js";

export const datasets = (stage) => all("/api/v1/datasets", { stage });

export function datasetLabel(d) {
  return `${d.name}/${d.version} · ${d.stage} · ${d.rows.toLocaleString("en-US")} rows`;
}

/** A labelled select of datasets (newest first), valued by id. */
export function datasetField(label, list, chosen) {
  const sorted = [...list].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  const el = select(sorted.length ? sorted.map((d) => [d.id, datasetLabel(d)]) : [["", "no datasets yet"]], {
    value: chosen,
  });
  el.datasets = sorted;
  el.chosen = () => sorted.find((d) => d.id === el.value);
  return [field(label, el), el];
}

/**
 * Model and version selects that follow each other: picking a model lists its versions (newest
 * first). `chooser.ready` resolves once both are filled; `chooser.version()` is the chosen answer.
 */
export function modelChooser({ model, version, onChange = () => {} } = {}) {
  const models = select([], { name: "model" });
  const versions = select([], { name: "version" });
  const chooser = h("div", { class: "row" }, field("Model", models), field("Version", versions));
  let found = [];
  async function fill(name, chosenVersion) {
    found = name ? (await all(`/api/v1/models/${encodeURIComponent(name)}/versions`)).reverse() : [];
    setOptions(
      versions,
      found.map((v) => [v.version, `${v.version}${v.aliases.length ? ` (${v.aliases.join(", ")})` : ""}`]),
      chosenVersion,
    );
  }
  chooser.ready = (async () => {
    const list = (await get("/api/v1/models", { limit: 1000 })).items;
    setOptions(models, list.length ? list.map((m) => m.name) : [["", "no models yet"]], model);
    await fill(models.value, version);
  })();
  models.addEventListener("change", async () => {
    await fill(models.value);
    onChange();
  });
  versions.addEventListener("change", () => onChange());
  chooser.reload = () => fill(models.value, versions.value);
  chooser.name = () => models.value;
  chooser.number = () => Number(versions.value);
  chooser.version = () => found.find((v) => String(v.version) === versions.value);
  chooser.versions = () => found;
  chooser.selects = { models, versions };
  return chooser;
}
