// Network map: hosts and conversations from GET /api/v1/network/graph, drawn with cytoscape;
// refreshed every refresh period (the map is an aggregate of stored records, not a stream).
import { start, api, Banner, prefs, rangeNs, si, bytes, esc, notEnabled } from "/ui/common.js";

await start("/network");
const p = await prefs();
const banner = new Banner("graph-state");
const form = document.getElementById("filters");
const params = new URLSearchParams(location.search);
// The identity's default range, unless the address names one.
if (!params.has("range") && [...form.elements.range.options].some((o) => o.value === p.default_range)) {
  form.elements.range.value = p.default_range;
}
for (const k of ["range", "group", "host"]) if (params.has(k)) form.elements[k].value = params.get(k);
let cy = null;
let lastOk = 0;

const severityColour = (sev) => ["#90a4ae", "#b71c1c", "#e53935", "#ef6c00", "#f9a825"][Math.min(sev, 4)];

function query() {
  const range = form.elements.range.value;
  const q = { group: form.elements.group.value, host: form.elements.host.value.trim() };
  const span = rangeNs(range);
  if (span) {
    const now = BigInt(Date.now()) * 1000000n;
    q.from = String(now - span);
  }
  return q;
}

function draw(g) {
  const maxBytes = Math.max(1, ...g.nodes.map((n) => n.bytes));
  const maxEdge = Math.max(1, ...g.edges.map((e) => e.bytes));
  const elements = [
    ...g.nodes.map((n) => ({ data: {
      id: n.id, label: n.group === "internal" || n.group === "external" ? n.id : `${n.id}\n${n.group}`,
      size: 18 + 42 * Math.sqrt(n.bytes / maxBytes), colour: n.internal ? "#1f5fbf" : "#78909c",
      border: n.alerts ? severityColour(n.worst_severity) : "#ffffff",
    } })),
    ...g.edges.map((e) => ({ data: {
      id: e.id, source: e.source, target: e.target,
      width: 1 + 9 * Math.sqrt(e.bytes / maxEdge),
      colour: e.alerts ? severityColour(e.worst_severity) : "#b0bec5",
    } })),
  ];
  if (cy) cy.destroy();
  cy = window.cytoscape({
    container: document.getElementById("graph"), elements, maxZoom: 1.2,
    style: [
      { selector: "node", style: { "background-color": "data(colour)", width: "data(size)", height: "data(size)",
        label: "data(label)", "font-size": 10, "text-wrap": "wrap", "border-width": 3, "border-color": "data(border)" } },
      { selector: "edge", style: { width: "data(width)", "line-color": "data(colour)", "curve-style": "bezier" } },
    ],
    layout: { name: "cose", animate: false, randomize: false, nodeRepulsion: () => 8000 },
  });
  cy.on("tap", "node", (ev) => { form.elements.host.value = ev.target.id(); load(); });
  document.getElementById("graph").dataset.nodes = String(g.nodes.length);
  document.getElementById("graph").dataset.edges = String(g.edges.length);
  document.getElementById("edges").innerHTML = g.edges.slice(0, 20).map((e) =>
    `<tr><td>${esc(e.source)} ↔ ${esc(e.target)}</td><td>${bytes(e.bytes)}</td><td>${si(e.flows)}</td>` +
    `<td>${e.alerts ? `<span class="pill sev${e.worst_severity}">${si(e.alerts)}</span>` : "0"}</td></tr>`).join("");
}

async function load() {
  let g;
  try {
    g = await api("network/graph", { query: query() });
  } catch (e) {
    if (notEnabled(e)) banner.show("disabled", e.message);
    else banner.show("error", `Cannot read the map: ${e.message}` + (lastOk ? " (showing the last map read)" : ""));
    return;
  }
  lastOk = Date.now();
  draw(g);
  if (!g.nodes.length) {
    banner.show("missing", "No flows or alerts stored in this range: nothing to draw. Widen the range or clear the host filter.");
  } else if (!g.complete || g.edges_dropped) {
    banner.show("partial", `Partial map: ${g.nodes.length} hosts from the newest ${si(g.flows_read)} flows and ${si(g.alerts_read)} alerts` +
      (g.edges_dropped ? `; ${si(g.edges_dropped)} smaller conversations left out` : "") + `. Updated ${new Date().toLocaleTimeString()}.`);
  } else {
    banner.show("live", `${g.nodes.length} hosts, ${g.edges.length} conversations from ${si(g.flows_read)} flows and ${si(g.alerts_read)} alerts; refreshed every ${p.refresh_seconds} s.`);
  }
}

form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = new URLSearchParams();
  for (const k of ["range", "group", "host"]) if (form.elements[k].value) q.set(k, form.elements[k].value);
  history.replaceState(null, "", `?${q}`);
  load();
});
load();
setInterval(() => {
  if (lastOk && Date.now() - lastOk > 3 * p.refresh_seconds * 1000) {
    banner.show("stale", `Stale: the map has not been read for ${Math.round((Date.now() - lastOk) / 1000)} s`);
  }
  load();
}, Math.max(2, p.refresh_seconds) * 1000);
