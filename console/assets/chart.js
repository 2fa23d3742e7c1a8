// Line charts as inline SVG, each with a text summary (latest and max) that
// labels it for screen readers and a visually hidden table of its latest
// points. data-points, data-nonzero, data-latest and data-max carry the same
// numbers for tests.
import {h, num, clock} from "./dom.js";

let seq = 0;
const tablePoints = 20; // points in the hidden table: the latest ones

// chart draws values (one per time, null for none) against times (unix ms).
// fmt formats a value with its unit ("12 records/s").
export function chart(title, times, values, fmt) {
  const id = `chart-${++seq}`;
  const pts = [];
  values.forEach((v, i) => { if (v !== null && v !== undefined) pts.push([times[i], v]); });
  const max = pts.reduce((m, p) => Math.max(m, p[1]), 0);
  const latest = pts.length ? pts[pts.length - 1][1] : null;
  const nonzero = pts.filter((p) => p[1] > 0).length;
  const span = times.length > 1 ? Math.round((times[times.length - 1] - times[0]) / 60000) : 0;
  const summary = pts.length
    ? `Latest ${fmt(latest)}, max ${fmt(max)} over the last ${span || "<1"} min (${pts.length} points).`
    : "No points yet.";

  const W = 300, H = 100;
  const t0 = times[0] || 0, t1 = times[times.length - 1] || 1;
  const x = (t) => (t1 > t0 ? ((t - t0) / (t1 - t0)) * W : W);
  const y = (v) => H - (max > 0 ? (v / max) * (H - 6) : 0) - 1;
  let line = "", area = "", run = [];
  const flush = () => {
    if (!run.length) return;
    line += run.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
    area += `M${x(run[0][0]).toFixed(1)},${H}` + run.map((p) => `L${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("") +
      `L${x(run[run.length - 1][0]).toFixed(1)},${H}Z`;
    run = [];
  };
  values.forEach((v, i) => { if (v === null || v === undefined) flush(); else run.push([times[i], v]); });
  flush();

  const svg = h("svg", {viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img",
    "aria-labelledby": `${id}-t ${id}-s`, "data-points": pts.length, "data-nonzero": nonzero,
    "data-latest": latest ?? "", "data-max": max},
  [25, 50, 75].map((g) => h("line", {class: "grid", x1: 0, x2: W, y1: g, y2: g})),
  area && h("path", {class: "area", d: area}),
  line && h("path", {class: "line", d: line}));

  const last = pts.slice(-tablePoints);
  // In a hidden box: a table is never narrower than its content.
  const data = h("div", {class: "visually-hidden"}, h("table", null,
    h("caption", null, `${title}: the latest ${last.length} points`),
    h("thead", null, h("tr", null, h("th", {scope: "col"}, "Time"), h("th", {scope: "col"}, "Value"))),
    h("tbody", null, last.map((p) => h("tr", null, h("td", null, clock(p[0])), h("td", null, fmt(p[1])))))));

  return h("figure", {class: "chart", id},
    h("figcaption", {id: `${id}-t`}, title),
    h("p", {class: "summary", id: `${id}-s`}, summary),
    svg,
    h("p", {class: "axis muted", "aria-hidden": "true"}, times.length ? `${clock(t0)} – ${clock(t1)}, 0 – ${num(max)}` : ""),
    data);
}
