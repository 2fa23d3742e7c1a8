// A delivery's error output: its failed records with each one's reason,
// filtered by type and time, and the Redrive button (after a confirmation)
// with its result said in a live region. Uses GET /v1/deliveries/{name}/errors
// and POST /v1/deliveries/{name}/redrive.
import {h, table, num, bytes} from "./dom.js";

const enc = encodeURIComponent;
const types = ["processing-failed", "format-conversion-failed", "s3-failed", "http-endpoint-failed", "elasticsearch-failed",
  "postgres-failed", "iceberg-failed", "file-failed"];

// toRFC3339 turns a datetime-local value (the browser's zone) into RFC 3339.
const toRFC3339 = (v) => (v ? new Date(v).toISOString().replace(/\.\d{3}Z$/, "Z") : "");

export async function errorsPage([name], ctx) {
  const {api, announce} = ctx;
  const section = h("section", {"aria-labelledby": "page-title", "data-title": `Failed records of ${name}`},
    h("h1", {id: "page-title"}, `Failed records of ${name}`),
    h("p", null, h("a", {href: "#/deliveries"}, "All deliveries"),
      " · Records the delivery could not deliver, from its error output, with why each failed."));
  if (!name) return section;

  const type = h("input", {id: "f-type", name: "type", list: "f-types", placeholder: "any"});
  const from = h("input", {id: "f-from", name: "from", type: "datetime-local", step: 1});
  const to = h("input", {id: "f-to", name: "to", type: "datetime-local", step: 1});
  const limit = h("input", {id: "f-limit", name: "limit", type: "number", min: 1, max: 10000, value: 100, inputmode: "numeric"});
  const listing = h("div", {id: "errors-listing", "aria-live": "polite", "aria-busy": "false"});
  const result = h("div", {id: "redrive-result", role: "status", "aria-live": "polite"});

  const query = () => {
    const q = new URLSearchParams();
    if (type.value.trim()) q.set("type", type.value.trim());
    if (from.value) q.set("from", toRFC3339(from.value));
    if (to.value) q.set("to", toRFC3339(to.value));
    if (limit.value) q.set("limit", limit.value);
    return q.toString();
  };

  async function list() {
    listing.setAttribute("aria-busy", "true");
    try {
      const q = query();
      const res = await api(`/v1/deliveries/${enc(name)}/errors${q ? `?${q}` : ""}`);
      const errs = res?.errors || [];
      const rows = errs.map((e) => [
        {node: h("time", {datetime: e.time}, new Date(e.time).toLocaleString("en-GB", {hour12: false}))},
        e.type, {node: h("code", null, e.error_code || "–")},
        {text: e.error_message || "–", class: "reason"},
        {node: h("code", null, e.shard_id || "–")}, {node: h("code", null, e.sequence_number || "–")},
        num(e.attempts_made), e.redrive_state || "–",
        {node: h("code", {title: `${bytes(e.data_size)}`}, e.data_preview || "")},
      ]);
      const t = table(`${errs.length} failed record${errs.length === 1 ? "" : "s"}${res?.truncated ? " (more match: raise the limit or narrow the filter)" : ""}`,
        [{label: "Arrived"}, {label: "Type"}, {label: "Error code"}, {label: "Reason"}, {label: "Shard"}, {label: "Sequence"},
          {label: "Attempts", num: true}, {label: "Redrive"}, {label: "Data (start)"}], rows, "No failed records match.");
      t.id = "errors-table";
      listing.replaceChildren(t);
    } catch (e) {
      const why = e.status === 404 && e.code !== "ResourceNotFoundException" ? `this Hydrant has no error listing (GET /v1/deliveries/{name}/errors: ${e.message})` : e.message;
      listing.replaceChildren(h("p", {class: "message error", role: "alert"}, `Could not list failed records: ${why}`));
      if (e.name === "Unauthorized") throw e;
    } finally {
      listing.setAttribute("aria-busy", "false");
    }
  }

  const filter = h("form", {class: "inline", role: "search", "aria-label": "Filter failed records", onsubmit: (ev) => { ev.preventDefault(); list(); }},
    h("label", {for: "f-type"}, "Error type", type),
    h("datalist", {id: "f-types"}, types.map((t) => h("option", {value: t}))),
    h("label", {for: "f-from"}, "Arrived from", from),
    h("label", {for: "f-to"}, "Arrived before", to),
    h("label", {for: "f-limit"}, "At most", limit),
    h("button", {type: "submit", id: "f-apply"}, "Show"));

  const confirmBox = h("div", {id: "redrive-confirm", class: "card", role: "group", "aria-labelledby": "redrive-q", hidden: true});
  const redriveBtn = h("button", {type: "button", id: "redrive", class: "primary", "aria-expanded": "false", "aria-controls": "redrive-confirm",
    onclick: () => {
      confirmBox.hidden = false;
      redriveBtn.setAttribute("aria-expanded", "true");
      document.getElementById("redrive-go").focus();
    }}, "Redrive…");
  const cancel = () => {
    confirmBox.hidden = true;
    redriveBtn.setAttribute("aria-expanded", "false");
    redriveBtn.focus();
  };
  const go = h("button", {type: "button", id: "redrive-go", class: "danger", onclick: async () => {
    go.disabled = true;
    result.className = "message";
    result.textContent = "Redriving…";
    try {
      const body = {};
      if (type.value.trim()) body.type = type.value.trim();
      if (from.value) body.from = toRFC3339(from.value);
      if (to.value) body.to = toRFC3339(to.value);
      const r = await api(`/v1/deliveries/${enc(name)}/redrive`, {method: "POST", body: JSON.stringify(body),
        headers: {"Content-Type": "application/json"}});
      result.className = r.failed > 0 ? "message error" : "message ok";
      result.textContent = `Redrive done: ${num(r.objects)} error objects, ${num(r.records)} records; ${num(r.delivered)} delivered, ` +
        `${num(r.dropped || 0)} dropped by the transform, ${num(r.failed)} failed again, ${num(r.skipped)} objects skipped (redriven before).`;
      await list();
    } catch (e) {
      result.className = "message error";
      result.textContent = `Redrive failed: ${e.message}`;
    } finally {
      go.disabled = false;
      confirmBox.hidden = true;
      redriveBtn.setAttribute("aria-expanded", "false");
      redriveBtn.focus();
      announce(result.textContent);
    }
  }}, "Redrive now");
  confirmBox.append(
    h("p", {id: "redrive-q"}, `Send the failed records of ${name} that the filter selects (type and time; not the limit) through its current transforms and destination again? `,
      "Records that fail again go to the error output again; objects redriven before are skipped."),
    go, " ", h("button", {type: "button", onclick: cancel}, "Cancel"));

  section.append(filter, listing,
    h("h2", null, "Redrive"), h("p", null, redriveBtn), confirmBox, result);
  await list();
  return section;
}
