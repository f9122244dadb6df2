// Pictures: the API's plots as images (fetched with the key), and a small line chart drawn here.

import { picture } from "./api.js";
import { fmt, h, uid } from "./ui.js";

/**
 * A figure showing the plot at `path` (an SVG the API draws); where the server has none (404) or
 * refuses, the slot says so in words and the tables beside it carry the numbers.
 * `figure.load(query)` (re)loads it with other parameters, e.g. another threshold.
 */
export function plot(path, query, alt, caption) {
  const slot = h("div", { class: "plot-slot" });
  const figure = h("figure", { class: "plot" }, slot, h("figcaption", {}, caption || alt));
  let shown = null;
  let asked = 0;
  figure.load = async (params) => {
    asked += 1;
    const mine = asked;
    slot.setAttribute("aria-busy", "true");
    try {
      const src = await picture(path, { format: "svg", ...params });
      if (mine !== asked) return URL.revokeObjectURL(src); // a later load won
      const img = h("img", { src, alt, class: "plot-image" });
      const loaded = new URLSearchParams(Object.entries(params || {}).filter(([, v]) => v !== undefined)).toString();
      img.addEventListener("load", () => {
        figure.setAttribute("data-loaded", "true");
        figure.setAttribute("data-query", loaded);
      }, { once: true });
      if (shown) URL.revokeObjectURL(shown);
      shown = src;
      slot.replaceChildren(img);
    } catch (error) {
      if (mine !== asked) return undefined;
      const why = error.status === 404 ? "this server does not draw it" : error.detail;
      slot.replaceChildren(h("p", { class: "plot-missing" }, `Plot unavailable: ${why}.`));
      figure.setAttribute("data-loaded", "false");
    } finally {
      if (mine === asked) slot.removeAttribute("aria-busy");
    }
    return undefined;
  };
  figure.load(query);
  return figure;
}

const COLOURS = ["#1f5fbf", "#b3261e", "#1b6e20", "#7b3fa0", "#8a5a00", "#00697a", "#5f6368", "#c2185b", "#33691e", "#0d47a1"];

/**
 * A line chart of `series` ({name, points: [[time, value], ...]}) as inline SVG, with a title for
 * screen readers and a legend; times are Date values.
 */
export function lineChart(title, series, unit) {
  const width = 640;
  const height = 240;
  const pad = { left: 56, right: 12, top: 12, bottom: 28 };
  const points = series.flatMap((s) => s.points);
  const titleId = uid("chart");
  const svg = h("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-labelledby": titleId,
    class: "chart",
  });
  svg.append(h("title", { id: titleId }, title));
  if (!points.length) return h("figure", { class: "plot" }, svg, h("figcaption", {}, `${title}: no records yet`));
  const xs = points.map((p) => p[0].getTime());
  const ys = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) || 1];
  const y1 = Math.max(...ys) || 1;
  const x = (t) => pad.left + ((t - x0) / (x1 - x0 || 1)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - (v / y1) * (height - pad.top - pad.bottom);
  const axis = "#444";
  svg.append(
    h("line", { x1: pad.left, y1: height - pad.bottom, x2: width - pad.right, y2: height - pad.bottom, stroke: axis }),
    h("line", { x1: pad.left, y1: pad.top, x2: pad.left, y2: height - pad.bottom, stroke: axis }),
    h("text", { x: pad.left - 6, y: pad.top + 10, "text-anchor": "end", "font-size": "12", fill: "#222" }, fmt(y1, 3)),
    h("text", { x: pad.left - 6, y: height - pad.bottom, "text-anchor": "end", "font-size": "12", fill: "#222" }, "0"),
    h("text", { x: pad.left, y: height - 8, "font-size": "12", fill: "#222" }, new Date(x0).toISOString().slice(11, 19)),
    h(
      "text",
      { x: width - pad.right, y: height - 8, "text-anchor": "end", "font-size": "12", fill: "#222" },
      new Date(x1).toISOString().slice(11, 19),
    ),
  );
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const sorted = [...s.points].sort((a, b) => a[0] - b[0]);
    const line = sorted.map((p) => `${x(p[0].getTime()).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    svg.append(h("polyline", { points: line, fill: "none", stroke: colour, "stroke-width": "2" }));
    for (const p of sorted) {
      svg.append(h("circle", { cx: x(p[0].getTime()).toFixed(1), cy: y(p[1]).toFixed(1), r: "3", fill: colour }));
    }
  });
  const legend = h(
    "ul",
    { class: "legend" },
    series.map((s, i) => {
      const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
      swatch.style.background = COLOURS[i % COLOURS.length];
      return h("li", {}, swatch, `${s.name} (${s.points.length})`);
    }),
  );
  return h("figure", { class: "plot" }, svg, legend, h("figcaption", {}, `${title} (${unit})`));
}
