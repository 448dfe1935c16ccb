// Performance: the appliance's own speed over time (per-worker packet rates, total bit rate,
// records stored per second) from the stats stream. Per-service latency needs analytics,
// which this appliance does not have: the page says so instead of drawing nothing.
import { start, api, live, Banner, prefs, counterMap, TimeChart } from "/ui/common.js";

await start("/performance");
const p = await prefs();
let pps = null;
const bps = new TimeChart("bps-chart", ["bits/s"], { empty: "Rates need two statistics updates" });
const store = new TimeChart("store-chart", ["alerts stored/s", "flows stored/s"], { empty: "Rates need two statistics updates" });
let prev = null;

function onStats(s) {
  const now = performance.now() / 1000;
  const total = counterMap(s.total);
  const cp = counterMap(s.control_plane);
  const workers = (s.workers || []).filter((w) => !w.worker.startsWith("port:"))
    .map((w) => [w.worker, counterMap(w.counters)]);
  if (!pps) pps = new TimeChart("pps-chart", workers.map(([n]) => n), { empty: "Rates need two statistics updates" });
  if (prev) {
    const dt = now - prev.t;
    const d = (cur, old, name) => Math.max(0, (cur.get(name) ?? 0) - (old.get(name) ?? 0)) / dt;
    const t = Date.now() / 1000;
    pps.push(t, workers.map(([n, c]) => d(c, prev.workers.get(n) || c, "capture.kernel_packets")));
    bps.push(t, [d(total, prev.total, "capture.bytes") * 8]);
    store.push(t, [d(cp, prev.cp, "store.alerts_stored"), d(cp, prev.cp, "store.flows_stored")]);
  }
  prev = { t: now, total, cp, workers: new Map(workers) };
}

live({
  topics: ["stats"], what: "statistics", banner: new Banner("stream-state"), every: p.refresh_seconds,
  staleSecs: Math.max(5, 3 * p.refresh_seconds),
  onMessage: (topic, data) => { if (topic === "stats") onStats(data); },
  poll: async () => onStats(await api("stats")),
});
