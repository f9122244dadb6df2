// The console's only way to the data: the REST API of its own origin (/api/v1/...), with the user's key.

const KEY = "crispml.apiKey";
const POLL_MS = 400;

export class ApiError extends Error {
  constructor(status, title, detail, field) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title;
    this.detail = detail || title || `the server answered HTTP ${status}`;
    this.field = field;
  }
}

export const apiKey = () => sessionStorage.getItem(KEY);
export const setApiKey = (key) => sessionStorage.setItem(KEY, key);
export const forgetApiKey = () => sessionStorage.removeItem(KEY);

/** The server an answer came from: the remote one behind `crispml console`, else this page's origin. */
export let server = window.location.origin;

function headers(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

function url(path, query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") params.set(name, value);
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function problem(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (body && typeof body === "object") {
    return new ApiError(response.status, body.title, body.detail || body.error, body.field);
  }
  return new ApiError(response.status, response.statusText, `the server answered HTTP ${response.status}`);
}

/**
 * One API call. `json` is sent as JSON, `form` as multipart, `body` as it is (with `type`).
 * Resolves to the answer's JSON (null for 204); rejects with an ApiError carrying the problem's detail.
 */
export async function call(method, path, { json, form, body, type, query } = {}) {
  const init = { method, headers: headers() };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (form !== undefined) {
    init.body = form;
  } else if (body !== undefined) {
    init.body = body;
    init.headers["Content-Type"] = type;
  }
  let response;
  try {
    response = await fetch(url(path, query), init);
  } catch (error) {
    throw new ApiError(0, "Unreachable", `cannot reach the server: ${error.message}`);
  }
  const from = response.headers.get("x-crispml-server");
  if (from) server = from;
  if (!response.ok) throw await problem(response);
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, query) => call("GET", path, { query });

/**
 * The server's readiness (/readyz: status ready, degraded or unavailable, its checks, the references its
 * fallback answers and why); null when it cannot be read. Public: sent without the key.
 */
export async function readiness() {
  try {
    const response = await fetch("/readyz");
    return response.ok || response.status === 503 ? await response.json() : null;
  } catch {
    return null;
  }
}

/** Every item of a paged list (limit 1000 a page, at most `most`). */
export async function all(path, query = {}, most = 5000) {
  const items = [];
  let offset = 0;
  while (offset !== null && offset !== undefined && items.length < most) {
    const page = await get(path, { ...query, limit: 1000, offset });
    items.push(...page.items);
    offset = page.next;
  }
  return items;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Follow a job the API started (a 202 answer) until it ends, telling `onProgress(job)` each time it
 * is read; resolves to its result, rejects with its error in words (or "cancelled").
 */
export async function follow(job, onProgress = () => {}) {
  let current = job;
  onProgress(current);
  while (current.status === "queued" || current.status === "running") {
    await sleep(POLL_MS);
    current = await get(`/api/v1/jobs/${encodeURIComponent(current.id)}`);
    onProgress(current);
  }
  if (current.status === "succeeded") return current.result;
  const error = current.error || {};
  throw new ApiError(0, error.title || current.status, error.detail || `the job ended ${current.status}`);
}

/** An answer that may be a job (202) or the thing itself: the thing, once the job has made it. */
export async function finished(answer, onProgress) {
  return answer && answer.kind && answer.status && "progress" in answer ? follow(answer, onProgress) : answer;
}

/**
 * A picture from the API as an object URL (fetched with the key, which an <img src> cannot send).
 * Rejects with an ApiError (status 404 when the server has no such plot).
 */
export async function picture(path, query) {
  const response = await fetch(url(path, query), { headers: headers() });
  if (!response.ok) throw await problem(response);
  return URL.createObjectURL(await response.blob());
}

export { url as withQuery };
