// Verification: the persisted scores against the imported labels, per frame: the realized KPIs beside
// the training report's, and how many scored records are labelled.

import { get } from "../api.js";
import { plot } from "../plots.js";
import { button, field, h, input, note, outcome, run, section, table } from "../ui.js";
import { tiles } from "./report.js";
import { modelRef } from "./scoring.js";

export async function render(page, ctx) {
  if (!ctx.can("verify")) {
    page.append(ctx.denied("verify scores against labels"));
    return;
  }
  const ref = await modelRef(ctx.params);
  const frames = input({ name: "frames", value: ctx.params.get("frames") || "7-12" });
  const errors = outcome();
  const body = h("div");
  const show = button("Verify", () => run(show, errors, load));
  page.append(section("Which model and frames", h("div", { class: "row" }, ref.element, field("Frames", frames, "Like 7-12; empty: every scored frame."), show), errors), body);

  async function load() {
    if (!ref.name()) {
      body.replaceChildren(note("No models yet."));
      return;
    }
    const query = { model: ref.text(), frames: frames.value.trim() || undefined };
    const answer = await get("/api/v1/reports/verification", query);
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
    );
  }
  if (ref.name()) await run(show, errors, load);
}
