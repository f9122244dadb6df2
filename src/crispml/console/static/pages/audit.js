// Audit log: events newest first, filtered by principal, action and resource; the hash chain checked.

import { get } from "../api.js";
import { button, field, fmt, h, input, note, outcome, run, section, table, when } from "../ui.js";

const PAGE = 50;

export async function render(page) {
  const principal = input({ name: "principal" });
  const action = input({ name: "action", placeholder: "alias.* or alias.set" });
  const resource = input({ name: "resource", placeholder: "model:fraud/*" });
  const errors = outcome();
  const events = h("div");
  const filter = h("button", { type: "submit" }, "Filter");
  const form = h("form", {}, h("div", { class: "row" }, field("Principal", principal), field("Action", action), field("Resource", resource), filter), errors);
  const load = async () => {
    const query = { principal: principal.value.trim(), action: action.value.trim(), resource: resource.value.trim(), limit: PAGE };
    const answer = await get("/api/v1/audit", query);
    events.replaceChildren(
      table(`Audit events: newest ${answer.items.length} of ${fmt(answer.total)}`, [
        ["seq", "Seq"],
        ["at", "At", when],
        ["environment", "Environment"],
        ["principal", "Principal"],
        ["action", "Action"],
        ["resource", "Resource"],
        ["request_id", "Request"],
      ], answer.items),
    );
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(filter, errors, load);
  });
  const checked = outcome();
  const verify = button("Check the hash chain", () =>
    run(verify, checked, async () => {
      const answer = await get("/api/v1/audit/verification");
      checked.show(note(`The chain is intact: ${fmt(answer.checked)} events checked.`, "ok"));
    }), { class: "secondary" });
  page.append(section("Events", form, events), section("Integrity", verify, checked));
  await run(filter, errors, load);
}
