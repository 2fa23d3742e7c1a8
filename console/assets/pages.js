// The console's pages: streams, one stream, deliveries, cluster. Each
// render returns a <section> for <main>; its data-title names the page.
import {h, table, bytes, num, ago, duration} from "./dom.js";
import {chart} from "./chart.js";
import {errorsPage} from "./errors.js";

const perSec = (unit) => (v) => `${num(v)} ${unit}/s`;
const bytesPerSec = (v) => `${bytes(v)}/s`;
const enc = encodeURIComponent;

// latest is the newest point of a series (null: none).
function latest(vals) {
  for (let i = (vals || []).length - 1; i >= 0; i--) if (vals[i] !== null) return vals[i];
  return null;
}

async function load(api, withHistory, query = "") {
  const [status, hist] = await Promise.all([api("/v1/status"),
    withHistory ? api(`/v1/console/history${query}`) : Promise.resolve(null)]);
  document.getElementById("nav-cluster").hidden = !status.cluster;
  return {status, hist};
}

function page(title, ...children) {
  const s = h("section", {"aria-labelledby": "page-title", "data-title": title}, h("h1", {id: "page-title"}, title), ...children);
  return s;
}

function streamCharts(name, times, series, what) {
  return h("div", {class: "charts"},
    chart(`${name}: ${what} bytes per second`, times, series.bytes_per_second, bytesPerSec),
    chart(`${name}: records per second`, times, series.records_per_second, perSec("records")),
    chart(`${name}: throttled records per second`, times, series.throttled_per_second, perSec("records")));
}

async function streams(_, {api}) {
  const {status, hist} = await load(api, true);
  const byName = Object.fromEntries((hist?.streams || []).map((s) => [s.name, s]));
  const rows = status.streams.map((s) => {
    const hs = byName[s.name] || {};
    return [
      {node: h("a", {href: `#/streams/${enc(s.name)}`}, s.name)},
      s.status, s.capacity,
      {text: `${s.open_shards} open${s.shards.length > s.open_shards ? `, ${s.shards.length - s.open_shards} closed` : ""}`},
      {text: latest(hs.records_per_second) === null ? "–" : perSec("records")(latest(hs.records_per_second))},
      {text: latest(hs.bytes_per_second) === null ? "–" : bytesPerSec(latest(hs.bytes_per_second))},
      {text: latest(hs.throttled_per_second) === null ? "–" : perSec("records")(latest(hs.throttled_per_second)),
        class: latest(hs.throttled_per_second) > 0 ? "warn" : null},
      duration(s.retention_seconds),
    ];
  });
  const list = table("Streams", [{label: "Stream", rowHeader: true}, {label: "Status"}, {label: "Capacity"}, {label: "Shards"},
    {label: "Write rate", num: true}, {label: "Bytes in", num: true}, {label: "Throttled", num: true}, {label: "Retention"}], rows,
  "No streams.");
  list.id = "streams-table";
  const charts = status.streams.filter((s) => byName[s.name]).map((s) =>
    h("section", {"aria-labelledby": `charts-${s.name}`},
      h("h2", {id: `charts-${s.name}`}, `${s.name}: the last hour`),
      streamCharts(s.name, hist.times, byName[s.name], "incoming")));
  return page("Streams", list, charts);
}

async function stream([name], {api}) {
  const {status, hist} = await load(api, true, `?stream=${enc(name)}`);
  const s = status.streams.find((x) => x.name === name);
  if (!s) return page(`Stream ${name}`, h("p", {class: "message error", role: "alert"}, `No stream named ${name}.`));
  const hs = (hist.streams || [])[0];
  const hShards = Object.fromEntries((hs?.shards || []).map((x) => [x.shard_id, x]));
  const children = {};
  for (const sh of s.shards) for (const p of sh.parent_shard_ids || []) (children[p] ||= []).push(sh.shard_id);
  const rows = s.shards.map((sh) => [
    {node: h("code", null, sh.shard_id)}, {text: sh.state, class: sh.state === "open" ? "good" : "muted"},
    (sh.parent_shard_ids || []).join(", ") || "–", (children[sh.shard_id] || []).join(", ") || "–",
    num(sh.records_total), {text: latest(hShards[sh.shard_id]?.records_per_second) === null ? "–" : perSec("records")(latest(hShards[sh.shard_id].records_per_second))},
    bytes(sh.bytes)]);
  const shardTable = table(`Shards of ${name} and their lineage`, [{label: "Shard", rowHeader: true}, {label: "State"},
    {label: "Parents"}, {label: "Children"}, {label: "Records stored", num: true}, {label: "Write rate", num: true},
    {label: "Kept", num: true}], rows);
  shardTable.id = "shards-table";
  const shardCharts = s.shards.filter((sh) => hShards[sh.shard_id]).map((sh) =>
    h("section", {"aria-labelledby": `shard-${sh.shard_id}`},
      h("h3", {id: `shard-${sh.shard_id}`}, `${sh.shard_id} (${sh.state})`),
      h("div", {class: "charts"},
        chart(`${sh.shard_id}: records per second`, hist.times, hShards[sh.shard_id].records_per_second, perSec("records")),
        chart(`${sh.shard_id}: throttled records per second`, hist.times, hShards[sh.shard_id].throttled_per_second, perSec("records")),
        chart(`${sh.shard_id}: log growth, bytes per second`, hist.times, hShards[sh.shard_id].bytes_per_second, bytesPerSec))));
  return page(`Stream ${name}`,
    h("p", null, h("a", {href: "#/streams"}, "All streams"), ` · ${s.status}, ${s.capacity}, ${s.open_shards} open shards, retention ${duration(s.retention_seconds)}`),
    hs ? streamCharts(name, hist.times, hs, "incoming") : h("p", {class: "muted"}, "No history yet."),
    h("h2", null, "Shards"), shardTable,
    h("h2", null, "Per shard, the last hour"), shardCharts);
}

// retriesInHour adds up a delivery's retries over the history held.
function retriesInHour(h, interval) {
  if (!h || !h.retries_per_second) return "–";
  return num(Math.round(h.retries_per_second.reduce((s, v) => s + (v || 0), 0) * (interval || 0)));
}

async function deliveries(_, {api}) {
  const {status, hist} = await load(api, true);
  const byName = Object.fromEntries((hist?.deliveries || []).map((d) => [d.name, d]));
  const rows = status.deliveries.map((d) => [
    {node: h("a", {href: `#/errors/${enc(d.name)}`, "aria-label": `${d.name}: failed records`}, d.name)},
    d.source,
    {text: d.lag_records < 0 ? "unknown" : num(d.lag_records), class: d.lag_records > 0 ? "warn" : null},
    {text: d.lag_seconds > 0 ? duration(d.lag_seconds) : "0 s", class: d.lag_seconds > 60 ? "bad" : null},
    ago(d.last_flush),
    num(d.delivered_records),
    {text: num(d.error_output_records), class: d.error_output_records > 0 ? "bad" : null},
    {text: retriesInHour(byName[d.name], hist?.interval_seconds), class: retriesInHour(byName[d.name], hist?.interval_seconds) !== "0" ? "warn" : null},
    {text: d.last_error ? `${d.last_error} (${ago(d.last_error_at)})` : "–", class: d.last_error ? "reason bad" : null},
    d.destination_connected ? "yes" : {text: "waiting", class: "warn"},
  ]);
  const list = table("Deliveries: lag is the records stored and not yet delivered; freshness the age of the oldest of them",
    [{label: "Delivery", rowHeader: true}, {label: "Source"}, {label: "Lag (records)", num: true}, {label: "Freshness", num: true},
      {label: "Last flush"}, {label: "Delivered", num: true}, {label: "Error output", num: true},
      {label: "Retries (last hour)", num: true}, {label: "Last error"},
      {label: "Destination reached"}], rows, "No deliveries.");
  list.id = "deliveries-table";
  const charts = status.deliveries.filter((d) => byName[d.name]).map((d) =>
    h("section", {"aria-labelledby": `lag-${d.name}`},
      h("h2", {id: `lag-${d.name}`}, `${d.name}: lag, the last hour`),
      h("p", null, h("a", {href: `#/errors/${enc(d.name)}`}, `Failed records of ${d.name}`)),
      h("div", {class: "charts"},
        chart(`${d.name}: freshness (age of the oldest undelivered record)`, hist.times, byName[d.name].lag_seconds, (v) => duration(v)),
        chart(`${d.name}: records not yet delivered`, hist.times, byName[d.name].lag_records, (v) => `${num(v)} records`),
        chart(`${d.name}: retries per second`, hist.times, byName[d.name].retries_per_second, perSec("retries")))));
  return page("Deliveries", list, charts);
}

async function cluster(_, {api}) {
  const {status} = await load(api, false);
  const c = status.cluster;
  if (!c) return page("Cluster", h("p", null, "This Hydrant runs alone (no storage.nats): there is no cluster to show."));
  const nodes = table(`Nodes (this is ${c.node}; leases last ${duration(c.lease_ttl_seconds)})`,
    [{label: "Node", rowHeader: true}, {label: "Instance"}, {label: "Listen"}, {label: "Started"}, {label: "Leases", num: true}],
    c.nodes.map((n) => [n.name, {node: h("code", null, n.instance)}, n.listen, ago(n.started), num(n.leases)]), "No live nodes.");
  const owners = [];
  for (const d of status.deliveries) for (const sh of d.shards) owners.push([d.name, {node: h("code", null, sh.shard_id)},
    sh.owner ? sh.owner : {text: "nobody", class: "warn"}]);
  for (const a of status.analytics || []) owners.push([`${a.name} (SQL)`, "–", a.owner || {text: "nobody", class: "warn"}]);
  const leases = table("Lease owners", [{label: "Delivery", rowHeader: true}, {label: "Shard"}, {label: "Owner"}], owners, "No leases.");
  return page("Cluster", nodes, leases);
}

export const pages = {
  streams: {render: (args, ctx) => (args.length ? stream(args, ctx) : streams(args, ctx))},
  deliveries: {render: deliveries},
  errors: {render: errorsPage, static: true},
  cluster: {render: cluster},
};
