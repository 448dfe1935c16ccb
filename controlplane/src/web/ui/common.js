// What every console page shares: the REST client (session cookie, CSRF header, the error
// shape), the navigation bar, state banners, the live stream with its polling fallback,
// preferences, formatting and time charts.

export const PAGES = [
  ["/", "Overview"], ["/network", "Network"], ["/alerts", "Alerts"], ["/incidents", "Incidents"],
  ["/intel", "Threat intel"], ["/performance", "Performance"], ["/rules", "Rules"],
  ["/reports", "Reports"], ["/settings", "Settings"],
];

/// A refusal from the REST API: `{"error":{"code","message","field"}}` and its HTTP status.
export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "internal";
    this.field = error.field || "";
  }
}

/// True when the error says the capability is switched off (404 failed_precondition).
export function notEnabled(err) {
  return err instanceof ApiError && err.status === 404 && err.code === "failed_precondition";
}

/// JSON with 64-bit integers kept exact: a number beyond 2^53 (nanosecond times, ids) is
/// kept as its decimal text, which BigInt() and the API's paths take as they are.
export function parseJson(text) {
  return JSON.parse(text, (key, value, ctx) =>
    (typeof value === "number" && !Number.isSafeInteger(value) && Number.isInteger(value) && ctx && ctx.source
      ? ctx.source : value));
}

let sessionPromise = null;
export function session() {
  sessionPromise ??= api("session");
  return sessionPromise;
}

/// Calls `/api/v1/<path>`; mutating calls carry the session's CSRF token. A lost session
/// goes back to the login page.
export async function api(path, { method = "GET", body, query } = {}) {
  const url = new URL(`/api/v1/${path}`, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["X-CSRF-Token"] = (await session()).csrf_token;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(url, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try { data = text ? parseJson(text) : null; } catch { data = null; }
  if (res.status === 401 && path !== "session") {
    location.href = "/login";
  }
  if (!res.ok) {
    throw new ApiError(res.status, (data && data.error) || { message: text || res.statusText });
  }
  return data;
}

/// A state banner: live, polling, stale, partial, missing, disabled or error, always in words.
export class Banner {
  constructor(id) { this.el = document.getElementById(id); }
  show(state, text) {
    this.el.dataset.state = state;
    this.el.textContent = text;
    this.el.hidden = false;
  }
  hide() { this.el.hidden = true; this.el.dataset.state = ""; }
}

/// Draws the navigation bar, then returns the session; a viewer sees mutating controls
/// (`data-mutating`) disabled.
export async function start(active) {
  const nav = document.createElement("nav");
  nav.className = "top";
  nav.innerHTML = `<span class="brand">Osprey</span>` + PAGES.map(([href, name]) =>
    `<a href="${href}"${href === active ? ' class="active"' : ""}>${name}</a>`).join("") +
    `<span class="who"><span id="identity"></span><button id="logout" type="button">Sign out</button></span>`;
  document.body.prepend(nav);
  document.getElementById("logout").addEventListener("click", async () => {
    const token = (await session()).csrf_token;
    await fetch("/logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": token } })
      .catch(() => null);
    location.href = "/login";
  });
  const s = await session();
  document.getElementById("identity").textContent = `${s.identity} (${s.role})`;
  document.body.dataset.role = s.role;
  if (s.role === "viewer") {
    for (const el of document.querySelectorAll("[data-mutating]")) {
      el.disabled = true;
      el.title = "The viewer role may look but not change anything";
    }
  }
  return s;
}

const DEFAULT_PREFS = { time_zone: "local", refresh_seconds: 5, default_range: "1h" };
let prefsPromise = null;
/// The identity's preferences, with defaults for what it has not set.
export function prefs() {
  prefsPromise ??= api("preferences").then((p) => ({ ...DEFAULT_PREFS, ...(p || {}) }),
    () => ({ ...DEFAULT_PREFS }));
  return prefsPromise;
}

/// `1h`, `24h`, `7d`, `all` as nanoseconds (0 for all).
export function rangeNs(range) {
  const m = /^(\d+)([mhd])$/.exec(range || "");
  if (!m) return 0;
  const unit = { m: 60, h: 3600, d: 86400 }[m[2]];
  return BigInt(m[1]) * BigInt(unit) * 1000000000n;
}

/// The live stream: `topics` over the WebSocket, each frame handed to `onMessage(topic, data)`.
/// When the stream cannot be had, `poll()` runs every `every` seconds instead and the banner
/// says so; the stream is tried again every 15 s. A page with no update for `staleSecs` is
/// marked stale.
export function live({ topics, filter = {}, onMessage, poll, every = 5, banner, staleSecs = 10, what }) {
  let last = 0;
  let mode = "connecting";
  let timer = null;
  let missed = 0;
  const fresh = () => { last = Date.now(); };
  const say = () => {
    const age = last ? Math.round((Date.now() - last) / 1000) : null;
    if (last && age > staleSecs) {
      banner.show("stale", `Stale: no update of ${what} for ${age} s (${mode === "live" ? "stream open but silent" : "polling"})`);
    } else if (mode === "live") {
      banner.show("live", `Live: ${what} streamed` + (missed ? ` (${missed} events missed by this page)` : ""));
    } else if (mode === "polling") {
      banner.show("polling", `Live stream unavailable: polling every ${every} s`);
    } else if (!last) {
      banner.show("missing", `Waiting for the first ${what}…`);
    }
  };
  const startPolling = () => {
    if (timer || !poll) return;
    const tick = async () => {
      try { await poll(); fresh(); } catch (e) { banner.show("error", `Cannot read ${what}: ${e.message}`); return; }
      say();
    };
    tick();
    timer = setInterval(tick, every * 1000);
  };
  const connect = () => {
    const q = new URLSearchParams({ topics: topics.join(",") });
    for (const [k, v] of Object.entries(filter)) if (v) q.set(k, v);
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try { ws = new WebSocket(`${proto}//${location.host}/api/v1/stream?${q}`); } catch { ws = null; }
    if (!ws) { mode = "polling"; startPolling(); return; }
    ws.onopen = () => {
      mode = "live";
      if (timer) { clearInterval(timer); timer = null; }
      say();
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = parseJson(ev.data); } catch { return; }
      if (msg.topic === "missed") { missed += msg.data.count; say(); return; }
      if (msg.topic === "error") { banner.show("error", `The stream could not read ${what}: ${msg.data.message}`); return; }
      fresh();
      onMessage(msg.topic, msg.data);
      if (mode === "live") say();
    };
    ws.onclose = () => {
      mode = "polling";
      startPolling();
      say();
      setTimeout(connect, 15000);
    };
  };
  connect();
  setInterval(say, 1000);
  return { fresh };
}

export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/// 1234567 → "1.23 M" (the unit added by the caller).
export function si(n, digits = 3) {
  const v = Number(n);
  if (!Number.isFinite(v)) return "–";
  const abs = Math.abs(v);
  for (const [div, p] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (abs >= div) return `${(v / div).toPrecision(digits)} ${p}`;
  }
  return `${Number.isInteger(v) ? v : v.toPrecision(digits)} `;
}

export function bytes(n) {
  const v = Number(n);
  for (const [div, p] of [[2 ** 40, "TiB"], [2 ** 30, "GiB"], [2 ** 20, "MiB"], [2 ** 10, "KiB"]]) {
    if (v >= div) return `${(v / div).toFixed(1)} ${p}`;
  }
  return `${v} B`;
}

/// A nanosecond time in the identity's time zone.
export function time(ns, tz) {
  if (!ns) return "–";
  const d = new Date(Number(BigInt(ns) / 1000000n));
  try {
    return d.toLocaleString("sv-SE", { timeZone: tz && tz !== "local" ? tz : undefined, hour12: false });
  } catch {
    return d.toISOString();
  }
}

/// Sets a value element's text and its raw number (`data-value`, read by the tests).
export function setValue(id, raw, text) {
  const el = document.getElementById(id);
  if (!el) return;
  el.dataset.value = String(raw);
  el.textContent = text;
}

/// Counters `[{name, value}]` as a Map.
export function counterMap(list) {
  return new Map((list || []).map((c) => [c.name, Number(c.value)]));
}

/// A time chart (uPlot) that keeps its last `keep` points and says in words when empty.
export class TimeChart {
  constructor(id, series, { keep = 300, empty = "No data yet" } = {}) {
    this.el = document.getElementById(id);
    this.keep = keep;
    this.empty = empty;
    this.data = [[], ...series.map(() => [])];
    this.series = series;
    this.plot = null;
    this.showEmpty();
  }
  showEmpty(text) {
    this.el.className = "chart-empty";
    this.el.textContent = text || this.empty;
    if (this.plot) { this.plot.destroy(); this.plot = null; }
  }
  /// Replaces all points: `times` in seconds, one array per series.
  set(times, columns) {
    this.data = [times, ...columns];
    this.draw();
  }
  push(tSecs, values) {
    this.data[0].push(tSecs);
    values.forEach((v, i) => this.data[i + 1].push(v));
    if (this.data[0].length > this.keep) this.data.forEach((a) => a.shift());
    this.draw();
  }
  draw() {
    this.el.dataset.points = String(this.data[0].length); // read by the browser tests
    if (this.data[0].length < 2) { this.showEmpty(); return; }
    if (!this.plot) {
      this.el.className = "chart";
      this.el.textContent = "";
      const colors = ["#1f5fbf", "#c62828", "#2e7d32", "#b26a00", "#6a1b9a"];
      this.plot = new window.uPlot({
        width: Math.max(300, this.el.clientWidth || 600), height: 220,
        series: [{}, ...this.series.map((label, i) => ({ label, stroke: colors[i % colors.length], width: 2 }))],
        axes: [{}, { size: 70, values: (u, vals) => vals.map((v) => si(v, 2)) }],
      }, this.data, this.el);
    } else {
      this.plot.setData(this.data);
    }
  }
}

/// Shows a refusal or failure in an element, with the API's own message.
export function showError(el, err) {
  el.hidden = false;
  el.dataset.state = "error";
  el.textContent = err instanceof ApiError && err.status === 403
    ? `Refused: ${err.message}`
    : `Failed: ${err.message}`;
}
