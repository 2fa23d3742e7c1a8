// Small DOM and formatting helpers. Text always goes in through textContent:
// stream names, error messages and record previews come from outside.

// h builds an element: h("td", {class: "num"}, "12", child, …). Attributes
// starting with "on" are listeners; null and false attributes are left out.
export function h(tag, attrs, ...children) {
  const svg = ["svg", "path", "line", "rect", "g", "text", "title"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// table builds a table with a caption, column headers (scope=col) and rows;
// a column spec is {label, num} and a cell a string, a Node or {text, class}.
export function table(caption, cols, rows, empty) {
  const head = h("tr", null, cols.map((c) => h("th", {scope: "col", class: c.num ? "num" : null}, c.label)));
  const body = rows.length ? rows.map((r) => h("tr", null, r.map((cell, i) => {
    const attrs = {class: cols[i].num ? "num" : null};
    if (cell && typeof cell === "object" && !(cell instanceof Node)) {
      return h(i === 0 && cols[0].rowHeader ? "th" : "td", {...attrs, class: [attrs.class, cell.class].filter(Boolean).join(" ") || null,
        scope: i === 0 && cols[0].rowHeader ? "row" : null}, cell.node || cell.text);
    }
    return h(i === 0 && cols[0].rowHeader ? "th" : "td", {...attrs, scope: i === 0 && cols[0].rowHeader ? "row" : null}, cell);
  }))) : [h("tr", null, h("td", {colspan: cols.length, class: "muted"}, empty || "None."))];
  return h("table", null, h("caption", null, caption), h("thead", null, head), h("tbody", null, body));
}

const units = ["B", "KiB", "MiB", "GiB", "TiB"];

// bytes formats a byte count: 1536 → "1.5 KiB".
export function bytes(n) {
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

// num formats a number with at most 3 significant decimals: 0.5, 12, 1,234.
export function num(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  const abs = Math.abs(n);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return n.toLocaleString("en-US", {maximumFractionDigits: digits});
}

// ago says how long before now a time (ISO string or ms) was: "4 s ago".
export function ago(t, now = Date.now()) {
  if (!t) return "never";
  const s = Math.max(0, (now - (typeof t === "number" ? t : Date.parse(t))) / 1000);
  return `${duration(s)} ago`;
}

// duration formats seconds: 42 s, 3 min 5 s, 2 h 10 min.
export function duration(s) {
  if (s < 60) return `${num(s < 10 ? Math.round(s * 10) / 10 : Math.round(s))} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

// clock formats a time as HH:MM:SS in the browser's zone.
export function clock(t) {
  return new Date(t).toLocaleTimeString("en-GB", {hour12: false});
}
