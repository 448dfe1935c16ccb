// Overview: rates per worker and in total from the stats stream (once a second), drops by
// reason, ruleset generation, storage, and every component's health from the status route.
import {
  start, api, live, Banner, prefs, setValue, si, bytes, counterMap, TimeChart, esc, time,
} from "/ui/common.js";

await start("/");
const p = await prefs();
const chart = new TimeChart("rate-chart", ["packets/s", "alerts/s"],
  { empty: "No rate yet: rates need two statistics updates one second apart" });
const DROP = /drop|overflow|nombuf|errors|refused|lost/;
let prev = null;

function rates(now, cur, old, dt) {
  const d = (name) => Math.max(0, (cur.get(name) ?? 0) - (old.get(name) ?? 0)) / dt;
  return {
    pps: d("capture.kernel_packets"),
    bps: d("capture.bytes") * 8,
    aps: d("detect.alerts_raised"),
  };
}

function workerRows(workers, old, dt) {
  if (!workers.length) return `<tr><td colspan="5" class="note">No worker reports counters.</td></tr>`;
  return workers.map((w) => {
    const before = old && old.get(w.name);
    const r = before ? rates(0, w.c, before, dt) : null;
    const cell = (v, unit) => (r ? `${si(v)}${unit}` : "–");
    return `<tr data-worker="${esc(w.name)}"><td>${esc(w.name)}</td><td>${cell(r?.pps, "pkt/s")}</td>` +
      `<td>${cell(r?.bps, "bit/s")}</td><td>${cell(r?.aps, "alert/s")}</td>` +
      `<td>${w.c.get("detect.engine_generation") ?? "–"}</td></tr>`;
  }).join("");
}

function dropRows(scopes, old, dt) {
  const rows = [];
  for (const [scope, map] of scopes) {
    for (const [name, value] of map) {
      if (!DROP.test(name) || value === 0) continue;
      const before = old?.get(`${scope}/${name}`);
      const rate = before === undefined ? "–" : `${si((value - before) / dt)}/s`;
      rows.push(`<tr><td>${esc(name)} <span class="note">${scope}</span></td><td>${si(value)}</td><td>${rate}</td></tr>`);
    }
  }
  return rows.length ? rows.join("")
    : `<tr><td colspan="3" class="ok" id="no-drops">No drops counted: every drop, overflow and error counter is zero.</td></tr>`;
}

function onStats(s) {
  const now = performance.now() / 1000;
  const total = counterMap(s.total);
  const cp = counterMap(s.control_plane);
  // Ports report their own counters beside the workers'; the table shows workers.
  const workers = (s.workers || []).filter((w) => !w.worker.startsWith("port:"))
    .map((w) => ({ name: w.worker, c: counterMap(w.counters) }));
  const dt = prev ? now - prev.t : 0;
  setValue("packets-total", total.get("capture.kernel_packets") ?? 0, si(total.get("capture.kernel_packets") ?? 0));
  setValue("alerts-total", total.get("detect.alerts_raised") ?? 0, si(total.get("detect.alerts_raised") ?? 0));
  const gens = workers.map((w) => w.c.get("detect.engine_generation")).filter((g) => g !== undefined);
  if (gens.length) {
    const lo = Math.min(...gens), hi = Math.max(...gens);
    setValue("generation", hi, lo === hi ? String(hi) : `${lo}…${hi} (swapping)`);
  }
  if (cp.has("store.size_bytes")) setValue("storage-used", cp.get("store.size_bytes"), bytes(cp.get("store.size_bytes")));
  if (cp.has("store.alerts_stored")) setValue("alerts-stored", cp.get("store.alerts_stored"), si(cp.get("store.alerts_stored")));
  if (prev && dt > 0.2) {
    const r = rates(now, total, prev.total, dt);
    setValue("pps-total", r.pps, `${si(r.pps)}`);
    setValue("bps-total", r.bps, `${si(r.bps)}`);
    setValue("aps-total", r.aps, `${si(r.aps)}`);
    chart.push(Date.now() / 1000, [r.pps, r.aps]);
  }
  const flat = new Map();
  for (const [scope, m] of [["total", total], ["control plane", cp]]) for (const [k, v] of m) flat.set(`${scope}/${k}`, v);
  document.getElementById("workers").innerHTML =
    workerRows(workers, prev && new Map(prev.workers.map((w) => [w.name, w.c])), dt);
  document.getElementById("drops").innerHTML = dropRows([["total", total], ["control plane", cp]], prev?.flat, dt);
  prev = { t: now, total, workers, flat };
}

const banner = new Banner("stream-state");
live({
  topics: ["stats"], what: "statistics", banner, every: p.refresh_seconds, staleSecs: Math.max(5, 3 * p.refresh_seconds),
  onMessage: (topic, data) => { if (topic === "stats") onStats(data); },
  poll: async () => onStats(await api("stats")),
});

const healthBanner = new Banner("health-state");
async function readStatus() {
  let st;
  try {
    st = await api("status");
  } catch (e) {
    healthBanner.show("error", `Cannot read the appliance's status: ${e.message}`);
    return;
  }
  const health = st.health || [];
  const bad = health.filter((h) => h.state !== "ok");
  if (!health.length) healthBanner.show("missing", "No component reported its health.");
  else if (bad.length) healthBanner.show("error", `Degraded: ${bad.map((h) => h.component).join(", ")}`);
  else healthBanner.show("live", `All ${health.length} components healthy (appliance ${st.state || "running"})`);
  document.getElementById("health").innerHTML = health.map((h) =>
    `<tr data-component="${esc(h.component)}"><td>${esc(h.component)}</td><td class="${h.state === "ok" ? "ok" : "degraded"}">${esc(h.state)}</td>` +
    `<td>${esc(h.reason || "")}</td><td>${h.since_nanos ? time(h.since_nanos, p.time_zone) : "–"}</td></tr>`).join("");
  const horizon = st.retention_max_age_secs
    ? `${Math.round(st.retention_max_age_secs / 3600)} h (records older are deleted)`
    : "no age limit reported: records are kept until the size cap or the free-space floor";
  const oldest = st.oldest_alert_ns ? time(st.oldest_alert_ns, p.time_zone) : "not reported";
  document.getElementById("storage").innerHTML =
    `<tr><th>Path</th><td>${esc(st.storage_path || "–")}</td></tr>` +
    `<tr><th>Alerts stored</th><td>${si(st.alerts_stored ?? 0)}</td></tr>` +
    `<tr><th>Retention horizon</th><td id="retention">${esc(horizon)}</td></tr>` +
    `<tr><th>Oldest alert</th><td>${esc(oldest)}</td></tr>` +
    `<tr><th>Version, uptime</th><td>${esc(st.version || "")}, ${si(st.uptime_secs ?? 0)}s</td></tr>`;
}
readStatus();
setInterval(readStatus, Math.max(2, p.refresh_seconds) * 1000);
