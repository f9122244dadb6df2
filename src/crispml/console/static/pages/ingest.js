// Ingest: upload a file, or read a registered source (a table or a query) or a file on the server;
// slices, percent of the data, key, time and target columns. Runs as a job with progress.

import { all, call } from "../api.js";
import { withProgress } from "../jobs.js";
import { field, fmt, h, input, note, outcome, run, section, select, table } from "../ui.js";

function options() {
  const name = input({ name: "name", placeholder: "from the file's name" });
  const slices = input({ type: "number", min: "1", max: "10000", value: "12", name: "slices" });
  const percent = input({ type: "number", min: "0.01", max: "100", step: "any", value: "100", name: "percent" });
  const target = input({ value: "Class", name: "target" });
  const key = input({ name: "key", placeholder: "derived from the row" });
  const time = input({ name: "time_column", placeholder: "file order" });
  const element = h(
    "div",
    { class: "row" },
    field("Dataset name", name),
    field("Slices (time frames)", slices),
    field("Percent of the data", percent, "Share of the rows kept, 0.01 to 100."),
    field("Target column", target),
    field("Key column", key, "Column holding a record's id."),
    field("Time column", time, "Column the frames follow."),
  );
  const values = () => ({
    name: name.value.trim() || undefined,
    slices: Number(slices.value),
    percent_data: Number(percent.value) / 100,
    target: target.value.trim() || "Class",
    key: key.value.trim() || undefined,
    time_column: time.value.trim() || undefined,
  });
  return { element, values };
}

function shown(dataset) {
  return h(
    "div",
    {},
    note(`Ingested ${dataset.name}/${dataset.version}: ${fmt(dataset.rows)} rows in ${dataset.frames} frames.`, "ok"),
    table(`Dataset ${dataset.name}/${dataset.version}`, [
      ["id", "Id"],
      ["name", "Name"],
      ["version", "Version"],
      ["rows", "Rows"],
      ["frames", "Frames"],
    ], [dataset]),
    h("p", {}, h("a", { href: `#/prepare?dataset=${encodeURIComponent(dataset.id)}` }, `Prepare ${dataset.name}/${dataset.version}`)),
  );
}

export async function render(page, ctx) {
  if (!ctx.can("data.write")) {
    page.append(ctx.denied("ingest data"));
    return;
  }
  const file = h("input", { type: "file", name: "file", accept: ".csv,.zip,.parquet", required: true });
  const uploadOptions = options();
  const uploaded = outcome();
  const upload = h("button", { type: "submit" }, "Upload and ingest");
  const uploadForm = h("form", {}, field("File (CSV, zipped CSV or Parquet)", file), uploadOptions.element, upload, uploaded);
  uploadForm.addEventListener("submit", (event) => {
    event.preventDefault();
    run(upload, uploaded, async () => {
      if (!file.files.length) throw new Error("choose a file to upload");
      const form = new FormData();
      form.append("file", file.files[0]);
      for (const [k, v] of Object.entries(uploadOptions.values())) if (v !== undefined) form.append(k, v);
      const dataset = await withProgress(uploaded, "Ingesting", () => call("POST", "/api/v1/datasets/upload", { form }));
      uploaded.show(shown(dataset));
    });
  });
  page.append(section("Upload a file", uploadForm));

  const sources = ctx.can("sources.read") ? await all("/api/v1/sources") : [];
  const source = select([["", "none: a file on the server"], ...sources.map((s) => [s.name, `${s.name} (${s.kind})`])]);
  const tableName = input({ name: "table" });
  const query = h("textarea", { name: "query", rows: "2", cols: "50" });
  const path = input({ name: "path", placeholder: "creditcard.csv" });
  const sourceOptions = options();
  const read = outcome();
  const go = h("button", { type: "submit" }, "Ingest");
  const sourceForm = h(
    "form",
    {},
    h(
      "div",
      { class: "row" },
      field("Registered source", source),
      field("Table", tableName, "A table of the source."),
      field("Query", query, "Or one read-only SELECT."),
      field("File on the server", path, "In the server's data folder."),
    ),
    sourceOptions.element,
    go,
    read,
  );
  sourceForm.addEventListener("submit", (event) => {
    event.preventDefault();
    run(go, read, async () => {
      const spec = source.value
        ? { source: source.value, table: tableName.value.trim() || undefined, query: query.value.trim() || undefined }
        : { path: path.value.trim() };
      const json = { source: spec, ...sourceOptions.values() };
      const dataset = await withProgress(read, "Ingesting", () => call("POST", "/api/v1/datasets", { json }));
      read.show(shown(dataset));
    });
  });
  page.append(section("Read a source", sourceForm));
}
