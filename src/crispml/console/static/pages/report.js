// Model report: KPIs, ROC and PR curves, the confusion matrix at a threshold slider (precision and
// recall recomputed here from the PR curve's points), KPI by frame and feature importances.

import { get } from "../api.js";
import { modelChooser } from "../catalog.js";
import { plot } from "../plots.js";
import { button, field, fmt, h, input, note, outcome, run, section, table } from "../ui.js";

export function tiles(kpis, names) {
  return h(
    "ul",
    { class: "kpis" },
    names.map(([key, label]) =>
      h("li", { "data-kpi": key }, h("span", { class: "label" }, label), h("span", { class: "value" }, fmt(kpis[key]))),
    ),
  );
}

export const HEADLINE = [
  ["roc_auc", "ROC AUC"],
  ["pr_auc", "PR AUC"],
  ["precision", "Precision"],
  ["recall", "Recall"],
  ["f1", "F1"],
  ["rows", "Rows"],
  ["positives", "Positives"],
];

/** Confusion counts at a PR point: tp from recall, fp from precision, the rest from the totals. */
export function confusionAt(point, rows, positives) {
  const tp = point.threshold === null ? 0 : Math.round(point.recall * positives);
  const fp = tp > 0 && point.precision > 0 ? Math.round(tp / point.precision - tp) : 0;
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = positives ? tp / positives : 0;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { tp, fp, fn: positives - tp, tn: rows - positives - fp, precision, recall, f1 };
}

function confusionTable(c, caption) {
  return table(caption, [
    ["truth", "Truth"],
    ["flagged", "Flagged (fraud)"],
    ["passed", "Passed (genuine)"],
  ], [
    { truth: "Fraud", flagged: c.tp, passed: c.fn },
    { truth: "Genuine", flagged: c.fp, passed: c.tn },
  ], { class: "confusion" });
}

export async function render(page, ctx) {
  const chooser = modelChooser({ model: ctx.params.get("model"), version: ctx.params.get("version") });
  const framesInput = input({ name: "frames", placeholder: "frames not trained on" });
  const errors = outcome();
  const body = h("div");
  const show = button("Show report", () => run(show, errors, () => load()));
  page.append(section("Which report", h("div", { class: "row" }, chooser, field("Frames", framesInput, "Like 7-12; empty: every frame not trained on."), show), errors), body);
  if (!ctx.can("model.report")) {
    page.append(ctx.denied("read model reports"));
    show.disabled = true;
    return;
  }
  await chooser.ready;

  async function load() {
    const name = chooser.name();
    const version = chooser.number();
    if (!name || !version) {
      body.replaceChildren(note("No model versions yet: train one."));
      return;
    }
    const frames = framesInput.value.trim() || undefined;
    const base = `/api/v1/models/${encodeURIComponent(name)}/versions/${version}/report`;
    const report = await get(base, { frames });
    const overall = report.overall || {};
    const plots = (which, alt, extra = {}) => plot(`${base}/plots/${which}`, { frames, ...extra }, alt);
    body.replaceChildren(
      section(`${report.model} on frames ${report.frames.join(", ")}`, tiles(overall, HEADLINE)),
      thresholdSection(report, base, frames),
      section(
        "Curves",
        h("div", { class: "plots" },
          plots("roc", `ROC curve of ${report.model}: true positive rate against false positive rate`),
          plots("pr", `Precision-recall curve of ${report.model}`)),
      ),
      section(
        "By frame",
        h("div", { class: "plots" }, plots("kpi-by-frame", `KPIs of ${report.model} by frame`)),
        table(`KPIs of ${report.model} by frame`, [
          ["frame", "Frame"],
          ["rows", "Rows"],
          ["positives", "Positives"],
          ["roc_auc", "ROC AUC"],
          ["pr_auc", "PR AUC"],
          ["precision", "Precision"],
          ["recall", "Recall"],
          ["f1", "F1"],
        ], Object.entries(report.per_frame).map(([frame, k]) => ({ frame, ...k }))),
      ),
      section(
        "Feature importances",
        h("div", { class: "plots" }, plots("importances", `Feature importances of ${report.model}`)),
        table(`Top feature importances of ${report.model}`, [["feature", "Feature"], ["importance", "Importance"]],
          Object.entries(report.importance || {}).slice(0, 12).map(([feature, importance]) => ({ feature, importance }))),
      ),
    );
  }
  await run(show, errors, () => load());
}

function thresholdSection(report, base, frames) {
  const overall = report.overall || {};
  const points = ((report.curves && report.curves.pr) || [])
    .filter((p) => typeof p.threshold === "number" && p.threshold > 0 && p.threshold < 1) // what the API takes
    .sort((a, b) => a.threshold - b.threshold);
  const confusion = plot(`${base}/plots/confusion`, { frames, threshold: overall.threshold }, `Confusion matrix of ${report.model}`);
  if (!points.length) {
    return section(
      "Confusion matrix",
      note("This report's curve has no thresholds: the matrix is at the model's threshold only."),
      confusionTable(overall.confusion || { tp: 0, fp: 0, fn: 0, tn: 0 }, `Confusion at threshold ${fmt(overall.threshold)}`),
      h("div", { class: "plots" }, confusion),
    );
  }
  let start = points.findIndex((p) => p.threshold >= overall.threshold);
  if (start < 0) start = points.length - 1;
  const slider = h("input", { type: "range", min: "0", max: String(points.length - 1), value: String(start), name: "threshold" });
  const numbers = h("div", { "aria-live": "polite" });
  let timer = null;
  const update = (reload) => {
    const point = points[Number(slider.value)];
    const c = confusionAt(point, overall.rows, overall.positives);
    slider.setAttribute("aria-valuetext", `threshold ${fmt(point.threshold)}`);
    numbers.replaceChildren(
      tiles({ threshold: point.threshold, precision: c.precision, recall: c.recall, f1: c.f1, flagged: c.tp + c.fp },
        [["threshold", "Threshold"], ["precision", "Precision"], ["recall", "Recall"], ["f1", "F1"], ["flagged", "Flagged"]]),
      confusionTable(c, `Confusion at threshold ${fmt(point.threshold)}`),
    );
    if (!reload) return;
    clearTimeout(timer);
    timer = setTimeout(() => confusion.load({ frames, threshold: point.threshold }), 250);
  };
  slider.addEventListener("input", () => update(true));
  update(false);
  return section(
    "Threshold: the precision-recall trade-off",
    field("Decision threshold", slider, "A score at or above it is flagged; slide to trade precision for recall."),
    h("div", { class: "plots" }, numbers, confusion),
  );
}
