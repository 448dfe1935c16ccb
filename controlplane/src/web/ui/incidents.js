// Incidents: the queue by priority (score), one incident's timeline and its workflow
// actions (PATCH). Says so plainly when `[incidents]` is switched off.
import { start, api, live, Banner, prefs, esc, time, notEnabled, showError } from "/ui/common.js";

await start("/incidents");
const p = await prefs();
const banner = new Banner("stream-state");
const form = document.getElementById("filters");
const OPEN = ["new", "acknowledged", "investigating", "contained"];
let current = null;

async function load() {
  const state = form.elements.state.value;
  const query = { address: form.elements.address.value.trim(), by_score: true, page_size: 100 };
  if (state) query.states = state === "open" ? OPEN.join(",") : state;
  let page;
  try {
    page = await api("incidents", { query });
  } catch (e) {
    if (notEnabled(e)) {
      banner.show("disabled", `${e.message}: set [incidents] enabled = true to group alerts into incidents.`);
      document.getElementById("queue").innerHTML = "";
      return false;
    }
    banner.show("error", `Cannot read incidents: ${e.message}`);
    return false;
  }
  const items = page.items || [];
  items.sort((a, b) => b.score - a.score);
  document.getElementById("queue").innerHTML = items.length ? items.map((i) =>
    `<tr class="clickable" data-id="${i.id}"><td>${i.score.toFixed(1)}</td><td>${esc(i.title)}</td><td>${esc(i.state)}</td>` +
    `<td>${i.alerts}</td><td>${time(i.last_ns, p.time_zone)}</td><td>${esc(i.assignee || "–")}</td></tr>`).join("")
    : `<tr><td colspan="6" class="note">No incident in this state: nothing needs someone right now.</td></tr>`;
  return true;
}

async function open(id) {
  let d;
  try {
    d = await api(`incidents/${id}`);
  } catch (e) {
    showError(document.getElementById("workflow-state"), e);
    return;
  }
  current = id;
  const i = d.incident;
  document.getElementById("incident-empty").hidden = true;
  document.getElementById("incident").hidden = false;
  document.getElementById("incident-title").textContent = `#${i.id} ${i.title}`;
  document.getElementById("incident-facts").innerHTML =
    `<p>State <b id="incident-state">${esc(i.state)}</b> since ${time(i.state_since_ns, p.time_zone)}; ` +
    `score ${i.score.toFixed(1)}; ${i.alerts} alerts; hosts ${esc((i.hosts || []).join(", "))}` +
    `${i.kill_chain ? "; <b class=\"bad\">kill-chain progression</b>" : ""}</p>` +
    `<p class="note">${(i.explanation || []).map((c) => `${esc(c.factor)} +${c.points.toFixed(1)}`).join(" · ")}</p>`;
  document.getElementById("incident-assignee").textContent = i.assignee || "nobody";
  document.getElementById("incident-notes").innerHTML = (i.notes || []).map((n) =>
    `<li>${time(n.time_ns, p.time_zone)} ${esc(n.who)}: <span class="note-text">${esc(n.text)}</span></li>`).join("");
  document.getElementById("timeline").innerHTML = (d.timeline || []).map((m) =>
    `<tr><td>${time(m.timestamp_ns, p.time_zone)}</td><td>${esc(m.msg || m.kind)} <span class="note">${esc(m.src_ip)} → ${esc(m.dest_ip)}</span></td>` +
    `<td>${esc(m.tactic_name || "")}</td></tr>`).join("") || `<tr><td colspan="3" class="note">No member kept.</td></tr>`;
}

document.getElementById("queue").addEventListener("click", (ev) => {
  const tr = ev.target.closest("tr[data-id]");
  if (tr) open(tr.dataset.id);
});
document.getElementById("workflow").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  const out = document.getElementById("workflow-state");
  const body = {};
  const done = [];
  if (f.state.value) { body.state = f.state.value; done.push(`is now ${body.state}`); }
  if (f.assignee.value.trim()) { body.assignee = f.assignee.value.trim(); done.push(`is assigned to ${body.assignee}`); }
  if (f.note.value.trim()) { body.note = f.note.value.trim(); done.push("has a new note"); }
  if (!done.length) {
    out.hidden = false; out.dataset.state = "missing"; out.textContent = "Nothing to change: choose a state, an assignee or a note.";
    return;
  }
  try {
    await api(`incidents/${current}`, { method: "PATCH", body });
    out.hidden = false; out.dataset.state = "live"; out.textContent = `Incident #${current} ${done.join(", ")}.`;
    f.state.value = ""; f.assignee.value = ""; f.note.value = "";
    await open(current);
    await load();
  } catch (e) {
    showError(out, e);
  }
});
form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });

if (await load()) {
  live({
    topics: ["incidents"], what: "incident changes", banner, every: p.refresh_seconds, staleSecs: 3600,
    onMessage: (topic, data) => {
      if (topic !== "incident") return;
      load();
      if (current && String(data.id) === String(current)) open(current);
    },
    poll: load,
  });
}
