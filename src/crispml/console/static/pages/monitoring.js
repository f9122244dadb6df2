// Monitoring: drift of what a model version saw against the profile of its training frames, per feature
// (and the score), per frame or hour: population stability index, Jensen-Shannon distance, missing values.

import { get } from "../api.js";
import { button, field, h, input, note, outcome, run, section, table } from "../ui.js";
import { modelRef } from "./scoring.js";

const COLUMNS = [
  ["feature", "Feature"],
  ["rows", "Rows"],
  ["psi", "PSI"],
  ["js_distance", "Jensen-Shannon"],
  ["missing_rate", "Missing"],
  ["reference_missing_rate", "Missing at training"],
  ["level", "Level"],
];

export async function render(page, ctx) {
  if (!ctx.can("verify")) {
    page.append(ctx.denied("monitor drift"));
    return;
  }
  const ref = await modelRef(ctx.params);
  const frames = input({ name: "frames", value: ctx.params.get("frames") || "" });
  const since = input({ name: "since", value: ctx.params.get("since") || "" });
  const errors = outcome();
  const body = h("div");
  const show = button("Monitor", () => run(show, errors, load));
  page.append(
    section(
      "Which model and data",
      h("div", { class: "row" }, ref.element,
        field("Frames", frames, "Like 7-12; empty: the frames it was not trained on."),
        field("Since", since, "Records scored online since 24h, 30m, 7d or a time; instead of frames."), show),
      errors,
    ),
    body,
  );

  async function load() {
    if (!ref.name()) {
      body.replaceChildren(note("No models yet."));
      return;
    }
    const query = { ...ref.query(), frames: frames.value.trim() || undefined, since: since.value.trim() || undefined };
    const answer = await get(`/api/v1/models/${encodeURIComponent(ref.name())}/monitoring`, query);
    const key = answer.rows.some((r) => r.period !== null) ? "period" : "frame";
    const overall = answer.rows.filter((r) => r[key] === "all");
    const verdict = answer.alarms.length ? "error" : answer.warnings.length ? "warn" : "ok";
    body.replaceChildren(
      note(`${answer.model_version} on ${answer.source}: alarm ${answer.alarms.join(", ") || "none"}; ` +
        `warning ${answer.warnings.join(", ") || "none"}.`, verdict),
      section(`Drift of ${answer.model_version} overall`, table(`Drift of ${answer.model_version} overall`, COLUMNS, overall)),
      section(
        `By ${key}`,
        table(`Drift of ${answer.model_version} by ${key}`, [[key, key === "frame" ? "Frame" : "Hour"], ...COLUMNS],
          answer.rows.filter((r) => r[key] !== "all")),
      ),
    );
  }
  if (ref.name()) await run(show, errors, load);
}
