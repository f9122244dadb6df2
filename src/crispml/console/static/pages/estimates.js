// Estimates: performance before the labels come (CBPE). Per frame of the scores that have no label yet,
// the estimated ROC AUC, precision, recall and F1, each with its interval, and the frauds expected.

import { get } from "../api.js";
import { button, field, fmt, h, input, note, outcome, run, section, table } from "../ui.js";
import { modelRef } from "./scoring.js";

export const ESTIMATED = [
  ["roc_auc", "ROC AUC"],
  ["precision", "Precision"],
  ["recall", "Recall"],
  ["f1", "F1"],
];

/** An estimate with its interval as people read it: "0.91 (0.88–0.94)". */
export function withInterval(value, interval) {
  if (value === null || value === undefined) return "–";
  return interval ? `${fmt(value)} (${fmt(interval[0])}–${fmt(interval[1])})` : fmt(value);
}

export async function render(page, ctx) {
  if (!ctx.can("verify")) {
    page.append(ctx.denied("estimate performance"));
    return;
  }
  const ref = await modelRef(ctx.params);
  const frames = input({ name: "frames", value: ctx.params.get("frames") || "" });
  const since = input({ name: "since", value: ctx.params.get("since") || "" });
  const level = input({ name: "level", value: ctx.params.get("level") || "0.99", inputmode: "decimal" });
  const errors = outcome();
  const body = h("div");
  const show = button("Estimate", () => run(show, errors, load));
  page.append(
    section(
      "Which model and scores",
      h("div", { class: "row" }, ref.element,
        field("Frames", frames, "Like 7-12; empty: every frame with unlabelled scores."),
        field("Since", since, "Scores of the last 24h, 30m, 7d or since a time; empty: all."),
        field("Interval", level, "Coverage of the intervals, in [0.5, 1)."), show),
      errors,
    ),
    body,
  );

  async function load() {
    if (!ref.name()) {
      body.replaceChildren(note("No models yet."));
      return;
    }
    const query = { model: ref.text(), frames: frames.value.trim() || undefined, since: since.value.trim() || undefined,
      level: level.value.trim() || undefined };
    const answer = await get("/api/v1/reports/estimate", query);
    if (!answer.rows.length) {
      body.replaceChildren(note(`${answer.model} has no unlabelled scores to estimate: every score has its label, ` +
        "or none was made (Verification shows the realized KPIs).", "info"));
      return;
    }
    const columns = [
      ["frame", "Frame"],
      ["model", "Version"],
      ["unlabelled", "Unlabelled"],
      ...ESTIMATED.map(([key, label]) => [key, `${label} (interval)`, (v, row) => withInterval(v, row.interval && row.interval[key])]),
      ["expected_positives", "Frauds expected"],
      ["calibration", "Calibration"],
    ];
    const level100 = `${fmt(answer.rows[0].level * 100)} %`;
    body.replaceChildren(
      ...answer.warnings.map((w) => note(w, "warn")),
      section(
        `Estimated performance of ${answer.model}`,
        h("p", { class: "help" }, `Confidence-based estimates (CBPE) of the scores without labels; intervals cover ${level100}.`),
        table(`Estimated performance of ${answer.model} by frame`, columns, answer.rows, { class: "estimates" }),
      ),
    );
  }
  if (ref.name()) await run(show, errors, load);
}
