// Settings: the identity's preferences (time zone, refresh period, default range), read and
// written through GET/PUT /api/v1/preferences.
import { start, api, Banner } from "/ui/common.js";

await start("/settings");
const banner = new Banner("prefs-state");
const form = document.getElementById("prefs");
const zones = document.getElementById("zones");
for (const z of (Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [])) {
  const o = document.createElement("option");
  o.value = z;
  zones.append(o);
}

try {
  const p = await api("preferences");
  form.elements.time_zone.value = p.time_zone || "";
  form.elements.refresh_seconds.value = p.refresh_seconds || 5;
  form.elements.default_range.value = p.default_range || "1h";
  banner.show("live", "Your preferences as stored.");
} catch (e) {
  banner.show("error", `Cannot read your preferences: ${e.message}`);
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = {
    time_zone: form.elements.time_zone.value.trim(),
    refresh_seconds: Number(form.elements.refresh_seconds.value),
    default_range: form.elements.default_range.value,
  };
  try {
    await api("preferences", { method: "PUT", body });
    banner.show("live", `Saved at ${new Date().toLocaleTimeString()}.`);
  } catch (e) {
    banner.show("error", e.status === 403 ? `Refused: ${e.message}` : `Not saved: ${e.field ? `${e.field}: ` : ""}${e.message}`);
  }
});
