// Reports: the stored executive summaries (GET /api/v1/reports), each opening its document
// (GET /api/v1/reports/{id}), and a form that generates one (POST, operators).
import { start, api, Banner, prefs, rangeNs, bytes, esc, time, showError } from "/ui/common.js";

await start("/reports");
const p = await prefs();
const banner = new Banner("reports-state");
const form = document.getElementById("generate");

async function load() {
  try {
    const list = (await api("reports", { query: { limit: 100 } })).reports || [];
    document.getElementById("reports").innerHTML = list.map((r) =>
      `<tr><td><a href="/api/v1/reports/${esc(r.id)}" target="_blank" rel="noopener">${esc(r.id)}</a></td>` +
      `<td>${time(r.from_ns, p.time_zone)} – ${time(r.to_ns, p.time_zone)}</td><td>${esc(r.format)}</td>` +
      `<td>${bytes(r.size)}</td><td>${time(r.created_ns, p.time_zone)}</td><td>${esc(r.origin)}</td>` +
      `<td class="note">${esc(String(r.sha256).slice(0, 16))}…</td></tr>`).join("");
    if (list.length) {
      banner.show("live", `${list.length} stored report${list.length === 1 ? "" : "s"}, newest first.`);
    } else {
      banner.show("empty", "No report stored yet: generate one here, or schedule them with [reports] schedule.");
    }
  } catch (e) {
    banner.show("error", `Cannot read the stored reports: ${e.message}`);
  }
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const to = BigInt(Date.now()) * 1000000n;
  const from = to - rangeNs(form.elements.range.value);
  banner.show("partial", "Generating…");
  try {
    const r = await api("reports", {
      method: "POST",
      body: { from_ns: Number(from), to_ns: Number(to), format: form.elements.format.value },
    });
    await load();
    banner.show("live", `Report ${r.id} generated (${bytes(r.size)}).`);
  } catch (e) {
    showError(banner.el, e);
  }
});

await load();
setInterval(load, Math.max(5, p.refresh_seconds) * 1000);
