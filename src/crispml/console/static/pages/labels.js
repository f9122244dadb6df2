// Labels: import the truth from a dataset's target column (frames chosen), or from a CSV file of
// record_id,label rows.

import { call } from "../api.js";
import { datasetField, datasets } from "../catalog.js";
import { field, fmt, h, input, note, outcome, run, section, table } from "../ui.js";

function imported(report) {
  return h(
    "div",
    {},
    note(`Imported ${fmt(report.imported)} labels (${fmt(report.positives)} positive); ${fmt(report.unknown)} for records never scored.`, "ok"),
    table(`Label import ${report.import_id}`, [
      ["import_id", "Import"],
      ["imported", "Imported"],
      ["positives", "Positives"],
      ["unknown", "Never scored"],
    ], [report]),
  );
}

/** record_id,label rows of a CSV text (a header row naming them; commas only, no quoting). */
export function parseLabels(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  const header = (lines.shift() || "").split(",").map((c) => c.trim().replace(/^"|"$/g, ""));
  const [id, label] = [header.indexOf("record_id"), header.indexOf("label")];
  if (id < 0 || label < 0) throw new Error("the file's header must name the columns record_id and label");
  return lines.map((line, i) => {
    const cells = line.split(",").map((c) => c.trim().replace(/^"|"$/g, ""));
    const value = Number(cells[label]);
    if (value !== 0 && value !== 1) throw new Error(`line ${i + 2}: label ${cells[label]} is not 0 or 1`);
    return { record_id: cells[id], label: value };
  });
}

export async function render(page, ctx) {
  if (!ctx.can("label")) {
    page.append(ctx.denied("import labels"));
    return;
  }
  const raw = await datasets("raw");
  const [datasetBox, dataset] = datasetField("Dataset holding the truth", raw, ctx.params.get("dataset"));
  const frames = input({ name: "frames", value: "7-12" });
  const result = outcome();
  const submit = h("button", { type: "submit" }, "Import labels");
  const form = h("form", {}, h("div", { class: "row" }, datasetBox, field("Frames", frames, "Like 7-12; empty: all.")), submit, result);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(submit, result, async () => {
      const json = { dataset: dataset.value, frames: frames.value.trim() || null };
      result.show(imported(await call("PUT", "/api/v1/labels", { json })));
    });
  });
  page.append(section("Import labels from a dataset", form));

  const file = h("input", { type: "file", name: "labels", accept: ".csv" });
  const fromFile = outcome();
  const send = h("button", { type: "submit" }, "Import the file");
  const fileForm = h("form", {}, field("CSV of record_id,label", file), send, fromFile);
  fileForm.addEventListener("submit", (event) => {
    event.preventDefault();
    run(send, fromFile, async () => {
      if (!file.files.length) throw new Error("choose a CSV file of record_id,label rows");
      const labels = parseLabels(await file.files[0].text());
      fromFile.show(imported(await call("PUT", "/api/v1/labels", { json: { labels } })));
    });
  });
  page.append(section("Import labels from a file", fileForm));
}
