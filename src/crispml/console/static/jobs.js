// A long action as a person sees it: a progress bar fed by polling the job, and a cancel button.

import { call, finished } from "./api.js";
import { button, h, progressBar } from "./ui.js";

/**
 * Start `start()` (an API call answering a job or the thing itself) and follow it in `where` with a
 * progress bar and a Cancel button; resolves to the result. The page stays usable meanwhile.
 */
export async function withProgress(where, label, start) {
  const bar = progressBar(label);
  let jobId = null;
  const cancel = button("Cancel", async () => {
    if (!jobId) return;
    cancel.disabled = true;
    await call("POST", `/api/v1/jobs/${encodeURIComponent(jobId)}/cancel`).catch(() => {});
  }, { class: "danger", hidden: true });
  where.replaceChildren(h("div", { class: "job" }, bar, cancel));
  bar.set(0, "sending");
  try {
    const answer = await start();
    const result = await finished(answer, (job) => {
      jobId = job.id;
      cancel.hidden = !(job.status === "queued" || job.status === "running");
      const percent = Math.round((job.progress || 0) * 100);
      bar.set(job.progress || 0, `${job.status}${job.phase ? ` · ${job.phase}` : ""} · ${percent}%`);
    });
    bar.set(1, "done");
    return result;
  } finally {
    cancel.hidden = true;
  }
}
