// Threat intelligence: feeds and their health, indicator counts, hits over time and the
// indicators hit most, from the intel routes; new hits arrive on the stream.
import { start, api, live, Banner, prefs, setValue, si, esc, time, TimeChart, notEnabled } from "/ui/common.js";

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
  const top = [...byIndicator.entries()].sort((a, b) => b[1].n - a[1].n).slice(0, 15);
  document.getElementById("top").innerHTML = top.length ? top.map(([id, t]) =>
    `<tr><td>${esc(t.pattern || id)}</td><td>${esc(t.feed)}</td><td>${t.n}</td><td>${esc(t.value)}</td></tr>`).join("")
    : `<tr><td colspan="4" class="note">No hits stored.</td></tr>`;
}

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
