// Small DOM helpers shared by the pages: elements, labelled fields, tables, notes, progress and errors.

let counter = 0;

/** A new element: h("button", {class: "x", onclick: f}, "text", child, ...). */
export function h(tag, props = {}, ...children) {
  const svg = ["svg", "path", "line", "polyline", "circle", "text", "g", "rect", "title"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "text") el.textContent = value;
    else if (name === "value" && !svg) el.value = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function uid(prefix = "f") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A labelled control: the label names it for assistive technology; `help` is described-by text. */
export function field(label, control, help) {
  if (!control.id) control.id = uid();
  const parts = [h("label", { for: control.id }, label), control];
  if (help) {
    const helpId = uid("help");
    control.setAttribute("aria-describedby", helpId);
    parts.push(h("small", { id: helpId, class: "help" }, help));
  }
  return h("div", { class: "field" }, parts);
}

export function input(props = {}) {
  return h("input", { type: "text", ...props });
}

export function select(options, props = {}) {
  const el = h("select", props);
  setOptions(el, options, props.value);
  return el;
}

/** Replace a select's options; each option is a value or [value, text]. */
export function setOptions(el, options, chosen) {
  el.replaceChildren(
    ...options.map((o) => {
      const [value, text] = Array.isArray(o) ? o : [o, o];
      return h("option", { value, selected: String(value) === String(chosen) }, text);
    }),
  );
}

export function button(text, onclick, props = {}) {
  return h("button", { type: "button", onclick, ...props }, text);
}

export function section(title, ...children) {
  const id = uid("s");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), children);
}

/** A number as people read it: integers with separators, fractions to `digits` significant places. */
export function fmt(value, digits = 4) {
  if (value === null || value === undefined || value === "") return "–";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return Number(value.toPrecision(digits)).toString();
}

export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace("T", " ").slice(0, 19);
}

/**
 * A table with a caption; columns are [key, label, format?] where format(value, row) gives text or a node.
 * Wrapped in a scrolling box so a wide table never widens a narrow page.
 */
export function table(caption, columns, rows, props = {}) {
  const head = h("tr", {}, columns.map(([key, label]) => h("th", { scope: "col", "data-key": key }, label)));
  const body = rows.map((row) =>
    h(
      "tr",
      {},
      columns.map(([key, , format], i) => {
        const value = format ? format(row[key], row) : fmt(row[key]);
        return i === 0 ? h("th", { scope: "row" }, value) : h("td", { "data-key": key }, value);
      }),
    ),
  );
  const el = h("table", props, h("caption", {}, caption), h("thead", {}, head), h("tbody", {}, body));
  return h("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": caption }, el);
}

export function note(text, kind = "info") {
  return h("p", { class: `note ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** The words of an error, for a person: the API's problem detail, or what went wrong on the way. */
export function words(error) {
  if (error && error.status === 403) return `Not allowed for your role: ${error.detail}`;
  if (error && error.detail) return error.detail;
  return error && error.message ? error.message : String(error);
}

/** An area beside a control where its outcome (an error in words, or a result) appears. */
export function outcome() {
  const el = h("div", { class: "outcome", "aria-live": "polite" });
  el.show = (...children) => el.replaceChildren(...children.flat());
  el.fail = (error) => el.replaceChildren(note(words(error), "error"));
  el.clear = () => el.replaceChildren();
  return el;
}

/**
 * Run `action` from `control` (a button or form): the control is disabled while it runs, and an error
 * appears in words in `where`; the page stays usable meanwhile.
 */
export async function run(control, where, action) {
  control.disabled = true;
  control.setAttribute("aria-busy", "true");
  where.show(h("p", { class: "working", role: "status" }, "Working…"));
  try {
    const result = await action();
    if (where.querySelector(".working")) where.clear();
    return result;
  } catch (error) {
    where.fail(error);
    return undefined;
  } finally {
    control.disabled = false;
    control.removeAttribute("aria-busy");
  }
}

/** A labelled progress bar: set(fraction, text). */
export function progressBar(label) {
  const id = uid("p");
  const bar = h("progress", { id, max: "1", value: "0" });
  const text = h("span", { class: "progress-text" }, "starting");
  const el = h("div", { class: "progress" }, h("label", { for: id }, label), bar, text);
  el.set = (fraction, words) => {
    bar.value = fraction;
    text.textContent = words;
  };
  return el;
}

/** Frames as a compact text: [1,2,3,5] -> "1-3, 5". */
export function frames(list) {
  if (!list || !list.length) return "–";
  const runs = [];
  let start = list[0];
  let prev = list[0];
  for (const f of list.slice(1).concat([null])) {
    if (f !== prev + 1) {
      runs.push(start === prev ? `${start}` : `${start}-${prev}`);
      start = f;
    }
    prev = f;
  }
  return runs.join(", ");
}
