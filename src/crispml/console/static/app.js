// The console's shell: who is logged in, the header, the navigation and the page router (#/page?x=y).

import { ApiError, apiKey, forgetApiKey, get, readiness, server, setApiKey } from "./api.js";
import { button, field, h, input, note, outcome, words } from "./ui.js";

/** [id, title, action the page is about]: pages a role may not use say so; users and audit are hidden. */
const PAGES = [
  ["data", "Data pool", "metadata.read"],
  ["ingest", "Ingest", "data.write"],
  ["prepare", "Prepare", "data.write"],
  ["curate", "Curate", "data.write"],
  ["train", "Train", "model.train"],
  ["registry", "Registry", "metadata.read"],
  ["report", "Model report", "model.report"],
  ["scoring", "Scoring", "score"],
  ["labels", "Labels", "label"],
  ["verification", "Verification", "verify"],
  ["monitoring", "Monitoring", "verify"],
  ["estimates", "Estimates", "verify"],
  ["retraining", "Retraining", "retrain.read"],
  ["performance", "Performance", "jobs"],
  ["users", "Users", "users.manage"],
  ["audit", "Audit log", "audit.read"],
];
const HIDDEN_UNLESS_ALLOWED = new Set(["users", "audit"]);

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
let me = null;
let leaving = [];

function can(action) {
  return Boolean(me && me.allowed.includes(action));
}

function parseHash() {
  const [path, query] = window.location.hash.replace(/^#\/?/, "").split("?");
  return { page: path || "data", params: new URLSearchParams(query || "") };
}

function showHeader() {
  const parts = [h("span", { class: "server" }, "Server ", h("strong", {}, server))];
  // The deployment's environment (CRISPML_ENVIRONMENT): who works on prod sees it at a glance.
  if (me.environment) {
    parts.push(h("span", { class: "environment" }, "Environment ",
      h("strong", { class: `env env-${me.environment}`, "data-environment": me.environment }, me.environment)));
  }
  parts.push(h("div", { class: "readiness", id: "readiness", "aria-live": "polite" }));
  parts.push(h("span", { class: "user" }, "User ", h("strong", {}, me.name), " ", h("span", { class: "role" }, me.role)));
  if (apiKey()) parts.push(button("Log out", logout, { class: "secondary" }));
  who.replaceChildren(...parts);
  const links = PAGES.filter(([id, , action]) => !HIDDEN_UNLESS_ALLOWED.has(id) || can(action)).map(([id, title]) =>
    h("li", {}, h("a", { href: `#/${id}`, "data-page": id }, title)),
  );
  nav.replaceChildren(h("ul", {}, links));
  nav.hidden = false;
}

/** The server's /readyz in the header: ready, or degraded with each reference its fallback answers and why. */
async function showReadiness() {
  const found = await readiness();
  const where = document.getElementById("readiness");
  if (!where) return;
  if (!found) {
    where.replaceChildren();
    return;
  }
  const degraded = Object.entries(found.degraded || {});
  const failed = Object.entries(found.checks || {}).filter(([, check]) => !check.ok).map(([name]) => name);
  const status = h("strong", { class: `ready ready-${found.status}`, "data-status": found.status }, found.status);
  const why = degraded.length
    ? h("ul", { class: "degraded" }, degraded.map(([ref, reason]) => h("li", { "data-ref": ref }, `${ref}: ${reason}`)))
    : failed.length ? ` (${failed.join(", ")} failing)` : "";
  where.replaceChildren("Readiness ", status, why);
}

async function route() {
  for (const stop of leaving) stop();
  leaving = [];
  const { page, params } = parseHash();
  const entry = PAGES.find(([id]) => id === page) || PAGES[0];
  const [id, title, action] = entry;
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.page === id) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${title} · crispml console`;
  showReadiness();
  const heading = h("h1", { tabindex: "-1" }, title);
  const body = h("div", { class: "page", "data-page": id });
  main.replaceChildren(heading, body);
  if (HIDDEN_UNLESS_ALLOWED.has(id) && !can(action)) {
    body.append(note(`Your role (${me.role}) may not see this page.`, "warn"));
    body.setAttribute("data-ready", "true");
    return;
  }
  const ctx = {
    me,
    can,
    params,
    go: (hash) => {
      window.location.hash = hash;
    },
    onLeave: (stop) => leaving.push(stop),
    denied: (what) => note(`Your role (${me.role}) may not ${what}; this page is read-only for you.`, "warn"),
  };
  try {
    const module = await import(`./pages/${id}.js`);
    await module.render(body, ctx);
  } catch (error) {
    body.append(note(words(error), "error"));
  }
  body.setAttribute("data-ready", "true");
}

function logout() {
  forgetApiKey();
  me = null;
  start();
}

function showLogin(reason) {
  nav.hidden = true;
  nav.replaceChildren();
  who.replaceChildren(h("span", { class: "server" }, "Server ", h("strong", {}, server)));
  document.title = "Log in · crispml console";
  const key = input({ type: "password", autocomplete: "off", name: "key", required: true, spellcheck: "false" });
  const result = outcome();
  if (reason) result.fail(reason);
  const submit = h("button", { type: "submit" }, "Log in");
  const form = h(
    "form",
    { class: "card login" },
    h("p", {}, "This server asks for an API key (from ", h("code", {}, "crispml users create"), "). ",
      "It is kept in this browser tab only and sent with every request."),
    field("API key", key),
    submit,
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    setApiKey(key.value.trim());
    try {
      me = await get("/api/v1/me");
      enter();
    } catch (error) {
      forgetApiKey();
      result.fail(error);
      key.focus();
    } finally {
      submit.disabled = false;
    }
  });
  main.replaceChildren(h("h1", {}, "Log in"), form);
  main.setAttribute("data-ready", "true");
}

function enter() {
  showHeader();
  if (!window.location.hash) window.location.hash = "#/data";
  else route();
}

async function start() {
  main.removeAttribute("data-ready");
  try {
    me = await get("/api/v1/me");
    enter();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      const hadKey = Boolean(apiKey());
      forgetApiKey();
      showLogin(hadKey ? error : null);
    } else {
      main.replaceChildren(h("h1", {}, "crispml console"), note(words(error), "error"), button("Try again", start));
    }
  }
}

window.addEventListener("hashchange", () => me && route());
start();
