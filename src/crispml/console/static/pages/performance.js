// Performance: each method's durations and memory over time (the perf records), and the jobs with
// live progress and a cancel button.

import { call, get } from "../api.js";
import { lineChart } from "../plots.js";
import { button, field, h, note, outcome, run, section, select, table, when } from "../ui.js";

const REFRESH_MS = 2000;

export async function render(page, ctx) {
  if (ctx.can("perf.read")) page.append(await perfSection());
  else page.append(ctx.denied("read performance records"));
  const jobsBox = h("div");
  page.append(jobsBox);
  let timer = null;
  let stopped = false;
  ctx.onLeave(() => {
    stopped = true;
    clearTimeout(timer);
  });
  const refresh = async () => {
    const running = await showJobs(jobsBox, refresh);
    clearTimeout(timer);
    if (running && !stopped) timer = setTimeout(refresh, REFRESH_MS);
  };
  await refresh();
}

async function perfSection() {
  const answer = await get("/api/v1/perf", { limit: 1000 });
  const records = answer.items;
  const methods = [...new Set(records.map((r) => r.method))].sort();
  const method = select([["", "every method"], ...methods]);
  const charts = h("div", { class: "plots" });
  const draw = () => {
    const chosen = method.value ? [method.value] : methods;
    const series = (value) =>
      chosen.map((m) => ({
        name: m,
        points: records.filter((r) => r.method === m && r[value] !== null).map((r) => [new Date(r.started_at), r[value]]),
      }));
    charts.replaceChildren(
      lineChart("Duration of each call over time", series("duration_s"), "seconds"),
      lineChart("Peak memory of each call over time", series("peak_rss_mb"), "MB resident"),
    );
  };
  method.addEventListener("change", draw);
  draw();
  return section(
    "Methods",
    table("Calls by method (medians)", [
      ["method", "Method"],
      ["calls", "Calls"],
      ["errors", "Errors"],
      ["median_duration_s", "Median seconds"],
      ["median_cpu_s", "Median CPU seconds"],
      ["median_rows_in", "Median rows in"],
      ["max_peak_rss_mb", "Peak MB"],
    ], answer.summary),
    field("Show", method),
    charts,
  );
}

async function showJobs(where, refresh) {
  const jobs = (await get("/api/v1/jobs", { limit: 25 })).items;
  const running = jobs.some((j) => j.status === "queued" || j.status === "running");
  const errors = outcome();
  const progress = (value, job) => {
    const bar = h("progress", { max: "1", value: String(value), "aria-label": `Progress of ${job.id}` });
    return h("span", {}, bar, ` ${Math.round(value * 100)}%`);
  };
  const cancel = (id, job) => {
    if (job.status !== "queued" && job.status !== "running") return "–";
    const control = button("Cancel", () =>
      run(control, errors, async () => {
        await call("POST", `/api/v1/jobs/${encodeURIComponent(id)}/cancel`);
        await refresh();
      }), { class: "danger", "aria-label": `Cancel ${id}` });
    return control;
  };
  where.replaceChildren(
    section(
      `Jobs${running ? " (refreshing)" : ""}`,
      jobs.length
        ? table("Newest jobs", [
          ["id", "Job"],
          ["kind", "Kind"],
          ["status", "Status"],
          ["phase", "Phase"],
          ["progress", "Progress", progress],
          ["created_by", "By"],
          ["created_at", "Created", when],
          ["finished_at", "Finished", when],
          ["error", "Error", (e) => (e ? e.detail : "–")],
          ["cancel", "Cancel", (_, j) => cancel(j.id, j)],
        ], jobs)
        : note("No jobs yet."),
      errors,
    ),
  );
  return running;
}


