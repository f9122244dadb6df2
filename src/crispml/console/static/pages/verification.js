// Verification: the persisted scores against the imported labels, per frame: the realized KPIs beside
// the training report's, and how many scored records are labelled; the estimate made without the labels
// beside them; with a pair (champion,challenger) DeLong's paired test of their ROC AUCs on the same records.

import { get } from "../api.js";
import { plot } from "../plots.js";
import { button, field, fmt, h, input, note, outcome, run, section, table } from "../ui.js";
import { ESTIMATED, withInterval } from "./estimates.js";
import { tiles } from "./report.js";
import { modelRef } from "./scoring.js";

export async function render(page, ctx) {
  if (!ctx.can("verify")) {
    page.append(ctx.denied("verify scores against labels"));
    return;
  }
  const ref = await modelRef(ctx.params);
  const frames = input({ name: "frames", value: ctx.params.get("frames") || "7-12" });
  const compare = input({ name: "compare", value: ctx.params.get("compare") || "", list: "compare-pairs" });
  const pairs = h("datalist", { id: "compare-pairs" }, h("option", { value: "champion,challenger" }));
  const errors = outcome();
  const body = h("div");
  const show = button("Verify", () => run(show, errors, load));
  page.append(section("Which model and frames", h("div", { class: "row" }, ref.element, field("Frames", frames, "Like 7-12; empty: every scored frame."),
    field("Compare", compare, "Two versions or aliases, like champion,challenger; empty: no comparison."), pairs, show), errors), body);

  async function load() {
    if (!ref.name()) {
      body.replaceChildren(note("No models yet."));
      return;
    }
    const query = { model: ref.text(), frames: frames.value.trim() || undefined };
    const pair = compare.value.trim();
    const answer = await get("/api/v1/reports/verification", { ...query, compare: pair || undefined });
    const rows = answer.rows;
    const overall = rows.find((r) => r.frame === "all") || {};
    const path = (which) => `/api/v1/reports/verification/plots/${which}`;
    body.replaceChildren(
      section(
        `${answer.model}: all frames`,
        tiles(overall, [
          ["scored", "Scored"],
          ["labelled", "Labelled"],
          ["unlabelled", "Unlabelled"],
          ["positives", "Positives"],
          ["roc_auc", "ROC AUC"],
          ["report_roc_auc", "ROC AUC at training"],
          ["pr_auc", "PR AUC"],
          ["recall", "Recall"],
        ]),
      ),
      section(
        "By frame",
        h("div", { class: "plots" },
          plot(path("kpi-by-frame"), query, `Realized KPIs of ${answer.model} by frame`),
          plot(path("labelled"), query, `Labelled and unlabelled scored records of ${answer.model} by frame`)),
        table(`Verification of ${answer.model} by frame`, [
          ["frame", "Frame"],
          ["model", "Version"],
          ["scored", "Scored"],
          ["labelled", "Labelled"],
          ["unlabelled", "Unlabelled"],
          ["positives", "Positives"],
          ["roc_auc", "ROC AUC"],
          ["report_roc_auc", "ROC AUC at training"],
          ["pr_auc", "PR AUC"],
          ["report_pr_auc", "PR AUC at training"],
          ["precision", "Precision"],
          ["recall", "Recall"],
          ["f1", "F1"],
        ], rows),
      ),
      estimatesBeside(answer),
      answer.comparison ? comparison(answer.comparison) : "",
    );
  }
  if (ref.name()) await run(show, errors, load);
}

/** The estimate made without the labels beside the realized KPIs, per frame (rows with labels only). */
function estimatesBeside(answer) {
  const rows = answer.rows.filter((r) => r.estimate);
  const warnings = (answer.warnings || []).map((w) => note(w, "warn"));
  if (!rows.length) return warnings.length ? section("Estimated beside realized", warnings) : "";
  const kpi = (row, key) => row.estimate.kpis[key] || {};
  const columns = [
    ["frame", "Frame"],
    ["model", "Version"],
    ...ESTIMATED.flatMap(([key, label]) => [
      [`${key}_realized`, `${label} realized`, (_, row) => fmt(kpi(row, key).realized)],
      [`${key}_estimated`, `${label} estimated (interval)`, (_, row) => withInterval(kpi(row, key).estimated, kpi(row, key).interval)],
      [`${key}_within`, "Within", (_, row) => (kpi(row, key).within_interval === null || kpi(row, key).within_interval === undefined
        ? "–" : kpi(row, key).within_interval ? "yes" : "no")],
    ]),
    ["positives_expected", "Frauds expected", (_, row) => fmt(row.estimate.positives.estimated)],
    ["positives_found", "Frauds labelled", (_, row) => fmt(row.estimate.positives.realized)],
  ];
  return section(
    "Estimated beside realized",
    warnings,
    h("p", { class: "help" }, "What the estimate (CBPE, labels unseen) said of each frame, beside what the labels show."),
    table(`Estimate beside realized of ${answer.model}, per frame`, columns, rows, { class: "estimate-beside" }),
  );
}

/** DeLong's paired test of two versions' ROC AUCs on the records both scored, and its verdict. */
function comparison(found) {
  const head = `${found.second} against ${found.first} on ${fmt(found.records)} labelled records`;
  if (found.difference === null || found.difference === undefined) {
    return section("Champion and challenger", note(`${head} (${fmt(found.positives)} positive): a comparison needs both classes.`, "warn"));
  }
  const verdict = found.significant ? "significant" : "not significant";
  const signed = (d) => `${d > 0 ? "+" : ""}${fmt(d)}`;
  const rows = [
    { what: "Records compared", value: fmt(found.records) },
    { what: "Positives", value: fmt(found.positives) },
    { what: `ROC AUC of ${found.first}`, value: fmt(found.first_roc_auc) },
    { what: `ROC AUC of ${found.second}`, value: fmt(found.second_roc_auc) },
    { what: "Difference (second − first)", value: signed(found.difference) },
    { what: `Interval (${fmt((1 - found.level) * 100)} %)`, value: `${signed(found.interval[0])} to ${signed(found.interval[1])}` },
    { what: "Standard error", value: fmt(found.std_error) },
    { what: "DeLong p-value", value: fmt(found.p_value) },
    { what: "Verdict", value: `${verdict} at ${fmt(found.level)}` },
  ];
  return section(
    "Champion and challenger",
    note(`${head}: the difference is ${verdict} (DeLong p = ${fmt(found.p_value)}, level ${fmt(found.level)})` +
      (found.significant ? `; ${found.second} ranks ${found.difference > 0 ? "better" : "worse"}.` : "."),
    !found.significant ? "info" : found.difference > 0 ? "ok" : "warn"),
    table(`${found.second} against ${found.first}`, [["what", "Figure"], ["value", "Value", (v) => v]], rows, { class: "comparison" }),
  );
}
