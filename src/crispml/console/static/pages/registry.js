// Registry: a model's versions and aliases; set an alias (promote to champion); compare two versions;
// where a version came from (provenance) and, for admins, its promotion to another environment.

import { ApiError, call, get } from "../api.js";
import { modelChooser } from "../catalog.js";
import { field, fmt, frames, h, input, note, outcome, run, section, select, table, when, words } from "../ui.js";

const KPIS = ["roc_auc", "pr_auc", "precision", "recall", "f1", "rows", "positives", "threshold"];
const KPI_NAMES = {
  roc_auc: "ROC AUC",
  pr_auc: "PR AUC",
  precision: "Precision",
  recall: "Recall",
  f1: "F1",
  rows: "Rows evaluated",
  positives: "Positives",
  threshold: "Threshold",
};

const overall = (v) => (v && v.metrics && v.metrics.overall) || {};

export async function render(page, ctx) {
  const chooser = modelChooser({ model: ctx.params.get("model"), onChange: () => show() });
  chooser.selects.versions.closest(".field").hidden = true; // this page shows every version
  const versionsBox = h("div");
  const aliasBox = h("div");
  const moved = outcome();
  const compareBox = h("div");
  const promotionBox = h("div");
  page.append(section("Model", chooser), versionsBox, aliasBox, compareBox, promotionBox);
  const refresh = async () => {
    await chooser.reload();
    show();
  };
  await chooser.ready;

  function show() {
    const versions = chooser.versions();
    if (!versions.length) {
      versionsBox.replaceChildren(note("No model versions yet: train one."));
      aliasBox.replaceChildren();
      compareBox.replaceChildren();
      promotionBox.replaceChildren();
      return;
    }
    versionsBox.replaceChildren(
      section(
        `Versions of ${chooser.name()}`,
        table(`Versions of ${chooser.name()}`, [
          ["version", "Version"],
          ["algorithm", "Algorithm"],
          ["class_weight", "Class weight"],
          ["frames", "Trained on frames", frames],
          ["roc_auc", "ROC AUC", (_, v) => fmt(overall(v).roc_auc)],
          ["pr_auc", "PR AUC", (_, v) => fmt(overall(v).pr_auc)],
          ["aliases", "Aliases", (a) => (a.length ? a.join(", ") : "–")],
          ["created_at", "Created", (t, v) => `${when(t)} by ${v.created_by}`],
          ["ref", "Report", (ref, v) => h("a", { href: `#/report?model=${encodeURIComponent(v.name)}&version=${v.version}` }, `Report of ${ref}`)],
        ], versions),
      ),
    );
    aliasBox.replaceChildren(ctx.can("model.alias") ? aliasForm(chooser, moved, refresh) : ctx.denied("move aliases"));
    compareBox.replaceChildren(compare(versions));
    promotionBox.replaceChildren(promotion(chooser, ctx, refresh));
  }
  show();
}

function aliasForm(chooser, result, refresh) {
  const versions = chooser.versions();
  const version = select(versions.map((v) => [v.version, v.ref]));
  const alias = input({ name: "alias", value: "champion", list: "alias-names" });
  const names = h("datalist", { id: "alias-names" }, h("option", { value: "champion" }), h("option", { value: "challenger" }));
  const submit = h("button", { type: "submit" }, "Set alias");
  const form = h("form", {}, h("div", { class: "row" }, field("Version", version), field("Alias", alias), names, submit), result);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(submit, result, async () => {
      const name = chooser.name();
      const path = `/api/v1/models/${encodeURIComponent(name)}/aliases/${encodeURIComponent(alias.value.trim())}`;
      const moved = await call("PUT", path, { json: { version: Number(version.value) } });
      await refresh();
      result.show(note(`${name}@${alias.value.trim()} now points at ${moved.ref}.`, "ok"));
    });
  });
  return section("Set an alias (promote)", form);
}

function compare(versions) {
  const options = versions.map((v) => [v.version, v.ref]);
  const first = select(options, { value: versions[0].version });
  const second = select(options, { value: versions[Math.min(1, versions.length - 1)].version });
  const result = h("div");
  const draw = () => {
    const a = versions.find((v) => String(v.version) === first.value);
    const b = versions.find((v) => String(v.version) === second.value);
    const rows = KPIS.map((kpi) => {
      const [x, y] = [overall(a)[kpi], overall(b)[kpi]];
      const delta = typeof x === "number" && typeof y === "number" ? y - x : null;
      return { kpi: KPI_NAMES[kpi], a: x, b: y, delta };
    });
    rows.push({ kpi: "Class weight", a: a.class_weight, b: b.class_weight, delta: null });
    rows.push({ kpi: "Algorithm", a: a.algorithm, b: b.algorithm, delta: null });
    result.replaceChildren(
      table(`${a.ref} beside ${b.ref}`, [
        ["kpi", "KPI"],
        ["a", a.ref],
        ["b", b.ref],
        ["delta", "Difference (second − first)", (d) => (d === null ? "–" : `${d > 0 ? "+" : ""}${fmt(d)}`)],
      ], rows),
    );
  };
  first.addEventListener("change", draw);
  second.addEventListener("change", draw);
  draw();
  return section("Compare two versions", h("div", { class: "row" }, field("First version", first), field("Second version", second)), result);
}

/** A version's provenance as facts: made here, or imported (from where, which bundle, its history). */
function provenanceFacts(found) {
  if (!found.imported) {
    return [["Version", found.model], ["Origin", `made here, in ${found.environment}`]];
  }
  const history = (found.history || []).map((step) =>
    [step.environment, step.model, step.at ? `(${when(step.at)})` : null].filter(Boolean).join(" "));
  const pipeline = found.pipeline_file ? found.pipeline_file.name || JSON.stringify(found.pipeline_file) : "–";
  return [
    ["Version", found.model],
    ["Origin", `imported from ${found.source_environment} ${found.source_ref}`],
    ["Imported", `${when(found.imported_at)} by ${found.imported_by}`],
    ["Bundle SHA-256", h("code", {}, found.bundle_sha256)],
    ["Signing key", found.key_id || "–"],
    ["History", history.length ? history.join(" → ") : "–"],
    ["Lineage", (found.lineage || []).join(" ← ") || "–"],
    ["Pipeline file", pipeline],
  ];
}

function promotion(chooser, ctx, refresh) {
  const versions = chooser.versions();
  const version = select(versions.map((v) => [v.version, v.ref]), { name: "provenance-version" });
  const facts = h("div", { class: "provenance", "aria-live": "polite" });
  const showProvenance = async () => {
    const name = chooser.name();
    facts.replaceChildren(h("p", { class: "working", role: "status" }, "Working…"));
    try {
      const found = await get(`/api/v1/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version.value)}/provenance`);
      facts.replaceChildren(h("dl", { class: "facts", "data-origin": found.imported ? "imported" : "here" },
        provenanceFacts(found).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
    } catch (error) {
      const refused = error instanceof ApiError && error.status === 403;
      facts.replaceChildren(note(refused ? `Your role (${ctx.me.role}) may not see provenance.` : words(error), refused ? "warn" : "error"));
    }
  };
  version.addEventListener("change", showProvenance);
  showProvenance();
  const parts = [h("div", { class: "row" }, field("Version", version)), facts];
  if (ctx.can("promote")) parts.push(promoteForm(chooser, version, refresh));
  else parts.push(ctx.denied("promote versions to other environments"));
  return section("Provenance and promotion", parts);
}

function promoteForm(chooser, version, refresh) {
  const to = input({ name: "to", required: true, spellcheck: "false" });
  const alias = input({ name: "promote-alias", value: "champion" });
  const result = outcome();
  const submit = h("button", { type: "submit" }, "Promote");
  const form = h(
    "form",
    { class: "promote" },
    h("div", { class: "row" },
      field("Target environment", to, "A name of CRISPML_PROMOTION_TARGETS (qa, prod); its gates decide."),
      field("Target alias", alias), submit),
    result,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(submit, result, async () => {
      const name = chooser.name();
      const path = `/api/v1/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version.value)}/promote`;
      let answer;
      try {
        answer = await call("POST", path, { query: { to: to.value.trim(), alias: alias.value.trim() || undefined } });
      } catch (error) {
        if (error instanceof ApiError && error.status === 409) {
          result.show(note(`Refused: ${error.detail}`, "error"));
          return;
        }
        throw error;
      }
      await refresh();
      const moved = answer.moved ? `${answer.alias} moved to ${answer.model}` : `${answer.model} imported, no alias moved`;
      const gates = answer.gates && answer.gates.length ? `; gates passed: ${answer.gates.join("; ")}` : "";
      result.show(note(`${answer.source_model} promoted to ${answer.to}: ${moved}` +
        `${answer.previous ? ` (was ${answer.previous})` : ""}${gates}.`, "ok"));
    });
  });
  return form;
}
