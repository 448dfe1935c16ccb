// Rules: list and search the stored ruleset, enable or disable a rule, add and validate rule
// text (errors with their line and column), and reload, showing the generation that the
// workers confirmed as proof.
import { start, api, Banner, prefs, esc, time, showError } from "/ui/common.js";

const session = await start("/rules");
const p = await prefs();
const viewer = session.role === "viewer";
const state = new Banner("ruleset-state");
const action = document.getElementById("action-state");
const form = document.getElementById("filters");
const more = document.getElementById("more");
let next = "";

async function ruleset() {
  try {
    const st = await api("rules/status");
    const last = (st.history || [])[0];
    document.getElementById("ruleset").innerHTML =
      `Generation <b id="active-generation" data-value="${st.active_generation}">${st.active_generation}</b> running; ` +
      `${st.rules_enabled} of ${st.rules_total} rules enabled` +
      (last ? `; last reload ${time(last.time_ns, p.time_zone)} by ${esc(last.who)}` : "");
    if (last && st.pending_hash && st.pending_hash !== last.ruleset_hash) state.show("polling", "Changes are waiting for a reload: the workers still run the previous ruleset.");
    else state.show("live", "The workers run the stored ruleset.");
  } catch (e) {
    state.show("error", `Cannot read the ruleset's status: ${e.message}`);
  }
}

function row(r) {
  const id = `${r.gid}/${r.sid}`;
  const toggle = r.enabled ? "disable" : "enable";
  return `<tr data-rule="${r.gid}:${r.sid}"><td>${r.gid}:${r.sid}:${r.rev}</td><td>${esc(r.msg)}</td><td>${esc(r.classtype)}</td>` +
    `<td class="${r.enabled ? "ok" : "warn"}" data-enabled="${r.enabled}">${r.enabled ? "enabled" : "disabled"}</td>` +
    `<td><button type="button" class="secondary" data-act="${toggle}" data-id="${id}"${viewer ? " disabled title=\"The viewer role may look but not change anything\"" : ""}>${toggle}</button></td></tr>`;
}

async function list(append = false) {
  const query = { query: form.elements.query.value.trim(), enabled: form.elements.enabled.value, page_size: 100 };
  if (append) query.page_token = next;
  try {
    const page = await api("rules", { query });
    const html = (page.items || []).map(row).join("");
    const body = document.getElementById("rules");
    body.innerHTML = append ? body.innerHTML + html : html || `<tr><td colspan="5" class="note">No rule matches.</td></tr>`;
    next = page.next_page_token || "";
    more.hidden = !next;
  } catch (e) {
    showError(action, e);
  }
}

document.getElementById("rules").addEventListener("click", async (ev) => {
  const b = ev.target.closest("button[data-act]");
  if (!b) return;
  try {
    await api(`rules/${b.dataset.id}/${b.dataset.act}`, { method: "POST" });
    action.hidden = false; action.dataset.state = "live";
    action.textContent = `Rule ${b.dataset.id.replace("/", ":")} ${b.dataset.act}d; reload to apply it to the workers.`;
    await list();
    await ruleset();
  } catch (e) {
    showError(action, e);
  }
});

document.getElementById("reload").addEventListener("click", async () => {
  const proof = document.getElementById("reload-proof");
  proof.textContent = "Compiling and swapping…";
  try {
    const r = await api("rules/reload", { method: "POST" });
    proof.innerHTML = `Generation <b id="reload-generation">${r.generation}</b> confirmed by every worker: ` +
      `${r.rules_loaded} rules loaded, ${r.rules_failed} failed, ruleset ${esc(r.ruleset_hash)}, ` +
      `compiled in ${(r.compile_us / 1000).toFixed(1)} ms, swapped in ${(r.swap_us / 1000).toFixed(1)} ms.` +
      ((r.failures || []).length ? `<ul class="errors">${r.failures.map((d) => `<li>sid ${d.sid}: ${esc(d.message)}</li>`).join("")}</ul>` : "");
    await ruleset();
    await list();
  } catch (e) {
    proof.textContent = "";
    showError(action, e);
  }
});

function diagnostics(list) {
  return `<ul class="errors">${list.map((d) =>
    `<li data-line="${d.line}" data-column="${d.column}">line ${d.line}, column ${d.column}: ${esc(d.message)}</li>`).join("")}</ul>`;
}

document.getElementById("validate").addEventListener("click", async () => {
  const out = document.getElementById("validation");
  try {
    const v = await api("rules/validate", { method: "POST", body: { text: document.getElementById("text").value } });
    out.innerHTML = v.valid
      ? `<p class="ok" id="valid">Valid: ${v.rules} rule${v.rules === 1 ? "" : "s"}.</p>`
      : `<p class="bad">Not valid:</p>${diagnostics(v.diagnostics || [])}`;
  } catch (e) {
    out.innerHTML = `<p class="bad">${esc(e.message)}</p>`;
  }
});

document.getElementById("add").addEventListener("click", async () => {
  const out = document.getElementById("validation");
  try {
    const r = await api("rules", { method: "POST", body: { text: document.getElementById("text").value } });
    const added = r.added || r.items || [];
    out.innerHTML = `<p class="ok">Added ${added.length} rule${added.length === 1 ? "" : "s"}; reload to run them.</p>`;
    await list();
    await ruleset();
  } catch (e) {
    out.innerHTML = `<p class="bad">${esc(e.field ? `${e.field}: ` : "")}${esc(e.message)}</p>`;
  }
});

more.addEventListener("click", () => list(true));
form.addEventListener("submit", (ev) => { ev.preventDefault(); list(); });
await ruleset();
await list();
setInterval(ruleset, Math.max(5, p.refresh_seconds) * 1000);
