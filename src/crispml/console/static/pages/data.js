// Data pool: datasets by stage with their versions, frames, column summaries, tags and lineage; the
// tables of a registered SQL source.

import { all, get } from "../api.js";
import { datasets } from "../catalog.js";
import { button, field, fmt, frames, h, note, outcome, run, section, select, table, when } from "../ui.js";

const STAGES = [
  ["raw", "Raw (ingested)"],
  ["prepared", "Prepared"],
  ["curated", "Curated"],
];

export async function render(page, ctx) {
  const list = await datasets();
  const detail = h("div", { class: "detail", "aria-live": "polite" });
  const show = (id) => showDataset(detail, id, ctx);
  const columns = [
    ["name", "Name"],
    ["version", "Version"],
    ["rows", "Rows"],
    ["frames", "Frames"],
    ["tags", "Tags", (tags) => Object.keys(tags || {}).length || "–"],
    ["created_by", "By"],
    ["created_at", "Created", when],
    ["id", "Details", (id, d) => button("Show", () => show(id), { "aria-label": `Show ${d.name}/${d.version}` })],
  ];
  const stages = STAGES.map(([stage, title]) => {
    const rows = list.filter((d) => d.stage === stage);
    return section(
      `${title}: ${rows.length} version${rows.length === 1 ? "" : "s"}`,
      rows.length ? table(`${title} datasets`, columns, rows) : note("None yet."),
    );
  });
  page.append(...stages, detail);
  const raw = list.filter((d) => d.stage === "raw");
  const newest = raw.length ? raw[raw.length - 1] : list[list.length - 1];
  const chosen = ctx.params.get("dataset") || (newest ? newest.id : null);
  if (chosen) await show(chosen);
  if (ctx.can("sources.read")) page.append(await sourcesSection());
}

async function showDataset(where, ref, ctx) {
  const d = await get(`/api/v1/datasets/${encodeURIComponent(ref)}`);
  const stats = Object.fromEntries(((d.report && d.report.stats) || []).map((s) => [s.column, s]));
  const columnRows = Object.entries(d.columns).map(([column, type]) => ({
    column,
    type,
    tag: (d.tags || {})[column] || "",
    ...(stats[column] || {}),
  }));
  const lineage = (d.lineage || []).map((node) =>
    h("li", {}, h("span", { class: "kind" }, node.kind), " ", h("code", {}, node.label),
      node.detail && node.detail.rows ? ` · ${fmt(node.detail.rows)} rows` : ""),
  );
  const facts = [
    ["Id", d.id],
    ["Stage", d.stage],
    ["Rows", fmt(d.rows)],
    ["Frames", `${d.frames} (${frames(d.params.frames_present || [])})`],
    ["Target", d.target],
    ["Project", d.project],
    ["Created", `${when(d.created_at)} by ${d.created_by}`],
  ];
  where.replaceChildren(
    section(
      `Dataset ${d.name}/${d.version}`,
      h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      h("h3", {}, "Lineage (newest first)"),
      h("ol", { class: "lineage", "aria-label": `Lineage of ${d.name}/${d.version}` }, lineage),
      h("h3", {}, "Columns"),
      Object.keys(stats).length ? null : note("Column summaries are made at ingestion: see the raw version in the lineage."),
      table(`Columns of ${d.name}/${d.version}`, [
        ["column", "Column"],
        ["type", "Type"],
        ["tag", "Tag"],
        ["min", "Min"],
        ["q1", "1st quartile"],
        ["median", "Median"],
        ["mean", "Mean"],
        ["q3", "3rd quartile"],
        ["max", "Max"],
      ], columnRows),
      ctx.can("data.write")
        ? h("p", {}, h("a", { href: `#/prepare?dataset=${encodeURIComponent(d.id)}` }, "Prepare this version"))
        : null,
    ),
  );
}

async function sourcesSection() {
  const sources = await all("/api/v1/sources");
  if (!sources.length) {
    return section("SQL sources", note("No source is registered (an admin adds one with `crispml sources add`)."));
  }
  const chooser = select(sources.map((s) => [s.name, `${s.name} (${s.kind})`]));
  const result = h("div");
  const errors = outcome();
  const show = button("Show tables", () =>
    run(show, errors, async () => {
      const tables = await all(`/api/v1/sources/${encodeURIComponent(chooser.value)}/tables`);
      result.replaceChildren(
        table(`Tables of ${chooser.value}`, [
          ["name", "Table"],
          ["rows", "Rows"],
          ["columns", "Columns", (cols) => cols.map((c) => `${c.name} ${c.type}`).join(", ")],
        ], tables),
      );
    }),
  );
  return section("SQL sources", h("div", { class: "row" }, field("Source", chooser), show), errors, result);
}
