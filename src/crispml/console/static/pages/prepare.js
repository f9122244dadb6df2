// Prepare: a raw dataset version into a prepared one (missing values filled or dropped).

import { call } from "../api.js";
import { datasetField, datasets } from "../catalog.js";
import { field, fmt, h, input, note, outcome, run, section, select, table } from "../ui.js";

/** What prepare and curate show of the version they made: its numbers and its step's report. */
export function made(dataset, next) {
  const report = Object.entries(dataset.report || {})
    .filter(([, v]) => typeof v !== "object" || v === null)
    .map(([measure, value]) => ({ measure, value }));
  return h(
    "div",
    {},
    note(`Made ${dataset.name}/${dataset.version} (${dataset.stage}): ${fmt(dataset.rows)} rows.`, "ok"),
    report.length ? table(`Report of ${dataset.name}/${dataset.version}`, [["measure", "Measure"], ["value", "Value"]], report) : null,
    next ? h("p", {}, h("a", { href: next[0] }, next[1])) : null,
  );
}

export async function render(page, ctx) {
  const raw = await datasets("raw");
  if (!ctx.can("data.write")) {
    page.append(ctx.denied("prepare data"), section("Raw datasets", note(`${raw.length} raw version(s).`)));
    return;
  }
  const [datasetBox, dataset] = datasetField("Raw dataset", raw, ctx.params.get("dataset"));
  const missing = select([
    ["median", "fill with the median"],
    ["zero", "fill with zero"],
    ["drop", "drop the row"],
  ]);
  const name = input({ name: "name", placeholder: "<raw name>-prep" });
  const result = outcome();
  const submit = h("button", { type: "submit" }, "Prepare");
  const form = h("form", {}, h("div", { class: "row" }, datasetBox, field("Missing values", missing), field("Name", name)), submit, result);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(submit, result, async () => {
      const json = { missing: missing.value, name: name.value.trim() || null };
      const prepared = await call("POST", `/api/v1/datasets/${encodeURIComponent(dataset.value)}/prepare`, { json });
      result.show(made(prepared, [`#/curate?dataset=${encodeURIComponent(prepared.id)}`, `Curate ${prepared.name}/${prepared.version}`]));
    });
  });
  page.append(section("Prepare a raw dataset", form));
}
