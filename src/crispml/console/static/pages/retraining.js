// Retraining: each model's policy (when it retrains itself) and the triggers it fired, newest first;
// for admins, the webhook targets told of triggers and their deliveries (status, attempts, last error).

import { ApiError, get } from "../api.js";
import { h, note, section, table, when, words } from "../ui.js";

/** A list from the API, or a note in words when the role may not read it (403) or the call failed. */
async function listed(path, query, what, ctx) {
  try {
    return { items: (await get(path, query)).items };
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) {
      return { refused: note(`Your role (${ctx.me.role}) may not see ${what}.`, "warn") };
    }
    return { refused: note(words(error), "error") };
  }
}

const conditions = (list, row) => [...list, ...(row.cooldown_s ? [`cooldown ${row.cooldown_s} s`] : [])].join("; ") || "–";
const figures = (found) =>
  Object.entries(found || {}).map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ") || "–";

export async function render(page, ctx) {
  const [policies, triggers] = await Promise.all([
    listed("/api/v1/retrain/policies", {}, "retraining policies", ctx),
    listed("/api/v1/retrain/triggers", { limit: 50 }, "retraining triggers", ctx),
  ]);
  page.append(
    section(
      "Policies",
      policies.refused ||
        (policies.items.length
          ? table("Retraining policies", [
            ["model", "Model"],
            ["conditions", "When", conditions],
            ["pipeline", "Pipeline", (p) => (p && p.name) || "–"],
            ["revision", "Revision"],
            ["last_fired_at", "Last fired", when],
            ["updated_at", "Updated", (t, row) => `${when(t)} by ${row.created_by}`],
          ], policies.items, { class: "policies" })
          : note("No retraining policies: set one with `crispml retrain policy set` or PUT /api/v1/retrain/policies/{model}.")),
    ),
    section(
      "Recent triggers",
      triggers.refused ||
        (triggers.items.length
          ? table("Retraining triggers, newest first", [
            ["fired_at", "Fired", when],
            ["model", "Model"],
            ["kind", "Kind"],
            ["condition", "Condition"],
            ["status", "Status"],
            ["job_id", "Job"],
            ["challenger", "Challenger", (c) => c || "–"],
            ["error", "Error", (e) => e || "–"],
            ["figures", "Figures", figures],
          ], triggers.items, { class: "triggers" })
          : note("No triggers fired yet.")),
    ),
  );
  if (!ctx.can("webhooks.manage")) {
    page.append(section("Webhooks", note(`Your role (${ctx.me.role}) may not see webhook targets and deliveries (admins only).`, "warn")));
    return;
  }
  const [targets, deliveries] = await Promise.all([
    listed("/api/v1/webhooks", {}, "webhook targets", ctx),
    listed("/api/v1/webhooks/deliveries", { limit: 50 }, "webhook deliveries", ctx),
  ]);
  page.append(
    section(
      "Webhook targets",
      targets.refused ||
        (targets.items.length
          ? table("Webhook targets", [
            ["url", "URL"],
            ["events", "Events", (e) => e.join(", ")],
            ["secret_env", "Secret from"],
            ["created_at", "Registered", (t, row) => `${when(t)} by ${row.created_by}`],
          ], targets.items, { class: "webhooks" })
          : note("No webhook targets: an admin registers one with `crispml webhooks add`.")),
    ),
    section(
      "Webhook deliveries",
      deliveries.refused ||
        (deliveries.items.length
          ? table("Webhook deliveries, newest first", [
            ["created_at", "Created", when],
            ["event", "Event"],
            ["url", "URL"],
            ["status", "Status"],
            ["attempts", "Attempts"],
            ["next_attempt_at", "Next attempt", when],
            ["delivered_at", "Delivered", when],
            ["last_error", "Last error", (e) => e || "–"],
          ], deliveries.items, { class: "deliveries" })
          : note("No deliveries yet.")),
    ),
  );
  page.append(h("p", { class: "help" }, "Policies and targets are set with ", h("code", {}, "crispml retrain"), " and ",
    h("code", {}, "crispml webhooks"), " (or their REST routes)."));
}
