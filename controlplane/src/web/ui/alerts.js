// Alerts: a searchable table over the store (GET /api/v1/alerts), a timeline of what the
// search found, live additions from the alert stream, and each alert's details: its flow,
// transaction (from its EVE record), payload excerpt and the evidence route.
import {
  start, api, live, Banner, prefs, rangeNs, si, bytes, esc, time, TimeChart,
} from "/ui/common.js";

await start("/alerts");
const p = await prefs();
const form = document.getElementById("filters");
const queryState = new Banner("query-state");
const chart = new TimeChart("timeline", ["alerts"],
  { empty: "No alerts match: the timeline is empty because the search found nothing" });
const rows = document.getElementById("rows");
const more = document.getElementById("more");
let items = [];
let next = "";

const params = new URLSearchParams(location.search);
// The identity's default range, unless the address names one.
if (!params.has("range") && [...form.elements.range.options].some((o) => o.value === p.default_range)) {
  form.elements.range.value = p.default_range;
}
for (const k of ["range", "sid", "address", "tactic"]) if (params.has(k)) form.elements[k].value = params.get(k);

function filters() {
  const q = {
    sid: form.elements.sid.value.trim(), address: form.elements.address.value.trim(),
    tactic: form.elements.tactic.value.trim(), page_size: 200,
  };
  const span = rangeNs(form.elements.range.value);
  if (span) q.from_ns = String(BigInt(Date.now()) * 1000000n - span);
  return q;
}

const sev = (s) => `<span class="pill sev${s}">${s}</span>`;
function row(a) {
  return `<tr class="clickable" data-id="${a.timestamp_ns}-${a.id}"><td>${time(a.timestamp_ns, p.time_zone)}</td><td>${sev(a.severity)}</td>` +
    `<td>${esc(a.msg)} <span class="note">${a.gid}:${a.sid}</span></td><td>${esc(a.src_ip)}:${a.src_port}</td>` +
    `<td>${esc(a.dest_ip)}:${a.dest_port}</td><td>${esc(a.tactic_name || "")}</td></tr>`;
}

function render() {
  rows.innerHTML = items.length ? items.map(row).join("")
    : `<tr><td colspan="6" class="note" id="no-alerts">No stored alert matches this search.</td></tr>`;
  more.hidden = !next;
  // Buckets of a width that gives about 60 of them over what is shown (one second at least).
  const secs = items.map((a) => Number(BigInt(a.timestamp_ns) / 1000000000n));
  const width = secs.length ? Math.max(1, Math.ceil((Math.max(...secs) - Math.min(...secs)) / 60)) : 1;
  const buckets = new Map();
  for (const t of secs) {
    const b = Math.floor(t / width) * width;
    buckets.set(b, (buckets.get(b) || 0) + 1);
  }
  const times = [...buckets.keys()].sort((x, y) => x - y);
  document.getElementById("timeline-title").textContent =
    `Timeline of the ${items.length} alerts shown, per ${width} s` + (next ? " (older ones not yet loaded)" : "");
  if (times.length < 2) chart.showEmpty(items.length ? `All ${items.length} alerts shown fall in one second` : undefined);
  else chart.set(times, [times.map((t) => buckets.get(t))]);
}

async function search(append = false) {
  const q = filters();
  if (append) q.page_token = next;
  try {
    const page = await api("alerts", { query: q });
    items = append ? items.concat(page.items) : page.items;
    next = page.next_page_token || "";
    queryState.hide();
  } catch (e) {
    queryState.show("error", e.field ? `${e.field}: ${e.message}` : `Search failed: ${e.message}`);
    return;
  }
  render();
}

async function details(id) {
  for (const tr of rows.querySelectorAll("tr.selected")) tr.classList.remove("selected");
  rows.querySelector(`tr[data-id="${id}"]`)?.classList.add("selected");
  const body = document.getElementById("details-body");
  let a;
  try {
    a = await api(`alerts/${id}`);
  } catch (e) {
    body.hidden = false;
    body.innerHTML = `<p class="bad">Cannot read alert ${esc(id)}: ${esc(e.message)}</p>`;
    return;
  }
  document.getElementById("details-empty").hidden = true;
  let eve = {};
  try { eve = JSON.parse(a.eve_json || "{}"); } catch { eve = {}; }
  const tx = ["http", "dns", "tls", "websocket", "smtp", "email"].filter((k) => eve[k]).map((k) => `<h3>${k}</h3><pre>${esc(JSON.stringify(eve[k], null, 2))}</pre>`).join("")
    || `<p class="note">No transaction recorded for this alert (a packet or stream match).</p>`;
  body.hidden = false;
  body.innerHTML =
    `<h3 id="detail-msg">${esc(a.msg)}</h3>` +
    `<table><tbody>` +
    `<tr><th>Signature</th><td>${a.gid}:${a.sid}:${a.rev} (${esc(a.category)})</td></tr>` +
    `<tr><th>Action</th><td>${esc(a.action)}</td></tr>` +
    `<tr><th>Time</th><td>${time(a.timestamp_ns, p.time_zone)}</td></tr>` +
    `<tr><th>Tactic</th><td>${esc(a.tactic_id)} ${esc(a.tactic_name)} ${esc(a.technique_id)} ${esc(a.technique_name)}</td></tr>` +
    `<tr><th>Worker, generation</th><td>${esc(a.worker)}, ${a.ruleset_generation}</td></tr>` +
    `</tbody></table>` +
    `<h3>Flow ${a.flow_id}</h3><div id="detail-flow" class="note">Looking for the flow record…</div>` +
    `<h3>Transaction</h3>${tx}` +
    `<h3>Payload excerpt</h3><pre id="detail-payload">${esc(hexdump(a.payload))}</pre>` +
    `<h3>Evidence</h3><p><a id="detail-evidence" href="/api/v1/evidence?flow_id=${a.flow_id}">Evidence items of flow ${a.flow_id}</a>` +
    ` <span class="note">(captured packets and records, when an incident collected them)</span></p>`;
  flowOf(a);
}

async function flowOf(a) {
  const el = document.getElementById("detail-flow");
  try {
    const page = await api("flows", { query: { address: a.src_ip, from_ns: a.timestamp_ns, page_size: 200 } });
    const f = page.items.find((x) => String(x.flow_id) === String(a.flow_id));
    el.innerHTML = f
      ? `${esc(f.src_ip)}:${f.src_port} → ${esc(f.dest_ip)}:${f.dest_port} ${esc(f.app_proto)}, ` +
        `${si(f.pkts_toserver + f.pkts_toclient)} packets, ${bytes(f.bytes_toserver + f.bytes_toclient)}, ` +
        `${esc(f.state)} (${esc(f.reason)})`
      : "The flow has not ended yet or its record was not stored: it is written when the flow ends.";
  } catch (e) {
    el.textContent = `Cannot read the flow: ${e.message}`;
  }
}

/// The first 256 bytes of a base64 payload as hex and ASCII.
function hexdump(b64) {
  if (!b64) return "No payload recorded.";
  let raw;
  try { raw = atob(b64); } catch { return "Payload not readable."; }
  const lines = [];
  for (let off = 0; off < Math.min(raw.length, 256); off += 16) {
    const chunk = raw.slice(off, off + 16);
    const hex = [...chunk].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join(" ");
    const ascii = [...chunk].map((c) => (c >= " " && c <= "~" ? c : ".")).join("");
    lines.push(`${off.toString(16).padStart(4, "0")}  ${hex.padEnd(48)}  ${ascii}`);
  }
  if (raw.length > 256) lines.push(`… ${raw.length - 256} more bytes`);
  return lines.join("\n");
}

rows.addEventListener("click", (ev) => {
  const tr = ev.target.closest("tr[data-id]");
  if (tr) details(tr.dataset.id);
});
more.addEventListener("click", () => search(true));
form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = new URLSearchParams();
  for (const k of ["range", "sid", "address", "tactic"]) if (form.elements[k].value) q.set(k, form.elements[k].value);
  history.replaceState(null, "", `?${q}`);
  search();
});

await search();

// Live alerts are batched: the table is redrawn at most once a second however fast they come.
const pending = [];
setInterval(() => {
  if (!pending.length) return;
  items = pending.splice(0).reverse().concat(items).slice(0, 500);
  const selected = rows.querySelector("tr.selected")?.dataset.id;
  render();
  if (selected) rows.querySelector(`tr[data-id="${selected}"]`)?.classList.add("selected");
}, 1000);
const f = filters();
const tactic = f.tactic.toLowerCase();
live({
  topics: ["alerts"], what: "alerts", banner: new Banner("stream-state"), every: p.refresh_seconds,
  staleSecs: 60, filter: { sid: f.sid, address: f.address },
  onMessage: (topic, a) => {
    if (topic !== "alert") return;
    if (tactic && ![a.tactic_id, a.tactic_name].some((t) => (t || "").toLowerCase() === tactic)) return;
    if (f.from_ns && BigInt(a.timestamp_ns) < BigInt(f.from_ns)) return;
    pending.push(a);
    if (pending.length > 500) pending.shift();
  },
  poll: () => search(),
});
