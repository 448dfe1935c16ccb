// Threat intelligence: feeds and their health, indicator counts, hits over time, the
// indicators hit most and the newest hits, each opening what relates to it (campaigns,
// malware, other indicators, its hosts' alerts and flows: GET intel/hits/{id}/related), from
// the intel routes; new hits arrive on the stream.
import { start, api, live, Banner, prefs, setValue, si, esc, time, TimeChart, notEnabled, showError } from "/ui/common.js";

await start("/intel");
const p = await prefs();
const banner = new Banner("stream-state");
const chart = new TimeChart("hits-chart", ["hits per minute"],
  { empty: "No indicator has been hit: no traffic matched a listed indicator" });

function feedHealth(f) {
  if (f.last_error) return `<span class="bad">${esc(f.last_error)}</span>`;
  if (!f.last_ok_ns) return `<span class="warn">never read</span>`;
  if (f.poll_secs && Date.now() * 1e6 - f.last_ok_ns > 3 * f.poll_secs * 1e9) return `<span class="warn">late: not read for ${Math.round((Date.now() * 1e6 - f.last_ok_ns) / 1e9)} s</span>`;
  return `<span class="ok">ok</span>`;
}

async function loadFeeds() {
  const [feeds, stats] = await Promise.all([api("intel/feeds"), api("intel/stats")]);
  const list = feeds.items || feeds.feeds || [];
  setValue("feeds-count", list.length, String(list.length));
  const ic = stats.indicators || {};
  setValue("active", ic.active ?? 0, si(ic.active ?? 0));
  setValue("expired", (ic.expired ?? 0) + (ic.revoked ?? 0), `${si(ic.expired ?? 0)} / ${si(ic.revoked ?? 0)}`);
  setValue("hits-stored", stats.hits_stored ?? 0, si(stats.hits_stored ?? 0));
  setValue("intel-generation", stats.generation ?? 0, String(stats.generation ?? 0));
  document.getElementById("feeds").innerHTML = list.length ? list.map((f) =>
    `<tr><td>${esc(f.name)}<div class="note">${esc(f.location)}</div></td><td>${esc(f.kind)}</td>` +
    `<td>${time(f.last_ok_ns, p.time_zone)}</td><td>${feedHealth(f)}</td><td>${si(f.objects)}</td>` +
    `<td>${si(f.indicators?.active ?? 0)}</td><td>${si(f.hits)}</td></tr>`).join("")
    : `<tr><td colspan="7" class="note">No feed configured: add [[intel.feeds]] or import a bundle with osprey ctl intel import.</td></tr>`;
  return list.length;
}

async function loadHits() {
  const page = await api("intel/hits", { query: { page_size: 1000 } });
  const hits = page.items || [];
  const buckets = new Map();
  const byIndicator = new Map();
  for (const h of hits) {
    const minute = Math.floor(Number(BigInt(h.ts_nanos) / 1000000000n) / 60) * 60;
    buckets.set(minute, (buckets.get(minute) || 0) + 1);
    const cur = byIndicator.get(h.indicator_id) || { n: 0, feed: h.feed, pattern: h.pattern, value: h.matched_value };
    cur.n += 1;
    byIndicator.set(h.indicator_id, cur);
  }
  const times = [...buckets.keys()].sort((a, b) => a - b);
  document.getElementById("hits-title").textContent = `Hits over time (newest ${hits.length})`;
  if (times.length >= 2) chart.set(times, [times.map((t) => buckets.get(t))]);
  else chart.showEmpty(hits.length ? `All ${hits.length} hits fall in one minute` : undefined);
  document.getElementById("recent").innerHTML = hits.length ? hits.slice(0, 20).map((h) =>
    `<tr class="clickable" data-hit="${h.id}"><td>${time(h.ts_nanos, p.time_zone)}</td><td>${esc(h.pattern || h.indicator_id)}</td>` +
    `<td>${esc(h.matched_field)} ${esc(h.matched_value)}</td><td>${esc(h.src_ip)} → ${esc(h.dest_ip)}</td><td>${esc(h.feed)}</td></tr>`).join("")
    : `<tr><td colspan="5" class="note">No hits stored.</td></tr>`;
  const top = [...byIndicator.entries()].sort((a, b) => b[1].n - a[1].n).slice(0, 15);
  document.getElementById("top").innerHTML = top.length ? top.map(([id, t]) =>
    `<tr><td>${esc(t.pattern || id)}</td><td>${esc(t.feed)}</td><td>${t.n}</td><td>${esc(t.value)}</td></tr>`).join("")
    : `<tr><td colspan="4" class="note">No hits stored.</td></tr>`;
}

/// What relates to hit `id`, shown beside the list.
async function related(id) {
  const state = document.getElementById("related-state");
  for (const tr of document.querySelectorAll("#recent tr.selected")) tr.classList.remove("selected");
  document.querySelector(`#recent tr[data-hit="${id}"]`)?.classList.add("selected");
  let r;
  try {
    r = await api(`intel/hits/${id}/related`, { query: { window_secs: 3600, limit: 50 } });
  } catch (e) {
    showError(state, e);
    return;
  }
  state.hidden = true;
  document.getElementById("related-empty").hidden = true;
  const box = document.getElementById("related");
  box.hidden = false;
  box.dataset.hit = String(id);
  const h = r.hit || {};
  document.getElementById("related-title").textContent = `Hit #${h.id}: ${h.matched_value || h.indicator_id}`;
  const objects = r.objects || [];
  document.getElementById("related-objects").innerHTML = objects.length ? objects.map((o) =>
    `<tr data-type="${esc(o.type)}"><td>${esc(o.type)}</td><td class="related-name">${esc(o.name || o.id)}</td><td>${esc(o.external_id || "")}</td></tr>`).join("")
    : `<tr><td colspan="3" class="note">Its indicator relates to no campaign, malware or other object in the feeds.</td></tr>`;
  const mins = Math.round(Number(r.window_ns || 0) / 6e10);
  document.getElementById("related-counts").textContent =
    `Within ${mins} min of it, its hosts raised ${(r.alerts || []).length} alerts, ${(r.flows || []).length} flows and ${(r.hits || []).length} other hits.`;
  const inds = r.indicators || [];
  document.getElementById("related-indicators").innerHTML = inds.length ? inds.map((i) =>
    `<tr><td>${esc(i.pattern)}</td><td>${esc(i.feed)}</td><td>${esc((i.via || []).join(", "))}</td></tr>`).join("")
    : `<tr><td colspan="3" class="note">No other indicator relates to the same objects.</td></tr>`;
}

document.getElementById("recent").addEventListener("click", (ev) => {
  const tr = ev.target.closest("tr[data-hit]");
  if (tr) related(tr.dataset.hit);
});

async function load() {
  await loadFeeds();
  await loadHits();
}

/// Without any feed there is nothing to match: say so, and look again every 30 s.
async function begin() {
  let feeds;
  try {
    feeds = await loadFeeds();
    await loadHits();
  } catch (e) {
    if (notEnabled(e)) banner.show("disabled", `${e.message}: configure [intel] feeds to see indicators and hits.`);
    else banner.show("error", `Cannot read threat intelligence: ${e.message}`);
    return;
  }
  if (!feeds) {
    banner.show("missing", "No threat intelligence feed is configured: no traffic is matched against indicators. " +
      "Add [[intel.feeds]] to the configuration or import a bundle with osprey ctl intel import.");
    setTimeout(begin, 30000);
    return;
  }
  live({
    topics: ["intel_hits"], what: "intel hits", banner, every: Math.max(10, p.refresh_seconds), staleSecs: 3600,
    onMessage: (topic) => { if (topic === "intel_hit") loadHits(); },
    poll: load,
  });
}
begin();
